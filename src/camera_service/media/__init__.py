"""Media plane: the MediaMTX Control API client and what drives it."""
