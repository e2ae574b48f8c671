variable "region" {
  type        = string
  description = "AWS region of the buckets, tables and roles (CloudFront and IAM are global)."
  default     = "us-east-1"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name, e.g. acme-mfe. Bucket names are global: pick something your organisation owns."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3 to 30 lowercase letters, digits and '-', starting with a letter."
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
  description = "Name of the GitOps repository, without the owner (its deploy jobs run in GitHub environments named like the GitOps environments)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.gitops_repository))
    error_message = "gitops_repository must be a repository name without the owner."
  }
}

variable "environments" {
  type        = list(string)
  description = "GitOps environments in promotion order; one bucket, registry table, distribution and deploy role each."
  default     = ["dev", "staging", "prod"]

  validation {
    condition     = length(var.environments) > 0 && length(distinct(var.environments)) == length(var.environments) && alltrue([for e in var.environments : can(regex("^[a-z0-9][a-z0-9-]{0,19}$", e))])
    error_message = "environments must be distinct names of 1 to 20 lowercase letters, digits and '-' (they become part of bucket and role names)."
  }
}

variable "mfes" {
  type = list(object({
    name           = string
    repository     = string
    default_branch = optional(string, "main")
    environments   = list(string)
  }))
  description = "The MFEs: name (gitops MfeName), repository OWNER/NAME, default branch, and the environments each deploys to (a subset of environments)."
  default = [
    {
      name           = "checkout"
      repository     = "acme/checkout-mfe"
      default_branch = "main"
      environments   = ["dev", "staging", "prod"]
    },
    {
      name           = "search"
      repository     = "acme/search-mfe"
      default_branch = "main"
      environments   = ["dev", "staging"]
    },
  ]

  validation {
    condition     = length(distinct([for m in var.mfes : m.name])) == length(var.mfes)
    error_message = "mfes must have distinct names."
  }
}

variable "storage_prefix" {
  type        = string
  description = "Optional key prefix of every environment in its bucket (gitops.yaml storage s3://BUCKET/PREFIX; the distribution's origin path). null: the bucket root."
  default     = null
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create GitHub's OIDC provider in the account (true) or look up the existing one (false)."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection of the registry tables. Set false only for stacks you mean to destroy."
  default     = true
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (environments and artifacts). Keep false in real accounts."
  default     = false
}

variable "sse_algorithm" {
  type        = string
  description = "Server-side encryption of the buckets: AES256 or aws:kms."
  default     = "AES256"
}

variable "price_class" {
  type        = string
  description = "CloudFront price class of the distributions."
  default     = "PriceClass_100"
}

variable "cors_allowed_origins" {
  type        = list(string)
  description = "Origins allowed to load the MFEs cross-origin (the host applications), or [\"*\"]."
  default     = ["*"]
}

variable "domain_names" {
  type        = map(string)
  description = "Optional custom domain per environment, e.g. { prod = \"mfe.example.com\" }. Environments not listed use their *.cloudfront.net name."
  default     = {}
}

variable "route53_zone_id" {
  type        = string
  description = "Optional Route 53 zone of the custom domains (validation and alias records are then written for you)."
  default     = null
}

variable "wait_for_deployment" {
  type        = bool
  description = "Wait until each distribution is deployed before finishing the apply."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags of every resource (provider default_tags)."
  default     = { "managed-by" = "terraform", "app" = "mfe-gitops" }
}
