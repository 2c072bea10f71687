"""`MlPlatform`: the one cloud-neutral entry point.

It picks the foundation for the stack's cloud; later layers (Kubernetes services, model registry,
serving, training) are composed here from `Foundation` alone, never from a cloud SDK.
"""

from __future__ import annotations

import pulumi

from components.context import PlatformContext
from components.foundation import Foundation


def build_foundation(name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions) -> Foundation:
    if ctx.spec.cloud == "aws":
        from components.aws import AwsFoundation

        return AwsFoundation(name, ctx, opts=opts)
    if ctx.spec.cloud == "gcp":
        from components.gcp import GcpFoundation

        return GcpFoundation(name, ctx, opts=opts)
    raise pulumi.RunError(f"cloud '{ctx.spec.cloud}' has no foundation in this version")


class MlPlatform(pulumi.ComponentResource):
    foundation: Foundation

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:platform:MlPlatform", name, None, opts)
        self.ctx = ctx
        self.foundation = build_foundation(f"{name}-{ctx.spec.cloud}", ctx, pulumi.ResourceOptions(parent=self))
        from components.k8s.services import PlatformServices

        self.services = PlatformServices(f"{name}-services", ctx, self.foundation, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"cluster_name": self.foundation.cluster_name})
