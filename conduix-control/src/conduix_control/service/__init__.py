"""The control plane's domain logic, used by the REST API and the leader's loop."""
