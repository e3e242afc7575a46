# Event-driven rescans for driftd: an EventBridge rule for CloudTrail
# "AWS API Call via CloudTrail" events of EC2 and S3 (write calls only),
# an SQS queue it sends to, the queue policy that lets EventBridge send, and a
# dead-letter queue that takes messages received max_receive_count times
# (driftd never deletes a message it cannot parse).
#
# EventBridge only sees these events when a CloudTrail trail records
# management events in the region (S3 bucket-level calls are management
# events). Apply once per region driftd scans; set [events] queue_url and
# max_receives = var.max_receive_count in driftd.toml.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name = var.name
  # Longer than one rescan: a message is deleted only after its rescan is recorded.
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_cloudwatch_event_rule" "changes" {
  name        = var.name
  description = "EC2 and S3 write API calls (CloudTrail) for driftd rescans"
  event_pattern = jsonencode({
    source        = ["aws.ec2", "aws.s3"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["ec2.amazonaws.com", "s3.amazonaws.com"]
      readOnly    = [false]
      # Calls that failed changed nothing.
      errorCode = [{ exists = false }]
    }
  })
}

resource "aws_cloudwatch_event_target" "queue" {
  rule = aws_cloudwatch_event_rule.changes.name
  arn  = aws_sqs_queue.events.arn
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "EventBridgeSends"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.changes.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}
