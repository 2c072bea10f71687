"""Errors a user can hit: each one prints as a single line (no traceback) and exits non-zero."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with `exit_code`."""

    exit_code = 1


class ConfigError(TrainingError):
    """A bad config file, key or value (exit status 2)."""

    exit_code = 2


class StorageError(TrainingError):
    """Data, checkpoints or outputs cannot be read or written (exit status 4)."""

    exit_code = 4


class DataError(TrainingError):
    """The data was read but does not fit the config (missing columns, too few rows) (exit status 2)."""

    exit_code = 2


class RegistryError(TrainingError):
    """The model registry (MLflow) refused or could not be reached (exit status 5)."""

    exit_code = 5
