"""The VPC: private subnets for everything, public subnets only for NAT and load balancers.

Dev gets one NAT gateway; other environments one per zone so a zone outage does not cut egress.
An S3 gateway endpoint keeps dataset and checkpoint traffic off NAT (and its per-GB charge); in
prod, interface endpoints for ECR, STS and CloudWatch Logs keep image pulls and credentials inside
the VPC. Flow logs go to a KMS-encrypted log group. The default security group is emptied.
"""

from __future__ import annotations

import ipaddress
import math

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.aws.kms import AccountInfo
from components.context import PlatformContext

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "logs")
# Availability zones (by zone id: names map to ids differently in every account) where EKS refuses control
# plane subnets (UnsupportedAvailabilityZoneException), which also lack current instance types. The list
# eksctl keeps (pkg/az/az.go zoneIDsToAvoid).
EKS_REFUSED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def eks_zones(names: list[str], zone_ids: list[str]) -> tuple[list[str], list[str]]:
    """The zones EKS accepts, in the region's order, and the ones it refuses (as `name (id)`)."""
    usable = [n for n, z in zip(names, zone_ids, strict=True) if z not in EKS_REFUSED_ZONE_IDS]
    refused = [f"{n} ({z})" for n, z in zip(names, zone_ids, strict=True) if z in EKS_REFUSED_ZONE_IDS]
    return usable, refused


