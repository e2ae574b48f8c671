variable "name" {
  type        = string
  description = "GitOps environment name (as in gitops.yaml); used in descriptions and tags."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+([.][A-Za-z0-9_-]+)*$", var.name)) && length(var.name) <= 63
    error_message = "name must be letters, digits, '_', '-', with '.' only between them, at most 63 characters."
  }
}

variable "bucket_name" {
  type        = string
  description = "Name of the environment's private storage bucket (CloudFront's origin)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'."
  }
}

variable "storage_prefix" {
  type        = string
  description = "Optional key prefix of the environment in its bucket (s3://BUCKET/PREFIX), without leading or trailing '/'. It becomes the distribution's origin path, so the public path /mfe/... is s3://BUCKET/PREFIX/mfe/...; null: the bucket root."
  default     = null

  validation {
    condition     = var.storage_prefix == null || can(regex("^[^/*?]+(/[^/*?]+)*$", var.storage_prefix))
    error_message = "storage_prefix must be non-empty, without leading/trailing '/', '//', '*' or '?'."
  }
}

variable "table_name" {
  type        = string
  description = "Name of the environment's registry DynamoDB table (docs/registry-dynamodb.md)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3 to 255 of letters, digits, '_', '-', '.'."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "DynamoDB deletion protection of the registry table (the deploy history). Set false only for throw-away stacks you intend to destroy."
  default     = true
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete the storage bucket with all its object versions. Keep false in real accounts."
  default     = false
}

variable "sse_algorithm" {
  type        = string
  description = "Default server-side encryption of the storage bucket: \"AES256\" or \"aws:kms\". CloudFront's OAC can read SSE-KMS objects only when the key policy allows the distribution; AES256 needs nothing."
  default     = "AES256"

  validation {
    condition     = contains(["AES256", "aws:kms"], var.sse_algorithm)
    error_message = "sse_algorithm must be \"AES256\" or \"aws:kms\"."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key ARN when sse_algorithm is \"aws:kms\" (null: the AWS-managed aws/s3 key, which CloudFront cannot use: give a customer-managed key). Ignored for AES256."
  default     = null
}

variable "price_class" {
  type        = string
  description = "CloudFront price class: PriceClass_100 (North America, Europe), PriceClass_200, PriceClass_All."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "cors_allowed_origins" {
  type        = list(string)
  description = "Origins allowed to load the MFEs cross-origin (module federation: the host application's origins, e.g. https://shop.example.com). [\"*\"] allows any origin (the files are public anyway)."
  default     = ["*"]

  validation {
    condition     = length(var.cors_allowed_origins) > 0 && alltrue([for o in var.cors_allowed_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "cors_allowed_origins must be \"*\" or origins like https://app.example.com (scheme and host, no path)."
  }
}

variable "cors_max_age_seconds" {
  type        = number
  description = "How long browsers may cache a CORS preflight answer, in seconds."
  default     = 3600
}

variable "short_ttl_seconds" {
  type        = number
  description = "Upper bound of CloudFront's cache time for mutable paths (importmap.json, entry-point aliases mfe/<name>/<entry>, anything outside a version prefix). The origin sends `public, max-age=60, must-revalidate`; a deploy also invalidates these paths."
  default     = 60

  validation {
    condition     = var.short_ttl_seconds >= 0 && var.short_ttl_seconds <= 3600
    error_message = "short_ttl_seconds must be between 0 and 3600."
  }
}

variable "domain_name" {
  type        = string
  description = "Optional custom domain of the distribution (e.g. mfe.example.com). null: the distribution's *.cloudfront.net name is the public URL."
  default     = null
}

variable "acm_certificate_arn" {
  type        = string
  description = "Existing ISSUED ACM certificate in us-east-1 covering domain_name. null with a domain_name: the module requests one (DNS validation) through the aws.us_east_1 provider."
  default     = null
}

variable "route53_zone_id" {
  type        = string
  description = "Optional Route 53 hosted zone of domain_name: the module then writes the certificate's validation records and the A/AAAA alias records. null: create them in your DNS yourself (the certificate's validation records are an output; apply waits until the certificate is issued)."
  default     = null
}

variable "wait_for_deployment" {
  type        = bool
  description = "Wait until the distribution is deployed to every edge location (about 5-15 minutes on AWS) before finishing the apply."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
