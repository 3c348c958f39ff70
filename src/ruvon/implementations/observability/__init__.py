"""observability providers."""
