"""The API: JSON-RPC framing and dispatch, the method registry, WebSocket and HTTP."""
