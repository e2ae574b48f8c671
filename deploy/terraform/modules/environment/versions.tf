terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
      # CloudFront only accepts ACM certificates from us-east-1: the certificate of the
      # optional custom domain is created through this alias (pass the default provider
      # again when the whole stack is in us-east-1).
      configuration_aliases = [aws.us_east_1]
    }
  }
}
