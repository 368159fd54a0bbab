"""Registration with a service registry (etcd or the hub's HTTP aggregator): the
registrar, its backends and the document they carry."""
