"""Progressive delivery of a served model: the InferenceService's candidate (a canary taking a share of
the traffic, or a shadow seeing a mirrored copy of it) is promoted, held or rolled back on the evidence
Prometheus has (error ratio, latency quantile against the model's SLO, shadow disagreement).

``python -m workloads.rollouts analyze ...`` runs one analysis (a CronJob per model deployment,
components/k8s/model_rollout.py); ``inferenceservice`` holds the patches, shared with the pipeline's
rollout step.
"""
