"""Thin absl command-line wrappers, one module per command."""
