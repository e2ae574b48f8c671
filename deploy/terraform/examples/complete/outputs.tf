output "gitops" {
  description = "Everything `gitops init --from-terraform` needs: region, the environments in promotion order (gitops.yaml targets and the deploy role), and the MFEs (artifact template and role ARNs)."

  value = {
    region = var.region
    environments = [
      for e in var.environments : {
        name       = e
        storage    = module.environment[e].storage
        registry   = module.environment[e].registry
        cdn        = module.environment[e].cdn
        public_url = module.environment[e].public_url
        role_arn   = module.deploy_role[e].role_arn
      }
    ]
    mfes = [
      for m in var.mfes : {
        name                   = m.name
        repository             = m.repository
        artifact               = module.publish_role[m.name].artifact
        publish_role_arn       = module.publish_role[m.name].publish_role_arn
        artifact_read_role_arn = module.publish_role[m.name].artifact_read_role_arn
      }
    ]
  }

  precondition {
    condition     = alltrue([for m in var.mfes : alltrue([for e in m.environments : contains(var.environments, e)])])
    error_message = "Every MFE's environments must be among var.environments."
  }
}
