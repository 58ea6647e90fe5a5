"""Pipelines: recipes that chain the same step functions the CLI commands call."""
