"""The KServe InferenceService as the rollouts see it: its candidate, and the JSON merge patches that
make, move and remove a canary. The Kubernetes calls go through the official client with in-cluster
credentials (a service account that may get and patch InferenceServices of its own namespace only)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, cast

from workloads.rollouts.errors import RolloutError

API_GROUP, API_VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
# kept equal to components/k8s/governance.py ANN_CANARY_VERSION and model_deployment.py VERSION_LABEL
CANARY_ANNOTATION = "ml-platform/canary-model-version"
VERSION_LABEL = "ml-platform/model-version"
SHADOW_SUFFIX = "-shadow"  # the shadow of <model> is the InferenceService <model>-shadow
AUTOSCALING_FIELDS = ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "autoScaling")


@dataclass(frozen=True)
class Candidate:
    """The version under analysis: a canary (`traffic_percent` of the requests) or a shadow (none)."""

    kind: Literal["canary", "shadow"]
    version: str
    predictor: str  # the canary's predictor name, or the shadow's InferenceService
    traffic_percent: int
    storage_uri: str = ""  # what it serves (the stack change of a promotion names it)


def predictor_version(predictor: dict[str, Any]) -> str:
    return str(predictor.get("labels", {}).get(VERSION_LABEL, "unknown"))


def _storage_uri(predictor: dict[str, Any]) -> str:
    return str((predictor.get("model") or {}).get("storageUri", ""))


def find_candidate(isvc: dict[str, Any], shadow: dict[str, Any] | None) -> Candidate | None:
    """The InferenceService's canary (the first of `spec.canary`) or else its shadow; None: only stable."""
    canaries = isvc.get("spec", {}).get("canary") or []
    if canaries:
        first = canaries[0]
        predictor = first.get("predictor", {})
        return Candidate(
            "canary",
            predictor_version(predictor),
            str(predictor.get("name", "")),
            int(first.get("trafficPercent", 0)),
            _storage_uri(predictor),
        )
    if shadow is not None:
        predictor = shadow.get("spec", {}).get("predictor", {})
        return Candidate(
            "shadow", predictor_version(predictor), str(shadow["metadata"]["name"]), 0, _storage_uri(predictor)
        )
    return None


def canary_patch(isvc: dict[str, Any], storage_uri: str, version: str, percent: int) -> dict[str, Any]:
    """The JSON merge patch that makes `version` the canary of `isvc`: the stable predictor's pod
    fields (service account, node placement, logger, security context), the new model, no autoscaling
    fields (KServe refuses them on a canary), `percent` of the traffic."""
    stable = isvc.get("spec", {}).get("predictor")
    if not isinstance(stable, dict):
        raise RolloutError(f"InferenceService {isvc.get('metadata', {}).get('name')} has no spec.predictor")
    predictor = {k: copy.deepcopy(v) for k, v in stable.items() if k not in AUTOSCALING_FIELDS}
    predictor["name"] = f"v{version}"
    predictor["labels"] = {**predictor.get("labels", {}), VERSION_LABEL: str(version)}
    if "model" in predictor:
        predictor["model"]["storageUri"] = storage_uri
    else:
        raise RolloutError("the model deployment serves a custom image: roll the new version out by hand")
    if predictor["name"] == stable.get("name"):
        raise RolloutError(f"version {version} is already the stable predictor")
    return {
        "metadata": {"annotations": {CANARY_ANNOTATION: str(version)}},
        "spec": {"canary": [{"trafficPercent": percent, "predictor": predictor}]},
    }


def traffic_patch(isvc: dict[str, Any], percent: int) -> dict[str, Any]:
    """The canary at `percent` of the traffic (a merge patch replaces the whole `spec.canary` list)."""
    canaries = copy.deepcopy(isvc.get("spec", {}).get("canary") or [])
    if not canaries:
        raise RolloutError(f"InferenceService {isvc.get('metadata', {}).get('name')} has no canary")
    canaries[0]["trafficPercent"] = percent
    return {"spec": {"canary": canaries}}


def remove_canary_patch() -> dict[str, Any]:
    """All traffic back to the stable predictor; KServe deletes the canary's Deployment."""
    return {"metadata": {"annotations": {CANARY_ANNOTATION: None}}, "spec": {"canary": None}}


class KubernetesApi:
    """get and merge-patch of InferenceServices, through the official client (in a pod: its service
    account; elsewhere: the kubeconfig)."""

    def __init__(self, client: Any = None) -> None:
        from kubernetes import client as k8s_client

        if client is None:
            from kubernetes import config as k8s_config

            try:  # a pod's service account, else the kubeconfig (KUBECONFIG, ~/.kube/config)
                k8s_config.load_incluster_config()
            except k8s_config.ConfigException:
                k8s_config.load_kube_config()
            client = k8s_client.ApiClient()
        self._api = k8s_client.CustomObjectsApi(client)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._api.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name)
        )

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The InferenceService, or None where there is none (404)."""
        try:
            return self.get(namespace, name)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # a dict body goes as application/merge-patch+json (lists, like spec.canary, are replaced)
        return cast(
            dict[str, Any],
            self._api.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name, body),
        )


def api_error(exc: Exception) -> str:
    """The client's ApiException and connection errors as one line."""
    reason = getattr(exc, "reason", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    status = getattr(exc, "status", None)
    return f"{status or ''} {reason}".strip()
