"""The served model: the training run's inference artifact loaded, and OIP v2 requests validated for it.

Requests are validated here, against the artifact's own input constraints (the dynamic-dimension
ranges recorded in the exported program) and ``config.json``: the model is only ever called with a
tensor it accepts, so no client input can make the forward raise.
"""

from __future__ import annotations

import io
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import torch

from workloads.serving.artifact import ARTIFACT, CONFIG, Artifact, fetch
from workloads.serving.errors import ModelError, RequestError

PLATFORM = "pytorch_torchexport"

# config.json dtype -> (OIP v2 datatype, numpy dtype, Python types accepted in JSON data)
DTYPES: dict[str, tuple[str, type[np.generic], tuple[type, ...]]] = {
    "float32": ("FP32", np.float32, (float, int)),
    "int64": ("INT64", np.int64, (int,)),
}
_NUMERIC = {float, int}
_INTEGER = {int}


@dataclass(frozen=True)
class Dim:
    """One dimension: fixed (`size`) or dynamic within [`low`, `high`] (``high`` None: unbounded)."""

    size: int | None
    low: int = 1
    high: int | None = None

    def describe(self) -> str:
        if self.size is not None:
            return str(self.size)
        return f"{self.low}..{self.high}" if self.high is not None else f">={self.low}"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str  # OIP v2 name: FP32, INT64
    dtype: type[np.generic]
    dims: tuple[Dim, ...]
    value_range: tuple[int, int] | None = None  # inclusive, for token ids

    @property
    def metadata_shape(self) -> list[int]:
        return [d.size if d.size is not None else -1 for d in self.dims]

    def describe(self) -> str:
        return f"{self.datatype} [{', '.join(d.describe() for d in self.dims)}]"

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.metadata_shape}


@dataclass
class LoadedModel:
    name: str
    version: str
    kind: str
    module: Any  # the torch.export program as an nn.Module
    input: TensorSpec
    output: TensorSpec
    features: list[str] | None
    source: str  # where model.pt2 was read from
    sha256: str
    card: dict[str, Any] | None
    decision_threshold: float | None = None  # a binary classifier's: P >= threshold is the positive class

    def metadata(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORM,
            "inputs": [self.input.metadata()],
            "outputs": [self.output.metadata()],
        }
        if self.features:
            doc["parameters"] = {"features": self.features}
        return doc

    def forward(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.module(torch.from_numpy(x)).numpy()


# -- loading -------------------------------------------------------------------------------------


def _dims_of(program: Any, input_name: str) -> tuple[tuple[Dim, ...], Any]:
    """The input's dimensions as the exported program constrains them, and its torch dtype."""
    signature = program.graph_signature
    names = list(signature.user_inputs)
    if len(names) != 1 or len(signature.user_outputs) != 1:
        raise ModelError(f"{ARTIFACT} takes {len(names)} inputs and returns {len(signature.user_outputs)}; expected 1")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == names[0])
    val = node.meta.get("val")
    if val is None:
        raise ModelError(f"{ARTIFACT}: input {input_name!r} has no recorded shape")
    dims = []
    for d in val.shape:
        if isinstance(d, int):
            dims.append(Dim(d))
            continue
        rng = program.range_constraints.get(d.node.expr)
        low = int(rng.lower) if rng is not None and rng.lower.is_finite else 1
        high = int(rng.upper) if rng is not None and rng.upper.is_finite else None
        dims.append(Dim(None, max(low, 1), high))
    return tuple(dims), val.dtype


def _drop_redundant_input_check(module: Any) -> None:
    """Remove torch.export's per-call input-constraint hook: requests are validated against the same
    constraints (dtype, rank, fixed sizes, dynamic ranges) before any forward, and the hook's pytree
    walk is a third of the tabular model's forward time. Any other hook stays."""
    hooks = getattr(module, "_forward_pre_hooks", None)
    if isinstance(hooks, dict):
        for key, hook in list(hooks.items()):
            if getattr(hook, "__name__", "") == "_check_input_constraints_pre_hook":
                del hooks[key]


