"""The continuous-training pipeline of the tabular sample (issue 8).

* workflow.py: the Argo WorkflowTemplate and CronWorkflow, authored with Hera (the Pulumi program
  renders them; components/k8s/training_pipeline.py deploys them);
* steps.py: the steps, plain functions each pod runs (`python -m workloads.pipelines <step>`) and the
  tests run in-process: ingest, validate, materialize, train, evaluate, register, rollout;
* validation.py: the data-validation gate (schema, nulls, ranges, PSI against the reference);
* config.py: the settings every step reads (PIPELINE_SETTINGS) and the run's records.
"""
