//! `aws_s3_bucket_metric`: one paginated `ListBucketMetricsConfigurations`
//! per bucket whose state declares one serves all of them (ids `bucket:name`,
//! `Source::BucketConfigs`); a configuration the answer lacks is missing. Not
//! discoverable (part of a bucket). No reconciler call. Non-critical by
//! default: it only selects which request metrics CloudWatch receives.
//!
//! moto 5.1.22 drops the Put (the listing stays empty): tested with recorded
//! answers here, not against moto.
//!
//! Normalizers: the filter is flattened to `{prefix, tags, access_point}`
//! (`Prefix`, one `Tag`, `AccessPointArn` or `And`; no filter: all empty).

use aws_sdk_s3::types::{MetricsConfiguration, MetricsFilter};
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::Map;

use super::bucket_config::{config_id, live_filter, state_filter};
use crate::registry::{AwsType, Source};
use crate::services::s3::{list_configs, BucketConfigs, Configs, Fetch};

pub const NAME: &str = "aws_s3_bucket_metric";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("filter", Shape::Block, true, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-metric",
            attributes: &[],
            kinds: &[],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetMetricsConfiguration"],
        write_actions: &[],
        project,
        live_id: config_id,
    },
    source: Source::BucketConfigs { list: &LIST },
    plan: None,
};

static LIST: BucketConfigs = BucketConfigs {
    operation: "ListBucketMetricsConfigurations",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Configs>, String>> {
    Box::pin(list_configs(
        LIST.operation,
        &["NoSuchConfiguration"],
        move |token| {
            client
                .list_bucket_metrics_configurations()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
        },
        |page, out| {
            for c in page.metrics_configuration_list() {
                out.insert(c.id().to_string(), live(c));
            }
            (
                page.is_truncated(),
                page.next_continuation_token().map(str::to_string),
            )
        },
    ))
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert("filter".into(), state_filter(&r.attrs));
    m
}

/// Canonical live attributes of one listed configuration.
pub fn live(c: &MetricsConfiguration) -> Attrs {
    let filter = match c.filter() {
        Some(MetricsFilter::Prefix(p)) => live_filter(Some(p), [], None),
        Some(MetricsFilter::Tag(t)) => live_filter(None, [t], None),
        Some(MetricsFilter::AccessPointArn(a)) => live_filter(None, [], Some(a)),
        Some(MetricsFilter::And(a)) => live_filter(a.prefix(), a.tags(), a.access_point_arn()),
        _ => live_filter(None, [], None),
    };
    let mut m = Map::new();
    m.insert("filter".into(), filter);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{MetricsAndOperator, Tag};
    use serde_json::{json, Value};

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_metric.m".into(),
            rtype: NAME.into(),
            id: "b1:ImportantBlueDocuments".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// A recorded ListBucketMetricsConfigurations entry (`And` for prefix +
    /// tags) and the provider-v5 state of the same metric.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({"id": "b1:ImportantBlueDocuments", "bucket": "b1",
            "name": "ImportantBlueDocuments",
            "filter": [{"prefix": "documents/", "tags": {"priority": "high", "class": "blue"},
                        "access_point": ""}]}));
        let rec = |class: &str| {
            MetricsConfiguration::builder()
                .id("ImportantBlueDocuments")
                .filter(MetricsFilter::And(
                    MetricsAndOperator::builder()
                        .prefix("documents/")
                        .tags(Tag::builder().key("class").value(class).build().unwrap())
                        .tags(
                            Tag::builder()
                                .key("priority")
                                .value("high")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                ))
                .build()
                .unwrap()
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&rec("blue")));
        assert_ne!(d, live(&rec("red")));
        assert_eq!((TYPE.info.live_id)(&s), "b1:ImportantBlueDocuments");
    }

    /// A whole-bucket metric: `filter = []` and no Filter.
    #[test]
    fn no_filter_either_way() {
        let s = state(json!({"bucket": "b1", "name": "EntireBucket", "filter": []}));
        let c = MetricsConfiguration::builder()
            .id("EntireBucket")
            .build()
            .unwrap();
        assert_eq!(project(&s, &ProjectContext::default()), live(&c));
        let ap = MetricsConfiguration::builder()
            .id("EntireBucket")
            .filter(MetricsFilter::AccessPointArn(
                "arn:aws:s3:eu-west-1:123456789012:accesspoint/ap".into(),
            ))
            .build()
            .unwrap();
        assert_ne!(project(&s, &ProjectContext::default()), live(&ap));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
