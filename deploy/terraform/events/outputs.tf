output "queue_url" {
  description = "[events] queue_url in driftd.toml."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "Resource of the EventsQueueConsume statement (deploy/iam/driftd-events-policy.json)."
  value       = aws_sqs_queue.events.arn
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dlq.id
}
