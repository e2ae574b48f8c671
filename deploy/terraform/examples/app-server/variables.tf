variable "region" {
  type        = string
  description = "AWS region of the server and its queue."
  default     = "us-east-1"
}

variable "name" {
  type        = string
  description = "Name of the server's resources (queue <name>.fifo, service, roles, secrets <name>/...)."
  default     = "mfe-gitops"
}

variable "image" {
  type        = string
  description = "The `gitops serve` container image (the repository's Dockerfile), pinned by digest."
}

variable "desired_count" {
  type        = number
  description = "Replicas."
  default     = 2
}

variable "vpc_id" {
  type        = string
  description = "VPC to run in; null: the account's default VPC (tasks then get public IPs to reach GitHub)."
  default     = null
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets of the tasks and the load balancer; null: every subnet of the VPC."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the HTTPS listener; null: HTTP on port 80 (not for the internet)."
  default     = null
}

variable "public_url" {
  type        = string
  description = "Base URL GitHub reaches the server at (a DNS name for the load balancer); null: the load balancer's name."
  default     = null
}

variable "gitops_repository" {
  type        = string
  description = "The GitOps repository, OWNER/NAME."
}

variable "github_api_url" {
  type        = string
  description = "GitHub's REST API URL."
  default     = "https://api.github.com"
}

variable "app_id" {
  type        = string
  description = "The GitHub App's id."
}

variable "deploy_policy_jsons" {
  type        = map(string)
  description = "Deploy policies of the server by environment (`gitops iam-policy --env ENV`, or examples/complete's deploy roles' policy_json)."
  default     = {}
}

variable "max_receive_count" {
  type        = number
  description = "Deliveries of a job before SQS dead-letters it."
  default     = 5
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Recovery window of the secrets the module creates (0: deleted at once)."
  default     = 30
}

variable "log_retention_days" {
  type        = number
  description = "Days the server's logs are kept."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags of every resource (provider default tags)."
  default     = {}
}
