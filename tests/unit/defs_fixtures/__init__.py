"""Importable step functions and models that the definition tests name by dotted path."""
