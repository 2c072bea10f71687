"""Sample workloads that run on the platform: training (`workloads.training`) and the OIP-v2 model
server (`workloads.serving`)."""
