"""The `embed` pipeline."""
