"""Incident bulletins: declare, update, resolve; the public site, feeds and API."""
