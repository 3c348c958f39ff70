"""Secrets providers: where ``{{ secrets.NAME }}`` values come from."""
