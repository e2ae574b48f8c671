variable "environment" {
  type        = string
  description = "GitOps environment name (as in gitops.yaml). The role trusts only GitHub jobs of the GitOps repository running in the GitHub environment of this name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+([.][A-Za-z0-9_-]+)*$", var.environment)) && length(var.environment) <= 63
    error_message = "environment must be letters, digits, '_', '-', with '.' only between them, at most 63 characters."
  }
}

variable "role_name" {
  type        = string
  description = "Name of the IAM role (at most 64 characters)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1 to 64 of letters, digits and +=,.@_-."
  }
}

variable "github_org" {
  type        = string
  description = "GitHub owner (organisation or user) of the GitOps repository."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_org))
    error_message = "github_org must be a GitHub owner name (letters, digits, '-')."
  }
}

variable "gitops_repository" {
  type        = string
  description = "Name of the GitOps repository (without the owner)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.gitops_repository))
    error_message = "gitops_repository must be a repository name without the owner (letters, digits, '.', '_', '-')."
  }
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of GitHub's IAM OIDC provider (module github-oidc)."
}

variable "bucket_name" {
  type        = string
  description = "The environment's storage bucket (gitops.yaml storage: s3://BUCKET[/PREFIX])."
}

variable "storage_prefix" {
  type        = string
  description = "Key prefix of the environment in its bucket (the PREFIX of s3://BUCKET/PREFIX), without leading or trailing '/'; null when the environment owns the whole bucket."
  default     = null

  validation {
    condition     = var.storage_prefix == null || can(regex("^[^/*?]+(/[^/*?]+)*$", var.storage_prefix))
    error_message = "storage_prefix must be non-empty, without leading/trailing '/', '//', '*' or '?'."
  }
}

variable "table_arn" {
  type        = string
  description = "ARN of the environment's registry DynamoDB table."
}

variable "distribution_arn" {
  type        = string
  description = "ARN of the environment's CloudFront distribution."
}

variable "artifacts_bucket_name" {
  type        = string
  description = "The shared artifacts bucket the environment's deploys read MFE archives from."
}

variable "artifact_read_prefixes" {
  type        = list(string)
  description = "Key prefixes in the artifacts bucket this environment's deploys may read: artifacts/<mfe> for every MFE that deploys to this environment. Empty: no artifact access at all."
  default     = []

  validation {
    condition     = alltrue([for p in var.artifact_read_prefixes : can(regex("^[^/*?]+(/[^/*?]+)*$", p))])
    error_message = "artifact_read_prefixes must be key prefixes without leading/trailing '/', '*' or '?' (e.g. artifacts/checkout)."
  }
}

variable "permissions_boundary_arn" {
  type        = string
  description = "Optional permissions boundary policy ARN for the role (organisations that require one)."
  default     = null
}

variable "max_session_duration" {
  type        = number
  description = "Maximum session duration of the role, in seconds (3600 to 43200)."
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of the role."
  default     = {}
}
