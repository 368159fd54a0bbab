"""The service among others: registration with a service registry (etcd or the hub's
HTTP aggregator), capability and capacity advertisement, resource limits."""
