"""The API: JSON-RPC framing and dispatch, the method table, WebSocket and HTTP."""
