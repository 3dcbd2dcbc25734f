"""API routes (placeholder until the token module is written)."""
