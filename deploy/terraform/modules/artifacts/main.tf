# The shared artifacts bucket: one per organisation, written by the MFE repositories' publish
# roles (artifacts/<mfe>/ each) and read by the deploy roles of the environments each MFE
# deploys to. Private, versioned, encrypted, TLS only.

module "bucket" {
  source = "../private-bucket"

  bucket_name   = var.bucket_name
  sse_algorithm = var.sse_algorithm
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  tags          = var.tags
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      module.bucket.arn,
      "${module.bucket.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = module.bucket.id
  policy = data.aws_iam_policy_document.tls_only.json
}
