"""Small synthetic datasets, made locally (no downloads), for the samples, the tests and the benchmarks.

    python -m workloads.training.synthetic tabular --rows 4000 --out data/train.csv
    python -m workloads.training.synthetic tabular --rows 4000 --bias 3 --out data/biased.csv
    python -m workloads.training.synthetic text --bytes 200000 --out data/corpus.txt

`tabular`: a loan-approval style task. Six numeric features, a proxy feature correlated with the
sensitive attribute `group` (a/b, like a postcode), and a 0/1 label that depends on the features. With
``--bias B`` the labels of group b are shifted down by B logits (historically biased decisions): a model
trained on them learns the proxy and approves group b less often, which the fairness gate catches.
The unbiased task is learnable to about 0.9 accuracy.

`text`: English-like sentences from a small grammar, for the byte-level GPT.
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np

FEATURES = ["income", "debt", "tenure", "utilisation", "history", "savings", "postcode_score"]


def make_tabular(rows: int, seed: int = 0, bias: float = 0.0) -> bytes:
    """CSV bytes: the FEATURES, `group` (a/b) and `label` (0/1)."""
    rng = np.random.default_rng(seed)
    group_b = rng.random(rows) < 0.4
    f = rng.standard_normal((rows, 6))
    proxy = 1.5 * group_b + 0.5 * rng.standard_normal(rows)
    logit = 2.0 * f[:, 0] - 1.5 * f[:, 1] + 1.2 * f[:, 2] * f[:, 3] + 0.8 * f[:, 4] + 0.3 * f[:, 5]
    logit = logit - bias * group_b
    label = (logit + 0.6 * rng.logistic(size=rows)) > 0
    out = io.StringIO()
    out.write(",".join([*FEATURES, "group", "label"]) + "\n")
    for i in range(rows):
        values = [f"{v:.5f}" for v in (*f[i], proxy[i])]
        out.write(",".join([*values, "b" if group_b[i] else "a", str(int(label[i]))]) + "\n")
    return out.getvalue().encode()


_SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the robot", "a small bird", "the teacher", "our team"]
_VERBS = ["sees", "likes", "builds", "finds", "reads", "paints", "carries", "follows"]
_OBJECTS = ["the red ball", "a long letter", "the green house", "a quiet river", "the new model", "a blue kite"]
_ENDINGS = ["today", "at night", "in the park", "every morning", "with care", "again"]


def make_text(n_bytes: int, seed: int = 0) -> bytes:
    """English-like sentences from a small grammar, `n_bytes` long."""
    rng = np.random.default_rng(seed)
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}. "
        parts.append(s)
        size += len(s)
    return "".join(parts).encode()[:n_bytes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workloads.training.synthetic", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    tab = sub.add_parser("tabular", help="tabular classification data with a sensitive attribute (CSV)")
    tab.add_argument("--rows", type=int, default=4000, help="number of rows (default 4000)")
    tab.add_argument("--bias", type=float, default=0.0, help="logit penalty on group b's labels (default 0)")
    text = sub.add_parser("text", help="English-like text for the GPT sample")
    text.add_argument("--bytes", type=int, default=200_000, help="size in bytes (default 200000)")
    for p in (tab, text):
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--out", required=True, help="output file or fsspec URI")
    args = parser.parse_args(argv)
    data = make_tabular(args.rows, args.seed, args.bias) if args.kind == "tabular" else make_text(args.bytes, args.seed)
    from workloads.training import storage
    from workloads.training.errors import TrainingError

    try:
        storage.write_bytes(args.out, data)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {len(data)} bytes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
