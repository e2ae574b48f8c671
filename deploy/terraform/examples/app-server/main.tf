# `gitops serve` as a GitHub App on ECS Fargate (modules/app-server), in the default VPC unless
# told otherwise. Separate from examples/complete: that one is the hosting the server deploys
# into; give its deploy roles' policies to this one through deploy_policy_jsons.

data "aws_vpc" "default" {
  count   = var.vpc_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.subnet_ids == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [local.vpc_id]
  }
}

locals {
  vpc_id     = var.vpc_id == null ? data.aws_vpc.default[0].id : var.vpc_id
  subnet_ids = var.subnet_ids == null ? data.aws_subnets.default[0].ids : var.subnet_ids
}

module "app_server" {
  source = "../../modules/app-server"

  name                        = var.name
  image                       = var.image
  desired_count               = var.desired_count
  vpc_id                      = local.vpc_id
  subnet_ids                  = local.subnet_ids
  assign_public_ip            = var.vpc_id == null
  certificate_arn             = var.certificate_arn
  public_url                  = var.public_url
  gitops_repository           = var.gitops_repository
  github_api_url              = var.github_api_url
  app_id                      = var.app_id
  deploy_policy_jsons         = var.deploy_policy_jsons
  max_receive_count           = var.max_receive_count
  secret_recovery_window_days = var.secret_recovery_window_days
  log_retention_days          = var.log_retention_days
}
