output "role_arn" {
  description = "ARN of the deploy role: the AWS_ROLE_ARN variable of the GitHub environment of the same name in the GitOps repository."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the deploy role."
  value       = aws_iam_role.this.name
}

output "policy_json" {
  description = "The role's permission policy document (compare with `gitops iam-policy --env <environment>`)."
  value       = data.aws_iam_policy_document.permissions.json
}

output "trust_policy_json" {
  description = "The role's trust policy document."
  value       = data.aws_iam_policy_document.trust.json
}
