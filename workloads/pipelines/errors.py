"""Errors of the pipeline steps: one line each, and an exit status Argo (and a person) can tell apart."""

from __future__ import annotations


class PipelineError(Exception):
    exit_code = 1


class PipelineConfigError(PipelineError):
    """Missing or invalid settings (exit status 2)."""

    exit_code = 2


class GateFailedError(PipelineError):
    """A gate stopped the run (exit status 3): bad data, or a model not good or fair enough.
    Argo does not retry it and starts none of the later steps."""

    exit_code = 3
