# Two roles per MFE repository, both limited to artifacts/<mfe>/* in the artifacts bucket:
# - publish: `mfe publish` in CI on the default branch or a v* tag writes the archive, its
#   .sha256 and .provenance.json (MFE_PUBLISH_ROLE_ARN);
# - artifact-reader: the MFE's CD jobs, running in GitHub environments named like the GitOps
#   environments, read what publish wrote (MFE_ARTIFACT_READ_ROLE_ARN).

locals {
  issuer        = "token.actions.githubusercontent.com"
  artifacts_arn = "arn:aws:s3:::${var.artifacts_bucket_name}/artifacts/${var.mfe_name}/*"
}

data "aws_iam_policy_document" "publish_trust" {
  statement {
    sid     = "GitHubDefaultBranchAndReleaseTags"
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

    condition {
      test     = "StringLike"
      variable = "${local.issuer}:sub"
      values = [
        "repo:${var.repository}:ref:refs/heads/${var.default_branch}",
        "repo:${var.repository}:ref:refs/tags/v*",
      ]
    }
  }
}

data "aws_iam_policy_document" "publish" {
  statement {
    sid       = "Artifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.artifacts_arn]
  }
}

data "aws_iam_policy_document" "read_trust" {
  statement {
    sid     = "GitHubEnvironments"
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

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [for e in var.environments : "repo:${var.repository}:environment:${e}"]
    }
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    sid       = "Artifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.artifacts_arn]
  }
}

resource "aws_iam_role" "publish" {
  name                 = var.publish_role_name
  description          = "mfe publish of ${var.mfe_name} from ${var.repository} (default branch and v* tags)"
  assume_role_policy   = data.aws_iam_policy_document.publish_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "publish" {
  name   = "mfe-publish"
  role   = aws_iam_role.publish.id
  policy = data.aws_iam_policy_document.publish.json
}

resource "aws_iam_role" "read" {
  name                 = var.artifact_read_role_name
  description          = "CD jobs of ${var.repository} read ${var.mfe_name}'s artifacts and provenance"
  assume_role_policy   = data.aws_iam_policy_document.read_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "read" {
  name   = "mfe-artifact-read"
  role   = aws_iam_role.read.id
  policy = data.aws_iam_policy_document.read.json
}
