"""Model monitoring: drift of the logged inference payloads against the training reference.

    python -m workloads.monitoring drift --reference s3://DATASETS/train.csv --payloads s3://LOGS/inference/NS/MODEL/

See `workloads.monitoring.drift` (the detector, the report, the metrics) and `__main__` (the CLI).
Nothing heavy is imported here: `workloads.pipelines.validation` imports `drift.psi`.
"""
