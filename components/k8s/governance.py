"""The governance annotation keys the platform sets on what it trains and serves.

`TrainingJob` (training.py) and `ModelDeployment` (model_deployment.py) write them; the responsible-AI
policy pack reads them (its schema, with the meaning of each key: policy/responsible_ai/rules.py, which
keeps its own copy so the pack loads without the components).
"""

from __future__ import annotations

ANN_OWNER = "ml-platform/owner"
ANN_CONTACT = "ml-platform/contact"
ANN_RISK_TIER = "ml-platform/risk-tier"
ANN_INTENDED_USE = "ml-platform/intended-use"
ANN_MODEL_CARD = "ml-platform/model-card"
ANN_APPROVAL = "ml-platform/approval"
# lineage
ANN_DATASET = "ml-platform/dataset"
ANN_DATASET_VERSION = "ml-platform/dataset-version"
ANN_CODE_VERSION = "ml-platform/code-version"
ANN_CHECKPOINT = "ml-platform/checkpoint-uri"
# the served version
ANN_REGISTERED_MODEL = "ml-platform/registered-model"
ANN_MODEL_VERSION = "ml-platform/model-version"
ANN_MODEL_STAGE = "ml-platform/model-stage"
ANN_CANARY_VERSION = "ml-platform/canary-model-version"
# evaluation
ANN_EVAL_METRICS = "ml-platform/eval-metrics"
ANN_FAIRNESS_METRIC = "ml-platform/fairness-metric"
ANN_FAIRNESS_VALUE = "ml-platform/fairness-value"
ANN_FAIRNESS_THRESHOLD = "ml-platform/fairness-threshold"
ANN_FAIRNESS_OP = "ml-platform/fairness-op"
# operation
ANN_LOG_RETENTION_DAYS = "ml-platform/inference-log-retention-days"
ANN_MONITORING = "ml-platform/monitoring"
ANN_DATA_RESIDENCY = "ml-platform/data-residency"
