"""The population stability index, shared by the pipeline's data validation (workloads/pipelines/validation.py)
and the drift detector (drift.py). numpy only: the pipeline image imports it without scipy or matplotlib."""

from __future__ import annotations

import numpy as np

BINS = 10
_EPS = 1e-4  # an empty bin counts as this share, so PSI stays finite


def psi(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    """Population stability index of `current` against `reference`, over quantile bins of the reference."""
    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    if reference.size == 0 or current.size == 0:
        return float("inf")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1) / reference.size
    cur_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1) / current.size
    ref_share, cur_share = np.maximum(ref_share, _EPS), np.maximum(cur_share, _EPS)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
