variable "bucket_name" {
  type        = string
  description = "Name of the bucket."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'."
  }
}

variable "sse_algorithm" {
  type        = string
  description = "Default server-side encryption of the bucket: \"AES256\" (S3-managed keys) or \"aws:kms\" (KMS; set kms_key_arn for a customer-managed key, and grant the roles kms:Decrypt/GenerateDataKey on it yourself)."
  default     = "AES256"

  validation {
    condition     = contains(["AES256", "aws:kms"], var.sse_algorithm)
    error_message = "sse_algorithm must be \"AES256\" or \"aws:kms\"."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key ARN used when sse_algorithm is \"aws:kms\"; null uses the AWS-managed aws/s3 key. Ignored for AES256."
  default     = null
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete the bucket with every object version in it. Keep false in real accounts."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of the bucket."
  default     = {}
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which a noncurrent object version (an object overwritten, or deleted by `gitops prune`) is removed for good; null keeps every version forever (and bills it)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days == null || try(var.noncurrent_version_expiration_days >= 1, false)
    error_message = "noncurrent_version_expiration_days must be at least 1, or null."
  }
}
