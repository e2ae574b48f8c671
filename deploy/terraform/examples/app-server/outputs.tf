output "app_server" {
  description = "Where GitHub sends webhooks (webhook_url: the App manifest's hook_attributes.url), the queues, the secrets to put the App's key and webhook secret in, the service."
  value = {
    webhook_url                = module.app_server.webhook_url
    queue_url                  = module.app_server.queue_url
    dead_letter_queue_url      = module.app_server.dead_letter_queue_url
    app_private_key_secret_arn = module.app_server.app_private_key_secret_arn
    webhook_secret_arn         = module.app_server.webhook_secret_arn
    cluster_arn                = module.app_server.cluster_arn
    service_name               = module.app_server.service_name
    task_role_arn              = module.app_server.task_role_arn
    log_group_name             = module.app_server.log_group_name
  }
}
