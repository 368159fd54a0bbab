"""Logs, metrics and health: how the service tells operators what it is doing."""
