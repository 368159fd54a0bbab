"""Who is calling: JWTs, API keys, roles, rate limits and the audit trail."""
