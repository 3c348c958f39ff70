"""execution providers."""
