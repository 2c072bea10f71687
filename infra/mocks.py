"""Realistic mock outputs for offline synthesis.

Under `pulumi.runtime.set_mocks` every resource and every lookup the program makes is answered
here, with what the cloud would return: ids in the cloud's format, ARNs, endpoints, OIDC issuers,
availability zones. Values are derived from a hash of the resource name, so two syntheses of the
same stack are identical (plans diff cleanly). A lookup with no mock is an error, never `{}`: an
empty answer would make the program index into nothing and fail far from the cause.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from collections.abc import Callable
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
GCP_PROJECT_NUMBER = "987654321098"
_AZ_LETTERS = "abcdef"


def _hex(name: str, n: int) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def _uuid(name: str) -> str:
    h = _hex(name, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class LookupFailedError(Exception):
    """A lookup the mocked cloud answers with an error (a missing role), as the provider would."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class PlatformMocks(pulumi.runtime.Mocks):
    """Mocks for the AWS, GCP and Kubernetes resources and lookups the platform uses."""

    def __init__(self, region: str, project: str | None = None, account_id: str | None = None) -> None:
        self.region = region
        # The stack's own account where its config pins one (`aws:allowedAccountIds`), so that a stack about to
        # be deployed shows its real ARNs offline; else the documentation's example account.
        self.account_id = account_id or ACCOUNT_ID
        self.project = project or "ml-platform-project"
        self._resources: dict[str, Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/launchTemplate:LaunchTemplate": self._launch_template,
            "aws:ec2/eip:Eip": self._eip,
            "aws:eks/cluster:Cluster": self._eks_cluster,
            "aws:eks/nodeGroup:NodeGroup": self._node_group,
            "aws:eks/addon:Addon": self._addon,
            "aws:iam/role:Role": self._iam_role,
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": self._oidc_provider,
            "aws:kms/key:Key": self._kms_key,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:ecr/repository:Repository": self._ecr_repository,
            "aws:rds/instance:Instance": self._rds_instance,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:elasticache/replicationGroup:ReplicationGroup": self._replication_group,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:iam/serviceLinkedRole:ServiceLinkedRole": self._service_linked_role,
            "random:index/randomPassword:RandomPassword": self._random_password,
        }
        # AWS resources whose id has a typed prefix (vpc-..., subnet-...).
        self._id_prefixes = {
            "aws:ec2/subnet:Subnet": "subnet",
            "aws:ec2/internetGateway:InternetGateway": "igw",
            "aws:ec2/natGateway:NatGateway": "nat",
            "aws:ec2/routeTable:RouteTable": "rtb",
            "aws:ec2/route:Route": "r-rtb",
            "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
            "aws:ec2/securityGroup:SecurityGroup": "sg",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
            "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
            "aws:ec2/flowLog:FlowLog": "fl",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
        }

    # Zones where a machine type is not offered, for tests of the zone checks: {machine: {zone, ...}}.
    # The mocks offer every machine in every zone unless a test says otherwise.
    unavailable: dict[str, set[str]] = {}
    # The AZ ids behind a region's zone names, for tests of the zone choice: {region: [id per zone a, b, ...]}.
    # The name -> id mapping differs per account; by default zone N is `<region code>-az<N>`, skipping the
    # ids EKS refuses (use1-az3, usw1-az2, cac1-az3) so the reference stacks keep their first zones.
    zone_ids: dict[str, list[str]] = {}
    # The identity running the program (getCallerIdentity), for tests of who gets cluster-admin.
    caller_arn: str = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-deployer/mlplat"
    # IAM roles the mocked account lacks (getRole fails for them), for tests of account prerequisites.
    missing_roles: set[str] = set()

    def not_offered(self, machine: str) -> set[str]:
        return PlatformMocks.unavailable.get(machine, set())

    # -- the Mocks interface ---------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if not args.custom:
            return None, inputs
        handler = self._resources.get(args.typ)
        if handler is not None:
            return handler(args.name, inputs)
        prefix = self._id_prefixes.get(args.typ)
        if prefix:
            rid = f"{prefix}-{_hex(args.typ + args.name, 17)}"
            return rid, {**inputs, "arn": self._arn(args.typ, rid), "ownerId": self.account_id}
        if args.typ.startswith("aws:"):
            return self._generic_aws(args.typ, args.name, inputs)
        if args.typ.startswith("gcp:"):
            from infra import mocks_gcp

            return mocks_gcp.new_resource(self, args.typ, args.name, inputs)
        return f"{args.name}-{_hex(args.typ + args.name, 8)}", inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        try:
            return self._call(args), []
        except LookupFailedError as failure:  # the provider's answer: the invoke fails, the program may catch it
            return {}, [(failure.field, failure.reason)]

    def _call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # noqa: PLR0911 (a switch)
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": PlatformMocks.caller_arn.replace(f"::{ACCOUNT_ID}:", f"::{self.account_id}:"),
                "userId": "AROAEXAMPLEPLATFORM:mlplat",
                "id": self.account_id,
            }
        if token == "aws:iam/getSessionContext:getSessionContext":
            return _session_context(str(args.args["arn"]))
        if token == "aws:iam/getRole:getRole":
            return self._get_role(str(args.args["name"]))
        if token == "aws:index/getPartition:getPartition":
            return _partition(self.region)
        if token == "aws:index/getRegion:getRegion":
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = [f"{self.region}{c}" for c in _AZ_LETTERS[:4]]
            return {
                "names": zones,
                "zoneIds": self._zone_ids(len(zones)),
                "id": self.region,
                "groupNames": [self.region],
            }
        if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            machine = args.args["filters"][0]["values"][0]
            zones = [
                f"{self.region}{c}" for c in _AZ_LETTERS[:4] if f"{self.region}{c}" not in self.not_offered(machine)
            ]
            return {
                "id": self.region,
                "locations": zones,
                "locationTypes": ["availability-zone"] * len(zones),
                "instanceTypes": [machine] * len(zones),
            }
        if token == "aws:ec2/getSubnet:getSubnet":
            return self._get_subnet(str(args.args["id"]))
        if token == "aws:ec2/getVpc:getVpc":
            vpc_id = args.args.get("id", "vpc-0existing")
            return {
                "id": vpc_id,
                "arn": f"arn:aws:ec2:{self.region}:{self.account_id}:vpc/{vpc_id}",
                "cidrBlock": "10.20.0.0/16",
                "state": "available",
            }
        if token.startswith("gcp:"):
            from infra import mocks_gcp

            return mocks_gcp.call(self, token, dict(args.args))
        raise NotImplementedError(f"offline synthesis has no mock for the lookup {token}; add one in infra/mocks.py")

    # -- AWS ---------------------------------------------------------------------------------------

    def _zone_ids(self, count: int) -> list[str]:
        if self.region in PlatformMocks.zone_ids:
            return PlatformMocks.zone_ids[self.region][:count]
        code = _region_code(self.region)
        refused = {"use1-az3", "usw1-az2", "cac1-az3"}
        ids = [f"{code}-az{n}" for n in range(1, count + 2) if f"{code}-az{n}" not in refused]
        return ids[:count]

    def _get_subnet(self, subnet_id: str) -> dict[str, Any]:
        """An existing subnet, in the zone its id hashes to (or the zone id a test puts in `zone_ids`)."""
        ids = self._zone_ids(4)
        i = int(_hex(subnet_id, 4), 16) % len(ids)
        return {
            "id": subnet_id,
            "arn": f"arn:aws:ec2:{self.region}:{self.account_id}:subnet/{subnet_id}",
            "availabilityZone": f"{self.region}{_AZ_LETTERS[i]}",
            "availabilityZoneId": ids[i],
            "vpcId": "vpc-0existing",
            "cidrBlock": f"10.20.{i * 64}.0/18",
            "state": "available",
        }

    def _get_role(self, name: str) -> dict[str, Any]:
        if name in PlatformMocks.missing_roles:
            raise LookupFailedError("name", f"reading IAM Role ({name}): couldn't find resource")
        service = next((s for s, role in SERVICE_LINKED_ROLES.items() if role == name), None)
        path = f"/aws-service-role/{service}/" if service else "/"
        arn = f"arn:{_partition(self.region)['partition']}:iam::{self.account_id}:role{path}{name}"
        return {"id": name, "name": name, "arn": arn, "path": path, "uniqueId": f"AROA{_hex(name, 17).upper()}"}

    def _service_linked_role(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        service = str(inputs.get("awsServiceName", ""))
        role = SERVICE_LINKED_ROLES.get(service, f"AWSServiceRoleFor{service.split('.', maxsplit=1)[0].title()}")
        if inputs.get("customSuffix"):
            role = f"{role}_{inputs['customSuffix']}"
        path = f"/aws-service-role/{service}/"
        arn = f"arn:{_partition(self.region)['partition']}:iam::{self.account_id}:role{path}{role}"
        return arn, {**inputs, "arn": arn, "name": role, "path": path, "uniqueId": f"AROA{_hex(name, 17).upper()}"}

    def _arn(self, typ: str, rid: str) -> str:
        service = typ.split(":")[1].split("/", maxsplit=1)[0]
        kind = typ.rsplit(":", 1)[1].lower()
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{kind}/{rid}"

    def _generic_aws(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rid = inputs.get("name") or f"{name}-{_hex(typ + name, 7)}"
        state = {"arn": self._arn(typ, rid), **inputs}
        if "namePrefix" in inputs and "name" not in inputs:
            state["name"] = f"{inputs['namePrefix']}{_hex(name, 26)}"
            rid = state["name"]
        if "identifierPrefix" in inputs:
            state["identifier"] = f"{inputs['identifierPrefix']}{_hex(name, 20)}"
        return rid, state

    def _auto_name(self, name: str, inputs: dict[str, Any]) -> str:
        if inputs.get("name"):
            return inputs["name"]
        if inputs.get("namePrefix"):
            return f"{inputs['namePrefix']}{_hex(name, 26)}"
        return f"{name}-{_hex(name, 7)}"

    def _vpc(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rid = f"vpc-{_hex(name, 17)}"
        return rid, {
            **inputs,
            "arn": f"arn:aws:ec2:{self.region}:{self.account_id}:vpc/{rid}",
            "defaultSecurityGroupId": f"sg-{_hex(name + 'sg', 17)}",
            "mainRouteTableId": f"rtb-{_hex(name + 'rt', 17)}",
            "defaultNetworkAclId": f"acl-{_hex(name + 'acl', 17)}",
            "ownerId": self.account_id,
        }

    def _eip(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rid = f"eipalloc-{_hex(name, 17)}"
        h = hashlib.sha256(name.encode()).digest()
        return rid, {
            **inputs,
            "allocationId": rid,
            "publicIp": f"3.{h[0]}.{h[1]}.{h[2]}",
            "arn": f"arn:aws:ec2:{self.region}:{self.account_id}:elastic-ip/{rid}",
        }

    def _launch_template(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rid = f"lt-{_hex(name, 17)}"
        return rid, {
            **inputs,
            "arn": f"arn:aws:ec2:{self.region}:{self.account_id}:launch-template/{rid}",
            "latestVersion": 1,
            "defaultVersion": 1,
            "name": self._auto_name(name, inputs),
        }

    def _eks_cluster(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        cluster = inputs.get("name") or self._auto_name(name, inputs)
        oidc_id = _hex(name, 32).upper()
        vpc = dict(inputs.get("vpcConfig") or {})
        vpc.update(clusterSecurityGroupId=f"sg-{_hex(name + 'cluster', 17)}", vpcId=f"vpc-{_hex('vpc', 17)}")
        ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()
        return cluster, {
            **inputs,
            "name": cluster,
            "arn": f"arn:aws:eks:{self.region}:{self.account_id}:cluster/{cluster}",
            "endpoint": f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com",
            "certificateAuthority": {"data": ca},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"}]}],
            "vpcConfig": vpc,
            "platformVersion": "eks.5",
            "status": "ACTIVE",
            "clusterId": _uuid(name),
        }

    def _node_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        ng = self._auto_name(name, inputs)
        cluster = inputs.get("clusterName", "cluster")
        return f"{cluster}:{ng}", {
            **inputs,
            "nodeGroupName": ng,
            "arn": f"arn:aws:eks:{self.region}:{self.account_id}:nodegroup/{cluster}/{ng}/{_uuid(name)}",
            "resources": [
                {"autoscalingGroups": [{"name": f"eks-{ng}-{_uuid(name)}"}], "remoteAccessSecurityGroupId": ""}
            ],
            "status": "ACTIVE",
            "releaseVersion": "1.35.0-20261101",
        }

    def _addon(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        cluster, addon = inputs.get("clusterName", "cluster"), inputs.get("addonName", name)
        return f"{cluster}:{addon}", {
            **inputs,
            "arn": f"arn:aws:eks:{self.region}:{self.account_id}:addon/{cluster}/{addon}/{_uuid(name)}",
            "addonVersion": inputs.get("addonVersion") or "v1.0.0-eksbuild.1",
        }

    def _iam_role(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        role = self._auto_name(name, inputs)[:64]
        return role, {
            **inputs,
            "name": role,
            "arn": f"arn:aws:iam::{self.account_id}:role/{role}",
            "uniqueId": f"AROA{_hex(name, 17).upper()}",
        }

    def _oidc_provider(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        host = str(inputs.get("url", "oidc.example")).removeprefix("https://")
        arn = f"arn:aws:iam::{self.account_id}:oidc-provider/{host}"
        return arn, {**inputs, "arn": arn}

    def _kms_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key_id = _uuid(name)
        return key_id, {**inputs, "keyId": key_id, "arn": f"arn:aws:kms:{self.region}:{self.account_id}:key/{key_id}"}

    def _bucket(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bucket = inputs.get("bucket") or f"{name}-{_hex(name, 7)}"
        return bucket, {
            **inputs,
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            "region": self.region,
        }

    def _ecr_repository(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        repo = self._auto_name(name, inputs)
        return repo, {
            **inputs,
            "name": repo,
            "arn": f"arn:aws:ecr:{self.region}:{self.account_id}:repository/{repo}",
            "registryId": self.account_id,
            "repositoryUrl": f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{repo}",
        }

    def _rds_instance(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        ident = inputs.get("identifier") or f"{inputs.get('identifierPrefix', name + '-')}{_hex(name, 20)}"
        address = f"{ident}.c{_hex(name, 12)}.{self.region}.rds.amazonaws.com"
        secret = f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:rds!db-{_uuid(name)}-{_hex(name, 6)}"
        return ident, {
            **inputs,
            "identifier": ident,
            "arn": f"arn:aws:rds:{self.region}:{self.account_id}:db:{ident}",
            "address": address,
            "endpoint": f"{address}:5432",
            "port": 5432,
            "resourceId": f"db-{_hex(name, 26).upper()}",
            "masterUserSecrets": [
                {"secretArn": secret, "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""), "secretStatus": "active"}
            ],
            "engineVersionActual": f"{inputs.get('engineVersion', '16')}.8",
        }

    def _log_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        group = self._auto_name(name, inputs)
        return group, {
            **inputs,
            "name": group,
            "arn": f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group}",
        }

    def _replication_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Cluster mode disabled: `master.` / `replica.` endpoints (the TLS-enabled naming)."""
        group = str(inputs.get("replicationGroupId") or f"{name}-{_hex(name, 7)}").lower()
        suffix = f"{_hex(name, 6)}.{_region_code(self.region)}.cache.amazonaws.com"
        clusters = int(inputs.get("numCacheClusters", 1))
        return group, {
            **inputs,
            "replicationGroupId": group,
            "arn": f"arn:aws:elasticache:{self.region}:{self.account_id}:replicationgroup:{group}",
            "primaryEndpointAddress": f"master.{group}.{suffix}",
            "readerEndpointAddress": f"replica.{group}.{suffix}",
            "port": inputs.get("port", 6379),
            "memberClusters": [f"{group}-{i + 1:03d}" for i in range(clusters)],
            "clusterEnabled": False,
            "engineVersionActual": f"{inputs.get('engineVersion', '9.1')}.0",
        }

    def _secret(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Secrets Manager appends six random characters to the name in the ARN; the id is the ARN."""
        secret = self._auto_name(name, inputs)
        arn = f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{secret}-{_hex(name + 'suffix', 6)}"
        return arn, {**inputs, "name": secret, "arn": arn}

    def _random_password(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A deterministic password of the requested length from the requested character classes."""
        classes = [
            string.ascii_lowercase if inputs.get("lower", True) else "",
            string.ascii_uppercase if inputs.get("upper", True) else "",
            string.digits if inputs.get("numeric", True) else "",
            inputs.get("overrideSpecial", "!@#$%&*()-_=+[]{}<>:?") if inputs.get("special", True) else "",
        ]
        alphabet = "".join(classes)
        digest = hashlib.sha512(name.encode()).digest()
        length = int(inputs.get("length", 16))
        result = "".join(alphabet[digest[i % len(digest)] % len(alphabet)] for i in range(length))
        return "none", {**inputs, "result": result, "bcryptHash": f"$2a$10${_hex(name, 53)}"}


# The names AWS gives the service-linked roles the platform relies on.
SERVICE_LINKED_ROLES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
}


def _partition(region: str) -> dict[str, str]:
    """getPartition as AWS answers it: China and GovCloud regions are partitions of their own."""
    if region.startswith("cn-"):
        return {
            "partition": "aws-cn",
            "dnsSuffix": "amazonaws.com.cn",
            "id": "aws-cn",
            "reverseDnsPrefix": "cn.com.amazonaws",
        }
    name = "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return {"partition": name, "dnsSuffix": "amazonaws.com", "id": name, "reverseDnsPrefix": "com.amazonaws"}


def _session_context(arn: str) -> dict[str, str]:
    """getSessionContext: the IAM role behind an assumed-role session ARN (paths are not in a session ARN;
    the mocked roles have none). Any other ARN is its own issuer."""
    match = re.match(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/(.+)$", arn)
    if not match:
        return {"arn": arn, "id": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": ""}
    partition, account, role, session = match.groups()
    issuer = f"arn:{partition}:iam::{account}:role/{role}"
    return {
        "arn": arn,
        "id": arn,
        "issuerArn": issuer,
        "issuerId": "AROAEXAMPLE",
        "issuerName": role,
        "sessionName": session,
    }


def _region_code(region: str) -> str:
    """ElastiCache's short region code in endpoints: us-east-1 -> use1, ap-southeast-2 -> apse2."""
    *area, direction, number = region.split("-")
    words = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c"}
    pole = next((w for w in ("north", "south") if direction.startswith(w) and direction != w), None)
    short = words[pole] + words.get(direction[len(pole) :], "") if pole else words.get(direction, direction[:1])
    return f"{''.join(area)}{short}{number}"
