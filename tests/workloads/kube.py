"""An HTTP server playing the Kubernetes API for InferenceServices (get and JSON merge patch), which the
official client talks to: the pipeline's rollout step and the rollout analysis patch it."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.workloads.conftest import LOOPBACK

ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, what the API server applies for application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class KubeApi:
    """InferenceServices by path; `requests` records (method, path, content type) of every call."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {
            ISVC_PATH.format(namespace=o["metadata"]["namespace"], name=o["metadata"]["name"]): copy.deepcopy(o)
            for o in objects
        }
        self.requests: list[tuple[str, str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self) -> None:
                self._send(404, {"kind": "Status", "reason": "NotFound", "code": 404})

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path, ""))
                if self.path not in api.objects:
                    self._not_found()
                    return
                self._send(200, api.objects[self.path])

            def do_PATCH(self) -> None:
                api.requests.append(("PATCH", self.path, self.headers.get("Content-Type", "")))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path not in api.objects:
                    self._not_found()
                    return
                api.objects[self.path] = merge_patch(api.objects[self.path], body)
                self._send(200, api.objects[self.path])

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def isvc(self) -> dict[str, Any]:
        """The first InferenceService served."""
        return next(iter(self.objects.values()))

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(ISVC_PATH.format(namespace=namespace, name=name))

    def patches(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "PATCH"]

    def client(self) -> Any:
        """workloads.rollouts' KubernetesApi (the official client) talking to this server."""
        from kubernetes import client

        from workloads.rollouts.inferenceservice import KubernetesApi

        return KubernetesApi(client.ApiClient(client.Configuration(host=self.url)))

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig file pointing at this server (for the CLIs run as processes)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            "current-context": "test",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
