"""Errors: start-up errors a user can cause (one line, non-zero exit) and per-request client errors."""

from __future__ import annotations


class ServingError(Exception):
    """A start-up error the user can fix: the CLI prints ``error: <message>`` and exits with `exit_code`."""

    exit_code = 1


class UsageError(ServingError):
    """Bad flags or environment (exit status 2)."""

    exit_code = 2


class ModelError(ServingError):
    """The model directory was read but does not hold a usable artifact (exit status 3)."""

    exit_code = 3


class ModelStorageError(ServingError):
    """The model directory cannot be read: missing, unreachable, no credentials (exit status 4)."""

    exit_code = 4


class RequestError(Exception):
    """A client error: answered with `status` and ``{"error": message}``, never a 5xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
