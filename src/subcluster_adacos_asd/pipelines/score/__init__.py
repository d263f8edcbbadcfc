"""The `score` pipeline."""
