variable "create" {
  type        = bool
  description = "true: create the IAM OIDC provider for https://token.actions.githubusercontent.com. false: look up the one that already exists in the account (an account holds at most one provider per URL)."
  default     = true
}

variable "thumbprints" {
  type        = list(string)
  description = "Server certificate thumbprints of the issuer. AWS no longer checks them for GitHub's issuer (it trusts its own CA store), but older API versions require at least one; the defaults are GitHub's published ones."
  default = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]

  validation {
    condition     = length(var.thumbprints) >= 1 && alltrue([for t in var.thumbprints : can(regex("^[0-9a-fA-F]{40}$", t))])
    error_message = "thumbprints must hold at least one 40-hex-digit SHA-1 thumbprint."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of the created provider (unused when create = false)."
  default     = {}
}
