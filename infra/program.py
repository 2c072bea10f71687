"""The Pulumi program: stack config -> `MlPlatform` -> stack outputs.

`infra/__main__.py` runs it under the Pulumi CLI; `infra.synth` runs the very same function under
mocks for `mlplat` and the tests.
"""

from __future__ import annotations

import pulumi

from components.context import PlatformContext
from components.platform import MlPlatform
from infra.config import CONFIG_KEY, PROJECT, ConfigError, PlatformSpec, parse_platform


def load_spec() -> PlatformSpec:
    """The validated spec of the current stack; a bad value is a one-line `RunError`, no traceback."""
    stack = pulumi.get_stack()
    source = f"stacks/Pulumi.{stack}.yaml"
    raw = pulumi.Config(PROJECT).get_object("platform")
    try:
        if raw is None:
            raise ConfigError(source, "", f"missing the '{CONFIG_KEY}' key under 'config:'")
        return parse_platform(raw, source)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def run() -> MlPlatform:
    spec = load_spec()
    ctx = PlatformContext(spec=spec, stack=pulumi.get_stack())
    platform = MlPlatform(spec.name, ctx)
    f = platform.foundation
    pulumi.export("cloud", f.cloud)
    pulumi.export("region", f.region)
    pulumi.export("clusterName", f.cluster_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(f.kubeconfig))
    pulumi.export("buckets", {key: ref.name for key, ref in f.buckets.items()})
    pulumi.export("registryUrls", f.registry_urls)
    pulumi.export("databaseEndpoint", pulumi.Output.concat(f.database.host, ":", f.database.port.apply(str)))
    pulumi.export("databaseSecret", f.database.password_secret)
    models = platform.services.model_deployments
    if models:
        pulumi.export("modelEndpoints", {key: m.url for key, m in models.items()})
    if f.online_store is not None:
        pulumi.export(
            "onlineStoreEndpoint", pulumi.Output.concat(f.online_store.host, ":", f.online_store.port.apply(str))
        )
        pulumi.export("onlineStoreSecret", f.online_store.auth_secret)
    feature_store = getattr(platform.services, "feature_store", None)
    if feature_store is not None:
        pulumi.export(
            "featureStore",
            {"featureServer": feature_store.feature_server_url, "registry": feature_store.registry_address},
        )
    pipelines = platform.services.training_pipelines
    if pipelines:
        pulumi.export(
            "pipelines", {key: {"template": p.template_name, "schedule": p.schedule} for key, p in pipelines.items()}
        )
    pulumi.export(
        "gpuPools",
        [
            {
                "name": p.name,
                "accelerator": p.accelerator,
                "machineType": p.machine_type,
                "gpusPerNode": p.gpus_per_node,
                "capacity": p.capacity,
                "minNodes": p.min_nodes,
                "maxNodes": p.max_nodes,
            }
            for p in f.gpu_pools
        ],
    )
    return platform
