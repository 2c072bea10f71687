"""Errors of the rollout analysis: a one-line message and the CLI's exit status."""

from __future__ import annotations


class RolloutError(Exception):
    """Prometheus or the Kubernetes API failed, or the InferenceService is not what the analysis expects."""

    exit_code = 1


class UsageError(RolloutError):
    """A bad flag or value on the command line."""

    exit_code = 2
