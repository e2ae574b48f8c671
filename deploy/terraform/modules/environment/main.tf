# One GitOps environment: storage bucket (CloudFront's private origin), registry table, and
# the CloudFront distribution that serves the bucket.
#
# Storage prefix and origin path: gitops writes the environment's files under
# s3://BUCKET/PREFIX/ (mfe/<name>/<version>/..., the aliases mfe/<name>/<entry>, and
# importmap.json). The distribution's origin_path is "/PREFIX", so the public URL path
# /mfe/checkout/1.2.0/remoteEntry.js is read from s3://BUCKET/PREFIX/mfe/checkout/1.2.0/remoteEntry.js.
# Invalidation paths are distribution paths: gitops invalidates /importmap.json and
# /mfe/<name>/<entry>, never with the prefix.
#
# CORS for module federation: the bucket's CORS configuration answers it, and every cache
# behaviour forwards the CORS request headers (Origin, Access-Control-Request-Method,
# Access-Control-Request-Headers) to the origin and keys the cache on them, so each origin
# gets its own Access-Control-Allow-Origin answer. (A CloudFront response headers policy would
# do the same at the edge; it is not used so that this module applies unchanged on moto,
# which has no response-headers or cache policy API, and on AWS.)

locals {
  origin_id   = "storage"
  origin_path = var.storage_prefix == null ? "" : "/${var.storage_prefix}"
  # What the CDN serves: the versions and aliases under mfe/ and the import map. Nothing else
  # under the storage root (gitops keeps its stage events under metrics/) is readable by it.
  root_arn    = var.storage_prefix == null ? module.bucket.arn : "${module.bucket.arn}/${var.storage_prefix}"
  served_arns = ["${local.root_arn}/mfe/*", "${local.root_arn}/importmap.json"]

  custom_domain   = var.domain_name != null
  create_cert     = local.custom_domain && var.acm_certificate_arn == null
  certificate_arn = local.custom_domain ? (local.create_cert ? aws_acm_certificate_validation.this[0].certificate_arn : var.acm_certificate_arn) : null

  cors_headers = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"]
  methods      = ["GET", "HEAD", "OPTIONS"]

  tags = merge(var.tags, { "mfe-gitops:environment" = var.name })
}

# ---------------------------------------------------------------- storage bucket

module "bucket" {
  source = "../private-bucket"

  bucket_name   = var.bucket_name
  sse_algorithm = var.sse_algorithm
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_cors_configuration" "this" {
  bucket = module.bucket.id

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = var.cors_max_age_seconds
  }
}

# Only this distribution may read, and only objects (under the prefix): no listing, no
# writes. Through CloudFront a missing file is therefore a 403, not a 404.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "CloudFrontRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = local.served_arns

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = module.bucket.id
  policy = data.aws_iam_policy_document.bucket.json
}

# ---------------------------------------------------------------- registry table

resource "aws_dynamodb_table" "registry" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # The history is the deploy audit trail next to git: keep it recoverable.
  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection
  tags                        = local.tags
}

# ---------------------------------------------------------------- custom domain (optional)

resource "aws_acm_certificate" "this" {
  count    = local.create_cert ? 1 : 0
  provider = aws.us_east_1

  domain_name       = var.domain_name
  validation_method = "DNS"
  tags              = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = local.create_cert && var.route53_zone_id != null ? {
    for o in aws_acm_certificate.this[0].domain_validation_options : o.domain_name => o
  } : {}

  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count    = local.create_cert ? 1 : 0
  provider = aws.us_east_1

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = var.route53_zone_id == null ? null : [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_route53_record" "alias" {
  for_each = local.custom_domain && var.route53_zone_id != null ? toset(["A", "AAAA"]) : toset([])

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.this.domain_name
    zone_id                = aws_cloudfront_distribution.this.hosted_zone_id
    evaluate_target_health = false
  }
}

# ---------------------------------------------------------------- CDN

resource "aws_cloudfront_origin_access_control" "this" {
  name                              = var.bucket_name
  description                       = "gitops environment ${var.name}: CloudFront reads ${var.bucket_name}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "this" {
  enabled             = true
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  comment             = "gitops environment ${var.name}"
  price_class         = var.price_class
  aliases             = local.custom_domain ? [var.domain_name] : []
  wait_for_deployment = var.wait_for_deployment
  tags                = local.tags

  origin {
    origin_id                = local.origin_id
    domain_name              = module.bucket.regional_domain_name
    origin_path              = local.origin_path
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  # Versioned files, mfe/<name>/<version>/...: write-once, the origin sends
  # `public, max-age=31536000, immutable` for content-hashed names, which CloudFront honours
  # up to max_ttl (one year). Unhashed files there carry the short policy and are kept for
  # what the origin says.
  ordered_cache_behavior {
    path_pattern           = "mfe/*/*.*.*/*"
    target_origin_id       = local.origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = local.methods
    cached_methods         = local.methods
    compress               = true
    min_ttl                = 0
    default_ttl            = 86400
    max_ttl                = 31536000

    forwarded_values {
      query_string = false
      headers      = local.cors_headers

      cookies {
        forward = "none"
      }
    }
  }

  # The import map: short-lived (the origin sends `public, max-age=60, must-revalidate`), and
  # invalidated by every deploy.
  ordered_cache_behavior {
    path_pattern           = "importmap.json"
    target_origin_id       = local.origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = local.methods
    cached_methods         = local.methods
    compress               = true
    min_ttl                = 0
    default_ttl            = var.short_ttl_seconds
    max_ttl                = var.short_ttl_seconds

    forwarded_values {
      query_string = false
      headers      = local.cors_headers

      cookies {
        forward = "none"
      }
    }
  }

  # Everything else, chiefly the entry-point aliases mfe/<name>/<entry>: short-lived like the
  # import map, invalidated by the deploy that moves them.
  default_cache_behavior {
    target_origin_id       = local.origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = local.methods
    cached_methods         = local.methods
    compress               = true
    min_ttl                = 0
    default_ttl            = var.short_ttl_seconds
    max_ttl                = var.short_ttl_seconds

    forwarded_values {
      query_string = false
      headers      = local.cors_headers

      cookies {
        forward = "none"
      }
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.custom_domain
    acm_certificate_arn            = local.certificate_arn
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.custom_domain ? "TLSv1.2_2021" : "TLSv1"
  }
}
