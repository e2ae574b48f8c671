output "bucket_name" {
  description = "Name of the environment's storage bucket."
  value       = module.bucket.id
}

output "bucket_arn" {
  description = "ARN of the environment's storage bucket."
  value       = module.bucket.arn
}

output "storage_prefix" {
  description = "Key prefix of the environment in its bucket (null: the bucket root)."
  value       = var.storage_prefix
}

output "table_name" {
  description = "Name of the registry table."
  value       = aws_dynamodb_table.registry.name
}

output "table_arn" {
  description = "ARN of the registry table."
  value       = aws_dynamodb_table.registry.arn
}

output "distribution_id" {
  description = "ID of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_domain_name" {
  description = "The distribution's own domain name (*.cloudfront.net)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "domain" {
  description = "The public host name: domain_name when set, else the distribution's *.cloudfront.net name."
  value       = coalesce(var.domain_name, aws_cloudfront_distribution.this.domain_name)
}

output "certificate_validation_records" {
  description = "DNS records that validate the requested ACM certificate (create them when route53_zone_id is null); empty without a requested certificate."
  value = local.create_cert ? [
    for o in aws_acm_certificate.this[0].domain_validation_options : {
      name  = o.resource_record_name
      type  = o.resource_record_type
      value = o.resource_record_value
    }
  ] : []
}

output "storage" {
  description = "gitops.yaml `storage` of the environment: s3://BUCKET[/PREFIX]."
  value       = var.storage_prefix == null ? "s3://${module.bucket.id}" : "s3://${module.bucket.id}/${var.storage_prefix}"
}

output "registry" {
  description = "gitops.yaml `registry` of the environment: dynamodb://TABLE."
  value       = "dynamodb://${aws_dynamodb_table.registry.name}"
}

output "cdn" {
  description = "gitops.yaml `cdn` of the environment: cloudfront://DISTRIBUTION_ID."
  value       = "cloudfront://${aws_cloudfront_distribution.this.id}"
}

output "public_url" {
  description = "gitops.yaml `public_url` of the environment: https://DOMAIN."
  value       = "https://${coalesce(var.domain_name, aws_cloudfront_distribution.this.domain_name)}"
}
