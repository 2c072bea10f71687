"""The VPC: custom mode, one regional subnet for the cluster, Cloud NAT for egress.

The subnet's primary range holds the nodes, its two secondary ranges the pods and the services
(VPC-native GKE). Private Google Access lets nodes without external IPs reach Google APIs (GCS,
Artifact Registry); Cloud NAT (regional, zone-redundant by construction, logging errors) gives them
the rest of the internet. VPC flow logs are on the subnet. Nothing gets an external IP.

Bring your own network: `network.existingVpcId` is the network's self-link or name and
`existingPrivateSubnetIds[0]` the subnet, which must already have the secondary ranges named
`pods` and `services`, Private Google Access, egress (Cloud NAT) and a private services access
(VPC peering) range for Cloud SQL, and an ingress firewall rule from the control plane to the nodes on
the admission-webhook ports (`components.gcp.cluster.WEBHOOK_PORTS`): nothing is created in a network
the platform does not own.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.gcp.kms import ProjectInfo

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


def plan_ranges(cidr: ipaddress.IPv4Network) -> dict[str, ipaddress.IPv4Network]:
    """Pods take half of the range (one IP per pod, /24 per node), nodes and services an eighth each.

    For a /16: pods /17 (128 nodes at 110 pods each), nodes /19, services /19; a /18 stays free.
    """
    halves = list(cidr.subnets(prefixlen_diff=1))
    eighths = list(halves[1].subnets(prefixlen_diff=2))
    return {"nodes": eighths[0], PODS_RANGE: halves[0], SERVICES_RANGE: eighths[1]}


class Network(pulumi.ComponentResource):
    network_id: pulumi.Output[str]  # projects/P/global/networks/N
    network_self_link: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]
    pods_range: str
    services_range: str
    zones: list[str]
    owned: bool
    # The node subnet's primary range (owned network only): GKE puts the private endpoint of a
    # Private Service Connect control plane there, so control-plane traffic to nodes comes from it.
    nodes_cidr: str | None

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        zones: list[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:Network", name, None, opts)
        net = ctx.spec.network
        self.zones = zones
        self.pods_range, self.services_range = PODS_RANGE, SERVICES_RANGE

        self.nodes_cidr = None
        if net.existing_vpc_id:
            self.owned = False
            self.pods_range = net.existing_pods_range or PODS_RANGE
            self.services_range = net.existing_services_range or SERVICES_RANGE
            network = net.existing_vpc_id
            if "/" not in network:
                network = f"projects/{project.project_id}/global/networks/{network}"
            subnet = net.existing_private_subnet_ids[0]
            if "/" not in subnet:
                subnet = f"projects/{project.project_id}/regions/{project.region}/subnetworks/{subnet}"
            self.network_id = self.network_self_link = pulumi.Output.from_input(network)
            self.subnet_id = self.subnet_self_link = pulumi.Output.from_input(subnet)
            self.register_outputs({"network": self.network_id, "subnet": self.subnet_id})
            return

        self.owned = True
        child = pulumi.ResourceOptions(parent=self)
        ranges = plan_ranges(net.cidr)
        self.nodes_cidr = str(ranges["nodes"])
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=ctx.prefix,
            project=project.project_id,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"ml-platform {ctx.stack}",
            opts=child,
        )
        on_vpc = pulumi.ResourceOptions(parent=vpc)
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            name=f"{ctx.prefix}-{project.region}",
            project=project.project_id,
            region=project.region,
            network=vpc.id,
            ip_cidr_range=str(ranges["nodes"]),
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=PODS_RANGE, ip_cidr_range=str(ranges[PODS_RANGE])
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=str(ranges[SERVICES_RANGE])
                ),
            ],
            private_ip_google_access=True,
            stack_type="IPV4_ONLY",
            log_config=(
                gcp.compute.SubnetworkLogConfigArgs(
                    aggregation_interval="INTERVAL_5_SEC",
                    flow_sampling=0.5,
                    metadata="INCLUDE_ALL_METADATA",
                )
                if net.flow_logs
                else None
            ),
            opts=on_vpc,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{ctx.prefix}-router",
            project=project.project_id,
            region=project.region,
            network=vpc.id,
            description="Cloud NAT for private nodes",
            opts=on_vpc,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{ctx.prefix}-nat",
            project=project.project_id,
            region=project.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            # Multi-GB image pulls from many pods: let busy nodes get more ports.
            enable_dynamic_port_allocation=True,
            min_ports_per_vm=64,
            max_ports_per_vm=4096,
            enable_endpoint_independent_mapping=False,
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=pulumi.ResourceOptions(parent=router),
        )
        self.network_id, self.network_self_link = vpc.id, vpc.self_link
        self.subnet_id, self.subnet_self_link = subnet.id, subnet.self_link
        self.register_outputs({"network": self.network_id, "subnet": self.subnet_id})
