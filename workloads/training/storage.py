"""Data, checkpoints and outputs through fsspec: a local path, ``s3://`` or ``gs://`` (any fsspec URI).

S3 goes through s3fs/botocore, which honour the standard ``AWS_ENDPOINT_URL`` (and
``AWS_ENDPOINT_URL_S3``), so the same code runs against AWS, MinIO, moto or any S3-compatible
endpoint. Credentials come from the usual chains (IRSA / GKE workload identity on the platform).

Every failure is re-raised as a one-line `StorageError` naming the URI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from workloads.training.errors import StorageError

# Fail in seconds, not minutes, when an endpoint is unreachable; botocore's defaults are 60 s and 5 tries.
_S3_OPTIONS: dict[str, Any] = {
    "config_kwargs": {"connect_timeout": 10, "read_timeout": 120, "retries": {"max_attempts": 3, "mode": "standard"}}
}


def _options(uri: str) -> dict[str, Any]:
    return dict(_S3_OPTIONS) if uri.startswith(("s3://", "s3a://")) else {}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, PermissionError):
        return "access denied"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


@contextlib.contextmanager
def _errors(action: str, uri: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:  # fsspec backends raise OSError, botocore, aiohttp and google errors alike
        raise StorageError(f"cannot {action} {uri}: {_describe(exc)}") from exc


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    with _errors("open", uri):
        return fsspec.core.url_to_fs(uri, **_options(uri))


def is_local(uri: str) -> bool:
    return isinstance(filesystem(uri)[0], LocalFileSystem)


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with _errors("read", uri):
        return cast(bytes, fs.cat_file(path))


def read_bytes_hashed(uri: str) -> tuple[bytes, str]:
    """The file's bytes and their sha256 (the dataset content hash in the model card)."""
    data = read_bytes(uri)
    return data, hashlib.sha256(data).hexdigest()


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object atomically: a reader sees the old object, the new one, or none.

    Object stores (S3, GCS) make a single PUT atomic by themselves; on a local or mounted
    filesystem the bytes go to a temporary file in the same directory, are fsynced and renamed.
    """
    fs, path = filesystem(uri)
    with _errors("write", uri):
        if isinstance(fs, LocalFileSystem):
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        else:
            fs.pipe_file(path, data)


def upload_dir(local: Path, uri: str) -> list[str]:
    """Copy every file under `local` to `uri` (each file written atomically); returns the URIs."""
    written = []
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        target = join(uri, file.relative_to(local).as_posix())
        write_bytes(target, file.read_bytes())
        written.append(target)
    return written


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    with _errors("check", uri):
        return fs.exists(path)


def list_dirs(uri: str) -> list[str]:
    """Names of the immediate children of `uri` (files and prefixes); [] when it does not exist."""
    fs, path = filesystem(uri)
    with _errors("list", uri):
        try:
            entries = fs.ls(path, detail=False, refresh=True) if not isinstance(fs, LocalFileSystem) else fs.ls(path)
        except FileNotFoundError:
            return []
    return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)


def remove_tree(uri: str) -> None:
    fs, path = filesystem(uri)
    with _errors("delete", uri), contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


def check_writable(uri: str) -> None:
    """Fail early (before training) when the output location cannot be written."""
    probe = join(uri, ".write-probe")
    write_bytes(probe, b"ok")
    fs, path = filesystem(probe)
    with _errors("delete", probe), contextlib.suppress(FileNotFoundError):
        fs.rm_file(path)
