output "publish_role_arn" {
  description = "ARN of the publish role: the MFE repository's MFE_PUBLISH_ROLE_ARN variable."
  value       = aws_iam_role.publish.arn
}

output "artifact_read_role_arn" {
  description = "ARN of the artifact-reader role: the MFE repository's MFE_ARTIFACT_READ_ROLE_ARN variable."
  value       = aws_iam_role.read.arn
}

output "artifact_prefix" {
  description = "Key prefix of the MFE's archives in the artifacts bucket (artifacts/<mfe>)."
  value       = "artifacts/${var.mfe_name}"
}

output "artifact" {
  description = "The `artifact` template of mfes/<mfe>.yaml: s3://BUCKET/artifacts/<mfe>/<mfe>-{version}.tgz."
  value       = "s3://${var.artifacts_bucket_name}/artifacts/${var.mfe_name}/${var.mfe_name}-{version}.tgz"
}

output "publish_policy_json" {
  description = "The publish role's permission policy document."
  value       = data.aws_iam_policy_document.publish.json
}

output "artifact_read_policy_json" {
  description = "The artifact-reader role's permission policy document."
  value       = data.aws_iam_policy_document.read.json
}
