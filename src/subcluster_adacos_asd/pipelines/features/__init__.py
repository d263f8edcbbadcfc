"""The `features` pipeline."""
