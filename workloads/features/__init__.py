"""The sample feature repository of the platform's feature store (Feast) and its Python API.

The credit-approval sample (the tabular data of `workloads.training.synthetic`) as Feast objects:
the entity `applicant`, the feature view `applicant_features` over Parquet files in the offline store
(the datasets bucket, ``<scheme>://<datasets>/features/<project>/applicants/``), and two feature
services: `credit_approval_v1` (the model's inputs) and `credit_approval_fairness` (the same plus the
sensitive attribute `group`, for training-time fairness evaluation). See `repo.definitions`.

- `frames`: the tabular sample as the offline-store table and the label table; training CSVs.
- `store`: Feast's configuration in code (SQL, remote or file registry; Redis or SQLite online store;
  file offline store), apply, ingest, point-in-time training sets, materialization, online reads.
- ``python -m workloads.features {apply,materialize,online}``: the same from the environment
  (`settings`), one-line errors, exit status 2 on bad settings.

Installed with the `features` extra (``pip install -e '.[features]'``).
"""
