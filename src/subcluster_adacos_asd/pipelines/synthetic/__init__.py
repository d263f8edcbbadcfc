"""The `synthetic` pipeline."""
