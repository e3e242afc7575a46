variable "name" {
  description = "Name of the queue, its dead-letter queue (-dlq suffix) and the rule."
  type        = string
  default     = "driftd-events"
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue; set [events] max_receives to the same."
  type        = number
  default     = 5
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden: longer than one rescan."
  type        = number
  default     = 300
}
