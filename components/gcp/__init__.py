"""GCP foundation: VPC, Cloud KMS, GKE + GPU pools, GCS, Artifact Registry, Cloud SQL, Workload Identity."""

from components.gcp.foundation import GcpFoundation

__all__ = ["GcpFoundation"]
