# GitHub Actions' OIDC issuer as an IAM identity provider. Every role of this project trusts
# it, with conditions on the token's aud and sub claims (see the role modules).

locals {
  url = "https://token.actions.githubusercontent.com"
}

resource "aws_iam_openid_connect_provider" "this" {
  count = var.create ? 1 : 0

  url             = local.url
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = var.thumbprints
  tags            = var.tags
}

data "aws_iam_openid_connect_provider" "this" {
  count = var.create ? 0 : 1

  url = local.url
}