def forward_seconds(model: LoadedModel, rows: int, repeat: int = 20) -> float:
    """Median time of one forward of `rows` rows (the largest valid size of the other dimensions)."""
    shape = [rows] + [d.size or d.high or d.low for d in model.input.dims[1:]]
    x = np.zeros(shape, dtype=model.input.dtype)
    model.forward(x)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        model.forward(x)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def _spec(io: Any, what: str) -> tuple[str, str, list[Any]]:
    if not isinstance(io, dict) or not isinstance(io.get("name"), str) or io.get("dtype") not in DTYPES:
        raise ModelError(f"{CONFIG}: '{what}' must name the tensor and give a dtype of {sorted(DTYPES)}")
    shape = io.get("shape")
    if not isinstance(shape, list) or not shape:
        raise ModelError(f"{CONFIG}: '{what}.shape' must be a list")
    return io["name"], io["dtype"], shape


def load_model(model_dir: str, name: str, version: str | None = None) -> LoadedModel:
    """Fetch the artifact from `model_dir` (any fsspec URI) and load it."""
    return build(fetch(model_dir), name, version)


def build(artifact: Artifact, name: str, version: str | None = None) -> LoadedModel:
    """The runnable model of a fetched artifact, checked against its config.json and warmed up."""
    config = artifact.config
    in_name, in_dtype, _ = _spec(config.get("input"), "input")
    out_name, out_dtype, out_shape = _spec(config.get("output"), "output")
    source = artifact.source
    export_log = logging.getLogger("torch.export")
    level = export_log.level
    export_log.setLevel(logging.ERROR)  # its warning on a bad file would repeat the error reported here
    try:
        program = torch.export.load(io.BytesIO(artifact.program))
        module = program.module()
    except Exception as exc:  # a corrupt or incompatible file raises anything from zipfile to torch
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"cannot load {source}: {first}") from exc
    finally:
        export_log.setLevel(level)
    _drop_redundant_input_check(module)
    dims, torch_dtype = _dims_of(program, in_name)
    if str(torch_dtype).removeprefix("torch.") != in_dtype:
        raise ModelError(f"{CONFIG} says input {in_name!r} is {in_dtype}; {ARTIFACT} takes {torch_dtype}")
    if dims[0].size is not None:
        raise ModelError(f"{ARTIFACT}: the first dimension of {in_name!r} is not a dynamic batch dimension")
    meaning = str(config["input"].get("meaning", ""))
    value_range = (0, 255) if in_dtype == "int64" and "bytes" in meaning.lower() else None
    in_spec = TensorSpec(in_name, DTYPES[in_dtype][0], DTYPES[in_dtype][1], dims, value_range)
    out_dims = tuple(Dim(s) if isinstance(s, int) else Dim(None) for s in out_shape)
    out_spec = TensorSpec(out_name, DTYPES[out_dtype][0], DTYPES[out_dtype][1], out_dims)
    features = config.get("features")
    model = LoadedModel(
        name=name,
        version=version or artifact.version(),
        kind=str(config.get("kind", "unknown")),
        module=module,
        input=in_spec,
        output=out_spec,
        features=features if isinstance(features, list) else None,
        source=source,
        sha256=artifact.sha256,
        card=artifact.card,
        decision_threshold=_threshold(config.get("decision_threshold")),
    )
    _warm_up(model)
    return model


