output "id" {
  description = "Name of the bucket."
  # Available once the bucket's hardening is in place: a bucket policy written after it never
  # races the public access block.
  value = aws_s3_bucket.this.id
  depends_on = [
    aws_s3_bucket_ownership_controls.this,
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
  ]
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "regional_domain_name" {
  description = "The bucket's regional domain name (a CloudFront origin)."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}
