"""The `baselines` pipeline."""
