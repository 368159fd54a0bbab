"""Recordings: MediaMTX's native recorder, its segment hooks, and the files it writes."""
