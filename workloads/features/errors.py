"""Errors a user can hit: each prints as one line (no traceback) and exits non-zero."""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with `exit_code`."""

    exit_code = 1


class SettingsError(FeatureStoreError):
    """A missing or invalid setting (environment variable or option) (exit status 2)."""

    exit_code = 2
