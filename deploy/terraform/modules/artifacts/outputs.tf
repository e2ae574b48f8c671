output "bucket_name" {
  description = "Name of the artifacts bucket."
  value       = module.bucket.id
}

output "bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = module.bucket.arn
}

output "key_prefix" {
  description = "Key prefix under which each MFE's archives live: <key_prefix>/<mfe>/."
  value       = "artifacts"
}
