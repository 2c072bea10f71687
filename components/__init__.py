"""Reusable Pulumi components of the ML platform blueprint."""
