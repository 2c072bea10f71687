"""Account-wide prerequisites: the service-linked roles the stack's resources rely on.

A service-linked role exists once per account, created by AWS the first time the service needs it:
AWSServiceRoleForAutoScaling with the first Auto Scaling group, AWSServiceRoleForEC2Spot with the first
Spot request from the console. In a new account neither exists yet, and the platform needs both earlier:

* the EBS key's policy names AWSServiceRoleForAutoScaling (managed node groups launch through Auto
  Scaling, which must use the key for the nodes' encrypted volumes); KMS rejects a policy naming a
  principal that does not exist (MalformedPolicyDocumentException; terraform-aws-eks #3013,
  terraform-aws-kms #30), so the key must come after the role;
* Karpenter launches Spot capacity with CreateFleet, which fails with
  `AuthFailure.ServiceLinkedRoleCreationNotPermitted` while the Spot role is missing (Karpenter's
  getting-started step "add-spot-role" and troubleshooting guide).

`aws.iam.ServiceLinkedRole` fails where the role already exists ("has been taken in this account"), so
creating them is the stack's choice (`account.createServiceLinkedRoles`): off (the default), they are
account prerequisites, read before anything is created so a missing one is a one-line error naming the
command that creates it, and the EBS key is tagged with the roles it presumes; on, the stack creates them
(kept on `destroy`: other stacks and services of the account use them) and orders the key after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.karpenter import karpenter_enabled
from components.aws.kms import AccountInfo
from components.context import PlatformContext
from infra.config import Capacity

AUTOSCALING = "autoscaling.amazonaws.com"
SPOT = "spot.amazonaws.com"
ROLE_NAMES = {AUTOSCALING: "AWSServiceRoleForAutoScaling", SPOT: "AWSServiceRoleForEC2Spot"}
# The tag on a resource whose configuration presumes account prerequisites (space-separated role names).
TAG_PREREQUISITES = "ml-platform/account-prerequisites"


@dataclass(frozen=True)
class ServiceLinkedRole:
    service: str
    name: str
    arn: pulumi.Input[str]
    resource: aws.iam.ServiceLinkedRole | None  # None: an account prerequisite, not created here

    def after(self) -> list[pulumi.Resource]:
        """What a resource that relies on the role must depend on."""
        return [self.resource] if self.resource is not None else []


def needed(ctx: PlatformContext) -> list[str]:
    """The services whose service-linked roles this stack relies on."""
    spec = ctx.spec
    services = [AUTOSCALING]  # every stack has managed node groups (the system pool at least)
    if karpenter_enabled(spec) and any(pool.capacity is Capacity.spot for pool in spec.gpu_pools):
        services.append(SPOT)
    return services


def service_linked_roles(
    name: str,
    ctx: PlatformContext,
    account: AccountInfo,
    opts: pulumi.ResourceOptions,
    invoke: pulumi.InvokeOptions,
) -> dict[str, ServiceLinkedRole]:
    """The service-linked roles the stack needs: created (`account.createServiceLinkedRoles`) or read."""
    roles: dict[str, ServiceLinkedRole] = {}
    for service in needed(ctx):
        role = ROLE_NAMES[service]
        if ctx.spec.account.create_service_linked_roles:
            resource = aws.iam.ServiceLinkedRole(
                f"{name}-{service.split('.', maxsplit=1)[0]}",
                aws_service_name=service,
                description=f"{role}: created by ml-platform stack {ctx.stack}",
                tags=ctx.tags(),
                # Account-wide and used by others (other stacks, the console): never deleted by this stack.
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
            )
            roles[service] = ServiceLinkedRole(service, role, resource.arn, resource)
            continue
        try:
            found = aws.iam.get_role(name=role, opts=invoke)
        except Exception as exc:  # any failure to read it: say what is missing and how to fix it
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise pulumi.RunError(
                f"stacks/Pulumi.{ctx.stack}.yaml: platform.account.createServiceLinkedRoles: account "
                f"{account.account_id} has no {role} (an account prerequisite; {reason}): create it once with "
                f"`aws iam create-service-linked-role --aws-service-name {service}`, or set "
                "account.createServiceLinkedRoles: true"
            ) from None
        roles[service] = ServiceLinkedRole(service, role, found.arn, None)
    return roles


def prerequisite_tags(roles: list[ServiceLinkedRole]) -> dict[str, str]:
    """Tags declaring the service-linked roles a resource presumes exist (none when the stack creates them)."""
    names = sorted(r.name for r in roles if r.resource is None)
    return {TAG_PREREQUISITES: " ".join(names)} if names else {}
