"""Every JSON-RPC method, grouped by what it is about. ``app.py`` calls each
module's ``register`` explicitly; that list of calls is the API surface."""
