"""Structured logs: one JSON object per line on stdout (uvicorn's own loggers included)."""

from __future__ import annotations

import datetime
import logging
import sys
from typing import Any

import orjson

# LogRecord attributes that are not event fields (uvicorn adds a colourised copy of its messages)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "fields", "color_message"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}``; fields come from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def adopt(prefix: str) -> None:
    """Route a library's loggers (torch installs its own stderr handlers) through the JSON handler."""
    manager = logging.Logger.manager
    for name in [prefix, *(n for n in list(manager.loggerDict) if n.startswith(prefix + "."))]:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
