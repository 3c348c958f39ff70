"""Provider implementations at the import paths of the public API."""
