//! The events queue against moto's SQS: CloudTrail-shaped EventBridge
//! events, burst coalescing, delete-after-record, poison messages.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use driftd::events::sqs::Consumer;
use driftd::events::{example_event, EventsSettings};
use serde_json::json;

use crate::moto::{client_options, Moto, REGION};

pub(crate) async fn sqs(moto: &Moto) -> aws_sdk_sqs::Client {
    let sdk = driftd::aws::client::sdk_config(&moto.target(), &client_options()).await;
    aws_sdk_sqs::Client::new(&sdk)
}

pub(crate) async fn queue(c: &aws_sdk_sqs::Client, name: &str, max_receives: u32) -> String {
    let dlq = c
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let dlq_arn = c
        .get_queue_attributes()
        .queue_url(dlq.queue_url().unwrap())
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    c.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

fn settings(moto: &Moto, url: &str) -> EventsSettings {
    EventsSettings {
        queue_url: url.into(),
        region: REGION.into(),
        endpoint_url: Some(moto.url.clone()),
        max_receives: 3,
        wait_seconds: 1,
        batch_window: std::time::Duration::from_secs(180),
        poison_backoff: std::time::Duration::from_secs(30),
    }
}

pub(crate) async fn visible(c: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let a = c
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let a = a.attributes().unwrap();
    a[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse::<u64>()
        .unwrap()
        + a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .parse::<u64>()
            .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_events_for_10_resources_is_10_rescans_and_deleted_after_recording() {
    let moto = Moto::start();
    let c = sqs(&moto).await;
    let url = queue(&c, "driftd-events", 3).await;
    let ids: Vec<String> = (0..10).map(|i| format!("sg-0000000000000{i:03}")).collect();
    for chunk in 0..100 {
        let mut req = c.send_message_batch().queue_url(&url);
        for j in 0..10 {
            let n = chunk * 10 + j;
            let body = if n % 2 == 0 {
                example_event(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    REGION,
                    json!({"groupId": ids[n % 10]}),
                )
            } else {
                example_event(
                    "ec2",
                    "CreateTags",
                    REGION,
                    json!({"resourcesSet": {"items": [{"resourceId": ids[n % 10]}]}}),
                )
            };
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{j}"))
                    .message_body(body)
                    .build()
                    .unwrap(),
            );
        }
        req.send().await.unwrap();
    }
    let consumer = Consumer::connect(
        &settings(&moto, &url),
        &client_options(),
        &driftd::aws::ApiCalls::new(),
    )
    .await;
    let batch = consumer.next_batch().await.unwrap();
    assert_eq!(batch.messages, 1000);
    // The rescan: one per distinct resource.
    let rescans: BTreeSet<String> = batch.resources.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(rescans.len(), 10, "{rescans:?}");
    assert_eq!(batch.by_region()[REGION].len(), 10);
    // Not deleted before the rescan is recorded.
    assert_eq!(visible(&c, &url).await, 1000);
    assert_eq!(consumer.finish(&batch).await.unwrap(), 1000);
    assert_eq!(visible(&c, &url).await, 0);
    assert_eq!(
        consumer
            .metrics
            .received
            .with_label_values(&["change"])
            .get(),
        1000
    );
    assert_eq!(consumer.metrics.to_report.get_sample_count(), 1);
    // An empty queue: the long poll ends with an empty batch.
    assert!(consumer.next_batch().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_never_deleted_and_reported_with_their_receive_count() {
    let moto = Moto::start();
    let c = sqs(&moto).await;
    let url = queue(&c, "driftd-poison", 2).await;
    c.send_message()
        .queue_url(&url)
        .message_body("{not json")
        .send()
        .await
        .unwrap();
    c.send_message()
        .queue_url(&url)
        .message_body(example_event(
            "s3",
            "PutBucketVersioning",
            REGION,
            json!({"bucketName": "logs"}),
        ))
        .send()
        .await
        .unwrap();
    let mut s = settings(&moto, &url);
    s.max_receives = 2;
    s.batch_window = std::time::Duration::from_secs(1);
    let consumer = Consumer::connect(&s, &client_options(), &driftd::aws::ApiCalls::new()).await;
    let batch = consumer.next_batch().await.unwrap();
    assert_eq!(batch.messages, 2);
    assert_eq!(
        batch
            .resources
            .iter()
            .map(|x| x.1.as_str())
            .collect::<Vec<_>>(),
        ["logs"]
    );
    assert_eq!(batch.poison.len(), 1);
    assert_eq!(batch.poison[0].receive_count, 1);
    assert!(!batch.poison[0].dead_lettered);
    consumer.finish(&batch).await.unwrap();
    // The poison message is still in the queue (left for the redrive policy).
    assert_eq!(visible(&c, &url).await, 1);
    assert_eq!(
        consumer
            .metrics
            .received
            .with_label_values(&["poison"])
            .get(),
        1
    );
}