def _threshold(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0.0 <= value <= 1.0:
        raise ModelError(f"{CONFIG}: 'decision_threshold' must be a number from 0 to 1, not {value!r}")
    return float(value)


def _warm_up(model: LoadedModel) -> None:
    """One forward on a minimal valid input: fails at start-up (not on the first request) when the
    artifact cannot run here, and warms the allocator."""
    shape = [d.size if d.size is not None else d.low for d in model.input.dims]
    try:
        out = model.forward(np.zeros(shape, dtype=model.input.dtype))
    except Exception as exc:
        raise ModelError(f"{model.source} fails on a {shape} input: {str(exc).splitlines()[0]}") from exc
    if out.shape[:1] != (shape[0],):
        raise ModelError(f"{model.source} returns shape {list(out.shape)} for a batch of {shape[0]}")


# -- requests --------------------------------------------------------------------------------------


@dataclass(slots=True)
class InferRequest:
    id: str | None
    array: np.ndarray


def _flatten(data: list[Any], shape: list[int], name: str) -> list[Any]:
    """Row-major values of `data`: already flat, or nested lists matching `shape`."""
    if not data or type(data[0]) is not list:
        return data
    if len(data) != shape[0]:
        raise RequestError(400, f"input {name!r}: nested data does not match shape {shape}")
    flat = data
    for size in shape[1:]:
        if not all(type(row) is list and len(row) == size for row in flat):
            raise RequestError(400, f"input {name!r}: nested data does not match shape {shape}")
        flat = [v for row in flat for v in row]
    return flat


def decode_infer_request(body: bytes, spec: TensorSpec, output_name: str) -> InferRequest:
    """Parse and validate an OIP v2 JSON inference request; RequestError (4xx) on anything wrong."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None
    if type(doc) is not dict:
        raise RequestError(400, "the request body must be a JSON object with 'inputs'")
    rid = doc.get("id")
    if rid is not None and type(rid) is not str:
        raise RequestError(400, "'id' must be a string")
    inputs = doc.get("inputs")
    if inputs is None or inputs == []:
        raise RequestError(400, f"missing input {spec.name!r} ({spec.describe()})")
    if type(inputs) is not list:
        raise RequestError(400, "'inputs' must be a list of tensors")
    tensor = None
    for i, t in enumerate(inputs):
        if type(t) is not dict:
            raise RequestError(400, f"inputs[{i}] must be an object with name, shape, datatype and data")
        tname = t.get("name")
        if type(tname) is not str:
            raise RequestError(400, f"inputs[{i}].name must be a string")
        if tname != spec.name:
            raise RequestError(400, f"unknown input {tname!r}: the model takes {spec.name!r} ({spec.describe()})")
        if tensor is not None:
            raise RequestError(400, f"input {spec.name!r} is given more than once")
        tensor = t
    assert tensor is not None
    outputs = doc.get("outputs")
    if outputs is not None:
        if type(outputs) is not list or not all(type(o) is dict for o in outputs):
            raise RequestError(400, "'outputs' must be a list of objects")
        for o in outputs:
            if o.get("name") != output_name:
                raise RequestError(400, f"unknown output {o.get('name')!r}: the model returns {output_name!r}")

    name = spec.name
    datatype = tensor.get("datatype")
    if datatype != spec.datatype:
        raise RequestError(
            400, f"input {name!r}: datatype {datatype!r} is not supported; the model takes {spec.datatype}"
        )
    shape = tensor.get("shape")
    if type(shape) is not list or not all(type(d) is int for d in shape):
        raise RequestError(400, f"input {name!r}: shape must be a list of integers")
    if len(shape) != len(spec.dims):
        raise RequestError(
            400, f"input {name!r}: shape {shape} has {len(shape)} dimensions; the model takes {spec.describe()}"
        )
    for axis, (n, dim) in enumerate(zip(shape, spec.dims, strict=True)):
        ok = n == dim.size if dim.size is not None else n >= dim.low and (dim.high is None or n <= dim.high)
        if not ok:
            raise RequestError(400, f"input {name!r}: shape {shape} does not fit {spec.describe()} (dimension {axis})")
    data = tensor.get("data")
    if type(data) is not list:
        raise RequestError(400, f"input {name!r}: data must be a list")
    flat = _flatten(data, shape, name)
    count = math.prod(shape)
    if len(flat) != count:
        raise RequestError(400, f"input {name!r}: shape {shape} needs {count} values; data has {len(flat)}")
    allowed = _NUMERIC if spec.datatype == "FP32" else _INTEGER
    if not set(map(type, flat)) <= allowed:
        kind = "numbers" if spec.datatype == "FP32" else "integers"
        raise RequestError(400, f"input {name!r}: data must be {kind} ({spec.datatype})")
    if spec.datatype == "FP32":
        with np.errstate(over="ignore"):
            array = np.array(flat, dtype=np.float32)
        if not np.isfinite(array).all():
            raise RequestError(400, f"input {name!r}: data must be finite FP32 numbers (no NaN, infinity or overflow)")
    else:
        if spec.value_range is not None:
            low, high = spec.value_range
            if min(flat) < low or max(flat) > high:
                raise RequestError(400, f"input {name!r}: values must be in [{low}, {high}]")
        try:
            array = np.array(flat, dtype=spec.dtype)
        except OverflowError:
            raise RequestError(400, f"input {name!r}: values out of the {spec.datatype} range") from None
    return InferRequest(rid, array.reshape(shape))


def encode_infer_response(model: LoadedModel, rid: str, out: np.ndarray) -> bytes:
    return orjson.dumps(
        {
            "model_name": model.name,
            "model_version": model.version,
            "id": rid,
            "outputs": [
                {
                    "name": model.output.name,
                    "datatype": model.output.datatype,
                    "shape": list(out.shape),
                    "data": out.reshape(-1),
                }
            ],
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
