"""The feature store's settings, from environment variables (the cluster) or in code (tests, notebooks).

- ``FEAST_PROJECT``: the Feast project (default ``ml_platform``).
- ``FEAST_REGISTRY`` (required): the registry. A registry server ``host:port`` (or ``grpc://host:port``;
  the cluster's is ``feast-registry.feast.svc:6570``, so pipelines never hold the database password),
  a SQL database URL (``postgresql+psycopg://...``), or a registry file (local path, ``s3://``, ``gs://``).
- ``FEAST_REGISTRY_CERT``: CA certificate of a registry server that serves TLS.
- ``REDIS_HOST``, ``REDIS_PORT`` (default 6379): the online store, Redis or a Redis-compatible managed cache.
- ``REDIS_PASSWORD``: its AUTH token. ``REDIS_SSL``: ``true`` for TLS (the managed caches).
  ``REDIS_CA``: a CA certificate file for TLS (default: the system's trust store).
- ``FEAST_ONLINE_SQLITE``: a SQLite file as the online store instead of Redis (a laptop).
- ``FEAST_OFFLINE_PATH``: the offline store's feature table, a directory of Parquet files
  (``s3://<datasets>/features/<project>/applicants/``); needed by ``apply`` only (the registry keeps it).
- ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``: an S3-compatible endpoint (MinIO, moto) for ``s3://`` paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from workloads.features.errors import SettingsError

RegistryKind = Literal["remote", "sql", "file"]

_SQL_URL = re.compile(r"^(postgresql|mysql|sqlite)(\+\w+)?://")
_HOST_PORT = re.compile(r"^(grpc://)?[A-Za-z0-9.-]+:\d{1,5}$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


def registry_kind(registry: str) -> RegistryKind:
    """What `registry` names: a registry server, a SQL database, or a registry file."""
    if _SQL_URL.match(registry):
        return "sql"
    if _HOST_PORT.match(registry):
        return "remote"
    return "file"


class RedisConnection(BaseModel):
    """A Redis (or Redis-compatible) online store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(6379, ge=1, le=65535)
    password: SecretStr | None = None
    ssl: bool = False
    ssl_ca_certs: str | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", value):
            raise ValueError("must be a host name or an IP address")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        # Feast reads the connection as one comma-separated `host:port,key=value` string.
        if value is not None and "," in value.get_secret_value():
            raise ValueError("must not contain a comma (Feast's Redis connection string separates options by commas)")
        return value

    def connection_string(self) -> str:
        """Feast's Redis `connection_string`: ``host:port,password="...",ssl=true,ssl_ca_certs="..."``.

        Values are JSON-quoted because Feast JSON-decodes each one (a bare ``1234`` or ``true``
        password would otherwise arrive as a number or a boolean).
        """
        import json

        parts = [f"{self.host}:{self.port}"]
        if self.password is not None:
            parts.append("password=" + json.dumps(self.password.get_secret_value()))
        if self.ssl:
            parts.append("ssl=true")
            if self.ssl_ca_certs:
                # a per-instance CA (Memorystore) signs only that instance's certificate, reached by IP:
                # the CA pins the server; the host name is not checked (as the feature server does,
                # components/k8s/feature_store.py)
                parts += ["ssl_ca_certs=" + json.dumps(self.ssl_ca_certs), "ssl_check_hostname=false"]
        return ",".join(parts)


class Settings(BaseModel):
    """Everything the feature-store steps need to reach the registry and the stores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = "ml_platform"
    registry: str = Field(min_length=1)
    registry_cert: str | None = None
    redis: RedisConnection | None = None
    online_sqlite: str | None = None
    offline_path: str | None = None
    s3_endpoint: str | None = None

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _PROJECT.match(value):
            raise ValueError("must be letters, digits and underscores, not starting with an underscore")
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None

    def require_offline_path(self) -> str:
        if not self.offline_path:
            raise SettingsError(
                "FEAST_OFFLINE_PATH: required (the feature table's directory, e.g. "
                "s3://<datasets>/features/<project>/applicants/)"
            )
        return self.offline_path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (`env`, default `os.environ`); a `SettingsError` names the variable."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        if not get("FEAST_REGISTRY"):
            raise SettingsError(
                "FEAST_REGISTRY: required (a registry server host:port, a postgresql+psycopg:// URL or a registry file)"
            )
        redis: dict[str, object] | None = None
        if get("REDIS_HOST"):
            redis = {"host": get("REDIS_HOST"), "ssl": _flag(get("REDIS_SSL"), "REDIS_SSL")}
            if get("REDIS_PORT"):
                redis["port"] = get("REDIS_PORT")
            if get("REDIS_PASSWORD") is not None:
                redis["password"] = env["REDIS_PASSWORD"].strip()
            if get("REDIS_CA"):
                redis["ssl_ca_certs"] = get("REDIS_CA")
        elif not get("FEAST_ONLINE_SQLITE"):
            raise SettingsError("REDIS_HOST: required (the online store; FEAST_ONLINE_SQLITE=FILE for a local one)")
        values = {
            "project": get("FEAST_PROJECT") or "ml_platform",
            "registry": get("FEAST_REGISTRY"),
            "registry_cert": get("FEAST_REGISTRY_CERT"),
            "redis": redis,
            "online_sqlite": get("FEAST_ONLINE_SQLITE"),
            "offline_path": get("FEAST_OFFLINE_PATH"),
            "s3_endpoint": get("AWS_ENDPOINT_URL_S3") or get("AWS_ENDPOINT_URL"),
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_first_error(exc)) from None


_ENV_NAMES = {
    ("project",): "FEAST_PROJECT",
    ("registry",): "FEAST_REGISTRY",
    ("registry_cert",): "FEAST_REGISTRY_CERT",
    ("online_sqlite",): "FEAST_ONLINE_SQLITE",
    ("offline_path",): "FEAST_OFFLINE_PATH",
    ("s3_endpoint",): "AWS_ENDPOINT_URL_S3",
    ("redis", "host"): "REDIS_HOST",
    ("redis", "port"): "REDIS_PORT",
    ("redis", "password"): "REDIS_PASSWORD",
    ("redis", "ssl"): "REDIS_SSL",
    ("redis", "ssl_ca_certs"): "REDIS_CA",
}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = tuple(str(part) for part in error["loc"])
    name = _ENV_NAMES.get(loc, ".".join(loc))
    message = error["msg"].removeprefix("Value error, ")
    return f"{name}: {message}"  # never the value: it may be a password or a URL with one


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: must be true or false")
