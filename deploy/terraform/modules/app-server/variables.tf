variable "name" {
  type        = string
  description = "Name of everything the module creates: queue <name>.fifo and dead-letter queue <name>-dlq.fifo (the names `SqsQueue::bootstrap` uses), ECS cluster and service, log group /ecs/<name>, roles <name>-task and <name>-execution, secrets <name>/..."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,32}$", var.name))
    error_message = "name must be 1 to 32 letters, digits, '-' or '_' (it prefixes load balancer and role names)."
  }
}

variable "image" {
  type        = string
  description = "The container image running `gitops serve` (built from the repository's Dockerfile), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/mfe-gitops:0.1.0; pin it by digest."
}

variable "cpu" {
  type        = number
  description = "Fargate task CPU units (256, 512, 1024, ...)."
  default     = 512
}

variable "memory" {
  type        = number
  description = "Fargate task memory in MiB (a valid pairing with cpu)."
  default     = 1024
}

variable "desired_count" {
  type        = number
  description = "Replicas of `gitops serve`: they share the queue and are stateless, any number works; two survive losing one."
  default     = 2

  validation {
    condition     = var.desired_count >= 0
    error_message = "desired_count must be 0 or more."
  }
}

variable "workers" {
  type        = number
  description = "Worker tasks per replica (`gitops serve --workers`)."
  default     = 4

  validation {
    condition     = var.workers >= 0
    error_message = "workers must be 0 or more."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the service, its security groups and the load balancer's target group."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets the tasks run in (private subnets with a NAT gateway or VPC endpoints for SQS, Secrets Manager, CloudWatch Logs, ECR, S3, DynamoDB, CloudFront and GitHub)."
}

variable "assign_public_ip" {
  type        = bool
  description = "Give each task a public IP (only in public subnets without NAT: the tasks must reach GitHub and AWS APIs)."
  default     = false
}

variable "security_group_ids" {
  type        = list(string)
  description = "Extra security groups of the tasks, besides the one the module creates (which admits port 8080 from the load balancer only)."
  default     = []
}

variable "create_load_balancer" {
  type        = bool
  description = "Create an internet-facing Application Load Balancer in front of the service: GitHub must reach POST /webhook. false: expose the service yourself, e.g. attach it to an existing target group (target_group_arn) and set public_url."
  default     = true
}

variable "load_balancer_subnet_ids" {
  type        = list(string)
  description = "Public subnets of the load balancer (at least two availability zones); empty: subnet_ids."
  default     = []
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate of the load balancer's HTTPS listener (443). null: an HTTP listener on 80 only, for tests or behind a TLS-terminating proxy; GitHub's webhook secret still authenticates every delivery, but use HTTPS on the internet."
  default     = null
}

variable "ingress_cidr_blocks" {
  type        = list(string)
  description = "Who may reach the load balancer: GitHub's hook addresses (the `hooks` list of GET /meta; they change) or everyone, since every delivery's signature is checked."
  default     = ["0.0.0.0/0"]
}

variable "target_group_arn" {
  type        = string
  description = "With create_load_balancer = false: an existing target group (ip targets, port 8080) to register the tasks in; null registers them nowhere."
  default     = null
}

variable "public_url" {
  type        = string
  description = "The base URL GitHub reaches the service at (https://gitops.example.com, a DNS name pointing at the load balancer); null: the load balancer's own DNS name."
  default     = null
}

variable "gitops_repository" {
  type        = string
  description = "The GitOps repository, OWNER/NAME (GITOPS_REPOSITORY)."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.gitops_repository))
    error_message = "gitops_repository must be OWNER/NAME."
  }
}

variable "gitops_repo_url" {
  type        = string
  description = "Where the server clones the GitOps repository from (GITOPS_REPO_URL); null: <GitHub server>/<gitops_repository>.git, cloned with an installation token."
  default     = null
}

variable "github_api_url" {
  type        = string
  description = "GitHub's REST API (GITHUB_API_URL): https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server."
  default     = "https://api.github.com"
}

variable "app_id" {
  type        = string
  description = "The GitHub App's id (GITOPS_APP_ID), shown on the App's settings page."
}

variable "app_private_key_secret_arn" {
  type        = string
  description = "An existing Secrets Manager secret holding the App's private key (PEM); null: the module creates an empty secret <name>/app-private-key for you to put the value in."
  default     = null
}

variable "webhook_secret_arn" {
  type        = string
  description = "An existing Secrets Manager secret holding the App's webhook secret; null: the module creates an empty secret <name>/webhook-secret for you to put the value in."
  default     = null
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret the module created can still be restored (0 deletes at once, 7 to 30 otherwise)."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7 to 30."
  }
}

variable "max_receive_count" {
  type        = number
  description = "Deliveries of one message before SQS moves it to the dead-letter queue (the redrive policy's maxReceiveCount); the server dead-letters a job itself after its own attempts, this is the backstop for a replica dying in its last attempt."
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1 to 1000."
  }
}

variable "visibility_timeout_seconds" {
  type        = number
  description = "The queue's visibility timeout: how long a received job stays hidden; the server extends it by heartbeat while the job runs, so it bounds how soon a killed replica's job reappears."
  default     = 60

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be 0 to 43200."
  }
}

variable "message_retention_seconds" {
  type        = number
  description = "How long a job waits in the queue before SQS drops it (60 to 1209600; the dead-letter queue always keeps 14 days)."
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be 60 to 1209600."
  }
}

variable "deploy_policy_jsons" {
  type        = map(string)
  description = "Deploy permissions of the task role, as policy documents by name: for each environment, what `gitops iam-policy --env ENV` prints, e.g. { for e, r in module.deploy_role : e => r.policy_json } from the complete example."
  default     = {}
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the server's logs (JSON lines)."
  default     = 30
}

variable "log_level" {
  type        = string
  description = "RUST_LOG of the server."
  default     = "info"
}

variable "stop_timeout_seconds" {
  type        = number
  description = "Seconds between SIGTERM and SIGKILL of a stopping task: the server finishes or releases its in-flight jobs in that time (at most 120 on Fargate)."
  default     = 120

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be 2 to 120."
  }
}

variable "cluster_arn" {
  type        = string
  description = "An existing ECS cluster to run the service in; null creates cluster <name>."
  default     = null
}

variable "wait_for_steady_state" {
  type        = bool
  description = "Make apply wait until the service's tasks are running (they start only once both secrets have a value)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of every resource."
  default     = {}
}
