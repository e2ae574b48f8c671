# Testing only (see moto_variables.tf): an override file that points both aws providers of
# examples/complete at moto. Terraform merges it into the provider blocks of the same name and
# alias; nothing else of the example changes.

provider "aws" {
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    acm        = var.moto_endpoint
    cloudfront = var.moto_endpoint
    dynamodb   = var.moto_endpoint
    iam        = var.moto_endpoint
    route53    = var.moto_endpoint
    s3         = var.moto_endpoint
    sts        = var.moto_endpoint
  }
}

provider "aws" {
  alias                       = "us_east_1"
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    acm        = var.moto_endpoint
    cloudfront = var.moto_endpoint
    dynamodb   = var.moto_endpoint
    iam        = var.moto_endpoint
    route53    = var.moto_endpoint
    s3         = var.moto_endpoint
    sts        = var.moto_endpoint
  }
}
