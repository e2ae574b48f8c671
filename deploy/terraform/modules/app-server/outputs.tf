output "queue_url" {
  description = "URL of the FIFO work queue: `gitops serve --queue` (the task definition passes it)."
  value       = aws_sqs_queue.jobs.url
}

output "queue_arn" {
  description = "ARN of the FIFO work queue."
  value       = aws_sqs_queue.jobs.arn
}

output "dead_letter_queue_url" {
  description = "URL of the FIFO dead-letter queue (the jobs that failed for good; alarm on its depth)."
  value       = aws_sqs_queue.dead_letters.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the FIFO dead-letter queue."
  value       = aws_sqs_queue.dead_letters.arn
}

output "app_private_key_secret_arn" {
  description = "The secret the App's private key (PEM) must be put in."
  value       = local.private_key_secret_arn
}

output "webhook_secret_arn" {
  description = "The secret the App's webhook secret must be put in."
  value       = local.webhook_secret_arn
}

output "cluster_arn" {
  description = "The ECS cluster of the service."
  value       = local.cluster_arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_role_arn" {
  description = "ARN of the task role (the server's own AWS identity)."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the task role: attach further policies to it."
  value       = aws_iam_role.task.name
}

output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "The CloudWatch log group of the server's JSON logs."
  value       = aws_cloudwatch_log_group.this.name
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (point public_url's name at it); null without one."
  value       = var.create_load_balancer ? aws_lb.this[0].dns_name : null
}

output "webhook_url" {
  description = "Where GitHub sends the App's webhooks: the manifest's hook_attributes.url (null when neither a load balancer nor public_url tells)."
  value       = local.base_url == null ? null : "${local.base_url}/webhook"
}
