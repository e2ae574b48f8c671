# The deploy role of one environment: assumed by `gitops` (deploy, bootstrap --check, drift, prune)
# in jobs of the GitOps repository that run in the GitHub environment of the same name. Its
# permissions are exactly `gitops iam-policy --env <environment>` (docs/aws-setup.md explains
# each line); they are an inline policy, so they live and die with the role.

locals {
  issuer = "token.actions.githubusercontent.com"

  bucket_arn    = "arn:aws:s3:::${var.bucket_name}"
  objects_arn   = var.storage_prefix == null ? "${local.bucket_arn}/*" : "${local.bucket_arn}/${var.storage_prefix}/*"
  versions_arn  = var.storage_prefix == null ? "${local.bucket_arn}/mfe/*" : "${local.bucket_arn}/${var.storage_prefix}/mfe/*"
  artifacts_arn = "arn:aws:s3:::${var.artifacts_bucket_name}"
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubEnvironment"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only jobs of the GitOps repository running in this GitHub environment: the
    # environment's protection rules (reviewers, branch policy) gate who gets the role.
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["repo:${var.github_org}/${var.gitops_repository}:environment:${var.environment}"]
    }
  }
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "Storage"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.objects_arn]
  }

  # gitops prune deletes version prefixes: only under mfe/, never the import map or metrics/.
  statement {
    sid       = "StoragePrune"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = [local.versions_arn]
  }

  statement {
    sid       = "StorageBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  dynamic "statement" {
    for_each = length(var.artifact_read_prefixes) > 0 ? [1] : []

    content {
      sid       = "Artifacts"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [for p in var.artifact_read_prefixes : "${local.artifacts_arn}/${p}/*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.artifact_read_prefixes) > 0 ? [1] : []

    content {
      sid       = "ArtifactsBucket"
      effect    = "Allow"
      actions   = ["s3:ListBucket"]
      resources = [local.artifacts_arn]
    }
  }

  statement {
    sid    = "Registry"
    effect = "Allow"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [var.table_arn]
  }

  statement {
    sid    = "Cdn"
    effect = "Allow"
    actions = [
      "cloudfront:CreateInvalidation",
      "cloudfront:GetDistribution",
      "cloudfront:GetInvalidation",
    ]
    resources = [var.distribution_arn]
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "gitops deploys to environment ${var.environment} (GitHub OIDC, ${var.github_org}/${var.gitops_repository})"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "gitops-deploy"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}
