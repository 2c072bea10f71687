"""AWS foundation: network, KMS, EKS with GPU node groups, S3, ECR, RDS, IRSA workload identity."""

from components.aws.foundation import AwsFoundation

__all__ = ["AwsFoundation"]
