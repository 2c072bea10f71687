"""Sample workloads that run on the platform: training (`workloads.training`), and later serving."""
