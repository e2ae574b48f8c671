variable "mfe_name" {
  type        = string
  description = "MFE name (gitops MfeName: [a-z][a-z0-9-]*, at most 63). Its archives live under artifacts/<mfe_name>/ in the artifacts bucket."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.mfe_name))
    error_message = "mfe_name must match [a-z][a-z0-9-]* and be at most 63 characters."
  }
}

variable "repository" {
  type        = string
  description = "The MFE's GitHub repository, OWNER/NAME."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.repository))
    error_message = "repository must be OWNER/NAME."
  }
}

variable "default_branch" {
  type        = string
  description = "The repository's default branch: the publish role trusts pushes to it and v* tags, nothing else."
  default     = "main"

  validation {
    condition     = length(var.default_branch) > 0 && !can(regex("[*?\\s]", var.default_branch))
    error_message = "default_branch must be a branch name without wildcards or spaces."
  }
}

variable "environments" {
  type        = list(string)
  description = "GitOps environments the MFE deploys to. The artifact-reader role trusts the MFE repository's jobs running in GitHub environments of these names."

  validation {
    condition     = length(var.environments) > 0 && alltrue([for e in var.environments : can(regex("^[A-Za-z0-9_-]+([.][A-Za-z0-9_-]+)*$", e))])
    error_message = "environments must hold at least one environment name (letters, digits, '_', '-', '.' between them)."
  }
}

variable "artifacts_bucket_name" {
  type        = string
  description = "The shared artifacts bucket (module artifacts)."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of GitHub's IAM OIDC provider (module github-oidc)."
}

variable "publish_role_name" {
  type        = string
  description = "Name of the publish role (at most 64 characters)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.publish_role_name))
    error_message = "publish_role_name must be 1 to 64 of letters, digits and +=,.@_-."
  }
}

variable "artifact_read_role_name" {
  type        = string
  description = "Name of the artifact-reader role (at most 64 characters)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.artifact_read_role_name))
    error_message = "artifact_read_role_name must be 1 to 64 of letters, digits and +=,.@_-."
  }
}

variable "permissions_boundary_arn" {
  type        = string
  description = "Optional permissions boundary policy ARN for both roles."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags of both roles."
  default     = {}
}