def plan_subnets(
    cidr: ipaddress.IPv4Network, az_count: int
) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """Private subnets take most of the range (pods use VPC IPs); public ones, 1/16 of a private
    subnet each (NAT gateways and load balancers only), are cut from the last block."""
    bits = max(2, math.ceil(math.log2(az_count + 1)))
    blocks = list(cidr.subnets(new_prefix=cidr.prefixlen + bits))
    private = blocks[:az_count]
    public = list(blocks[-1].subnets(new_prefix=blocks[-1].prefixlen + 4))[:az_count]
    return private, public


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    cidr: str  # the VPC's (primary) CIDR, known before anything is created
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    availability_zones: list[str]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        logs_key_arn: pulumi.Input[str],
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:Network", name, None, opts)
        net = ctx.spec.network
        child = pulumi.ResourceOptions(parent=self)

        source = f"stacks/Pulumi.{ctx.stack}.yaml"
        if net.existing_vpc_id:
            vpc = aws.ec2.get_vpc(id=net.existing_vpc_id, opts=pulumi.InvokeOptions(parent=self))
            self.vpc_id = pulumi.Output.from_input(net.existing_vpc_id)
            self.cidr = vpc.cidr_block
            self.vpc_cidr = pulumi.Output.from_input(vpc.cidr_block)
            for i, subnet_id in enumerate(net.existing_private_subnet_ids):
                subnet = aws.ec2.get_subnet(id=subnet_id, opts=pulumi.InvokeOptions(parent=self))
                if subnet.availability_zone_id in EKS_REFUSED_ZONE_IDS:
                    raise pulumi.RunError(
                        f"{source}: platform.network.existingPrivateSubnetIds[{i}]: {subnet_id} is in "
                        f"{subnet.availability_zone} ({subnet.availability_zone_id}), a zone EKS does not support"
                    )
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in net.existing_private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in net.existing_public_subnet_ids]
            self.availability_zones = []
            self.register_outputs({"vpc_id": self.vpc_id})
            return

        az_count = net.az_count or 2
        found = aws.get_availability_zones(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOptions(parent=self),
        )
        zones, refused = eks_zones(list(found.names), list(found.zone_ids))
        if len(zones) < az_count:
            skipped = f" (EKS does not support {', '.join(refused)})" if refused else ""
            raise pulumi.RunError(
                f"{source}: platform.network.azCount: {ctx.spec.region} has {len(zones)} availability zones EKS "
                f"supports{skipped}; azCount asks for {az_count}"
            )
        self.availability_zones = list(zones[:az_count])
        private_cidrs, public_cidrs = plan_subnets(net.cidr, az_count)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(net.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=ctx.tags(Name=ctx.prefix),
            opts=child,
        )
        self.vpc_id, self.vpc_cidr, self.cidr = vpc.id, vpc.cidr_block, str(net.cidr)
        vpc_opts = pulumi.ResourceOptions(parent=vpc)

        # No rules at all: nothing may silently fall back to the default group.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=ctx.tags(Name=f"{ctx.prefix}-default"),
            opts=vpc_opts,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=ctx.tags(Name=ctx.prefix), opts=vpc_opts)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags=ctx.tags(Name=f"{ctx.prefix}-public"), opts=vpc_opts
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=pulumi.ResourceOptions(parent=public_rt),
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for i, zone in enumerate(self.availability_zones):
            pub = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(public_cidrs[i]),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=ctx.tags(Name=f"{ctx.prefix}-public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=vpc_opts,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=pub.id,
                route_table_id=public_rt.id,
                opts=pulumi.ResourceOptions(parent=pub),
            )
            priv = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(private_cidrs[i]),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=ctx.tags(
                    Name=f"{ctx.prefix}-private-{zone}",
                    **{"kubernetes.io/role/internal-elb": "1", "karpenter.sh/discovery": cluster_name},
                ),
                opts=vpc_opts,
            )
            public_subnets.append(pub)
            private_subnets.append(priv)
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.private_subnet_ids = [s.id for s in private_subnets]

        nat_count = 1 if net.nat == "single" else az_count
        nats = []
        for i in range(nat_count):
            zone = self.availability_zones[i]
            eip = aws.ec2.Eip(
                f"{name}-nat-{zone}", domain="vpc", tags=ctx.tags(Name=f"{ctx.prefix}-nat-{zone}"), opts=vpc_opts
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.allocation_id,
                    subnet_id=public_subnets[i].id,
                    connectivity_type="public",
                    tags=ctx.tags(Name=f"{ctx.prefix}-nat-{zone}"),
                    opts=pulumi.ResourceOptions(parent=vpc, depends_on=[igw]),
                )
            )

        private_rts = []
        for i, zone in enumerate(self.availability_zones):
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                tags=ctx.tags(Name=f"{ctx.prefix}-private-{zone}"),
                opts=vpc_opts,
            )
            aws.ec2.Route(
                f"{name}-private-{zone}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i % nat_count].id,
                opts=pulumi.ResourceOptions(parent=rt),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}",
                subnet_id=private_subnets[i].id,
                route_table_id=rt.id,
                opts=pulumi.ResourceOptions(parent=rt),
            )
            private_rts.append(rt)

        region = account.region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"{account.service_prefix}.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=ctx.tags(Name=f"{ctx.prefix}-s3"),
            opts=vpc_opts,
        )

        if net.interface_endpoints:
            endpoint_sg = aws.ec2.SecurityGroup(
                f"{name}-endpoints",
                vpc_id=vpc.id,
                description="HTTPS from inside the VPC to AWS interface endpoints",
                tags=ctx.tags(Name=f"{ctx.prefix}-endpoints"),
                opts=vpc_opts,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoints-https",
                security_group_id=endpoint_sg.id,
                cidr_ipv4=vpc.cidr_block,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="HTTPS from the VPC",
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=endpoint_sg),
            )
            for service in INTERFACE_ENDPOINTS:
                aws.ec2.VpcEndpoint(
                    f"{name}-{service.replace('.', '-')}",
                    vpc_id=vpc.id,
                    service_name=f"{account.service_prefix}.{region}.{service}",
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=self.private_subnet_ids,
                    security_group_ids=[endpoint_sg.id],
                    tags=ctx.tags(Name=f"{ctx.prefix}-{service}"),
                    opts=vpc_opts,
                )

        if net.flow_logs:
            group = aws.cloudwatch.LogGroup(
                f"{name}-flow-logs",
                name=f"/aws/vpc/{ctx.prefix}/flow-logs",
                retention_in_days=net.flow_log_retention_days,
                kms_key_id=logs_key_arn,
                tags=ctx.tags(),
                opts=child,
            )
            role = aws.iam.Role(
                f"{name}-flow-logs",
                assume_role_policy=iam.to_json(
                    iam.document(
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            # confused deputy: only flow logs of this account and region
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": account.account_id},
                                "ArnLike": {"aws:SourceArn": account.arn("ec2", "vpc-flow-log/*")},
                            },
                        }
                    )
                ),
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=group),
            )
            aws.iam.RolePolicy(
                f"{name}-flow-logs",
                role=role.id,
                policy=iam.to_json(
                    iam.document(
                        iam.allow(
                            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            [group.arn, pulumi.Output.concat(group.arn, ":*")],
                            sid="WriteFlowLogs",
                        ),
                        # The delivery checks its group exists (terraform-aws-vpc's flow-log policies grant
                        # it); DescribeLogGroups takes no resource-level permission: "*" is its only resource.
                        iam.allow(["logs:DescribeLogGroups"], ["*"], sid="FindLogGroup"),
                    )
                ),
                opts=pulumi.ResourceOptions(parent=role),
            )
            aws.ec2.FlowLog(
                f"{name}-flow-logs",
                vpc_id=vpc.id,
                traffic_type="ALL",
                log_destination_type="cloud-watch-logs",
                log_destination=group.arn,
                iam_role_arn=role.arn,
                max_aggregation_interval=60,
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=group),
            )

        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids})


def cluster_only_security_group(
    name: str,
    ctx: PlatformContext,
    network: Network,
    client_security_group_id: pulumi.Input[str],
    *,
    port: int,
    service: str,
    tag_name: str,
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """A security group for a private data store (the database, the online store): TCP `port` from the
    EKS cluster security group (its nodes and pods) and nothing else."""
    sg = aws.ec2.SecurityGroup(
        name,
        vpc_id=network.vpc_id,
        description=f"{service} from the EKS cluster security group only",
        tags=ctx.tags(Name=tag_name),
        opts=opts,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-cluster",
        security_group_id=sg.id,
        referenced_security_group_id=client_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=f"{service} from cluster nodes and pods",
        tags=ctx.tags(),
        opts=pulumi.ResourceOptions(parent=sg),
    )
    return sg
