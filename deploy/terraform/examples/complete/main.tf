# The whole hosting stack of mfe-gitops: per environment a bucket, registry table,
# distribution and deploy role; one artifacts bucket; per MFE repository a publish role and an
# artifact-reader role; GitHub's OIDC provider. The output `gitops` is what
# `gitops init --from-terraform` reads.

locals {
  # For each environment, the artifact prefixes of the MFEs that deploy to it.
  artifact_prefixes = {
    for e in var.environments : e => [
      for m in var.mfes : "artifacts/${m.name}" if contains(m.environments, e)
    ]
  }
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  create = var.create_oidc_provider
}

module "artifacts" {
  source = "../../modules/artifacts"

  bucket_name   = "${var.name_prefix}-artifacts"
  sse_algorithm = var.sse_algorithm
  force_destroy = var.force_destroy
}

module "environment" {
  source   = "../../modules/environment"
  for_each = toset(var.environments)

  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                 = each.key
  bucket_name          = "${var.name_prefix}-${each.key}-site"
  storage_prefix       = var.storage_prefix
  table_name           = "${var.name_prefix}-${each.key}-registry"
  deletion_protection  = var.deletion_protection
  force_destroy        = var.force_destroy
  sse_algorithm        = var.sse_algorithm
  price_class          = var.price_class
  cors_allowed_origins = var.cors_allowed_origins
  domain_name          = lookup(var.domain_names, each.key, null)
  route53_zone_id      = var.route53_zone_id
  wait_for_deployment  = var.wait_for_deployment
}

module "deploy_role" {
  source   = "../../modules/deploy-role"
  for_each = toset(var.environments)

  environment            = each.key
  role_name              = "${var.name_prefix}-deploy-${each.key}"
  github_org             = var.github_org
  gitops_repository      = var.gitops_repository
  oidc_provider_arn      = module.github_oidc.arn
  bucket_name            = module.environment[each.key].bucket_name
  storage_prefix         = var.storage_prefix
  table_arn              = module.environment[each.key].table_arn
  distribution_arn       = module.environment[each.key].distribution_arn
  artifacts_bucket_name  = module.artifacts.bucket_name
  artifact_read_prefixes = local.artifact_prefixes[each.key]
}

module "publish_role" {
  source   = "../../modules/publish-role"
  for_each = { for m in var.mfes : m.name => m }

  mfe_name                = each.key
  repository              = each.value.repository
  default_branch          = each.value.default_branch
  environments            = each.value.environments
  artifacts_bucket_name   = module.artifacts.bucket_name
  oidc_provider_arn       = module.github_oidc.arn
  publish_role_name       = "${var.name_prefix}-publish-${each.key}"
  artifact_read_role_name = "${var.name_prefix}-artifact-read-${each.key}"
}
