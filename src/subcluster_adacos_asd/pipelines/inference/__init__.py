"""The `inference` pipeline."""
