output "arn" {
  description = "ARN of GitHub's OIDC provider (created or looked up): the Federated principal of every trust policy."
  value       = var.create ? aws_iam_openid_connect_provider.this[0].arn : data.aws_iam_openid_connect_provider.this[0].arn
}

output "issuer" {
  description = "Issuer host name, the prefix of the condition keys (token.actions.githubusercontent.com:sub, ...:aud)."
  value       = "token.actions.githubusercontent.com"
}
