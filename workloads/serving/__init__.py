"""Sample model server: ``python -m workloads.serving --model_name NAME --model_dir URI``.

Serves the inference artifact of a training run (``OUTPUT_URI/model/model.pt2`` + ``config.json``)
over the Open Inference Protocol v2 (REST) with dynamic micro-batching, Prometheus metrics,
structured logs, graceful shutdown and optional CloudEvents payload logging. See README.md.
"""
