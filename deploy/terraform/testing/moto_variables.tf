# Testing only: copy this file and moto_override.tf next to examples/complete's files (in a
# temporary copy, never in the checkout) to apply the example against a moto server.

variable "moto_endpoint" {
  type        = string
  description = "Base URL of the moto server, e.g. http://127.0.0.1:5077."
}
