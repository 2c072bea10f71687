"""The CEL rules of a CRD schema (`x-kubernetes-validations`), evaluated as the API server does on create.

The evaluator is cel-expr-python (the CEL project's own Python runtime, a wrapper of cel-cpp; pinned in
pyproject's dev extra) with its strings extension (`lowerAscii`, `upperAscii`, `split`, `substring`, ...),
plus the few functions of the Kubernetes CEL library the pinned CRDs call, written here after
kubernetes/kubernetes@v1.35.0:staging/src/k8s.io/apiserver/pkg/cel/library (`regex.go`: `find`,
`findAll`; `ip.go`: `isIP`). A rule that calls anything else (`quantity`, `url`, `isURL`, `format`, ...)
does not compile here: it is *unsupported* (`classify`): the generator lists every such rule with the
reason in tests/schemas/cel.json, which a test pins, so none passes silently.

What the API server does, and so does this module (k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel
and k8s.io/apiserver/pkg/cel at v1.35.0):
* a rule runs with `self` bound to the value at its schema node, once per list item / map value
  under `items` / `additionalProperties`, and only where the value is present;
* a rule that references `oldSelf` is a *transition rule*: it runs on update only, never on create
  (`is_transition`), so it is skipped here (no pinned rule sets `optionalOldSelf`);
* a property name is escaped in field selection (`escape`): CEL keywords become `__name__`, and
  `__`, `.`, `-`, `/` become `__underscores__`, `__dot__`, `__dash__`, `__slash__`; map keys are not;
* `type: number` values are doubles; `format: byte` strings are bytes. (A `date-time` string stays a
  string here: cel-expr-python takes no timestamp as input; no pinned rule reads one.)
* the root value carries `apiVersion`, `kind` and `metadata.name`/`metadata.generateName` only;
* a rule that fails to evaluate (no such key, a wrong type) rejects the object, like a false rule.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

# CEL's reserved words (cel-spec langdef.md), escaped as `__word__` in field selection
RESERVED = frozenset(
    {
        *("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function"),
        *("if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"),
    }
)
_ACCESSIBLE = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")
_TRANSITION = re.compile(r"\boldSelf\b")


def escape(name: str) -> str | None:
    """A property's name as a CEL rule selects it (apiserver/pkg/cel/escaping.go); None: not selectable."""
    if name in RESERVED:
        return f"__{name}__"
    if not _ACCESSIBLE.match(name):
        return None
    out = name.replace("__", "__underscores__")
    return out.replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")


def is_transition(rule: str) -> bool:
    """A rule that compares with the stored object: evaluated on update only."""
    return bool(_TRANSITION.search(rule))


# --- the Kubernetes CEL library, as far as the pinned CRDs use it ---------------------------------------


def _find(text: str, pattern: str) -> str:
    """`<string>.find(<regex>)`: the first match, or '' (regex.go; Go's RE2 there, Python's re here:
    the same for the patterns the pinned CRDs use)."""
    found = re.search(pattern, text)
    return found.group(0) if found else ""


def _find_all(text: str, pattern: str) -> list[str]:
    return [m.group(0) for m in re.finditer(pattern, text)]


def _find_all_n(text: str, pattern: str, limit: int) -> list[str]:
    found = _find_all(text, pattern)
    return found if limit < 0 else found[:limit]


def _is_ip(text: str) -> bool:
    """`isIP(<string>)`: an IPv4 or IPv6 address, no zone, no leading zeros in IPv4 (ip.go)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _library() -> list[cel.FunctionDecl]:
    string, boolean = cel.Type.STRING, cel.Type.BOOL
    strings = cel.Type.List(string)
    return [
        cel.FunctionDecl(
            "find", [cel.Overload("string_find_string", string, [string, string], is_member=True, impl=_find)]
        ),
        cel.FunctionDecl(
            "findAll",
            [
                cel.Overload("string_find_all_string", strings, [string, string], is_member=True, impl=_find_all),
                cel.Overload(
                    "string_find_all_string_int",
                    strings,
                    [string, string, cel.Type.INT],
                    is_member=True,
                    impl=_find_all_n,
                ),
            ],
        ),
        cel.FunctionDecl("isIP", [cel.Overload("is_ip", boolean, [string], is_member=False, impl=_is_ip)]),
    ]


@cache
def _env() -> cel.Env:
    return cel.NewEnv(
        variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN},
        extensions=[ext_strings.ExtStrings()],
        functions=_library(),
    )


@cache
def compile_rule(rule: str) -> cel.Expression | str:
    """The compiled rule, or why it does not compile here (a function this evaluator lacks)."""
    try:
        return _env().compile(rule)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        return first.removeprefix("INVALID_ARGUMENT: ").removeprefix("ERROR: ")


# --- values as CEL sees them ---------------------------------------------------------------------------


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _scalar(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and _types(schema) == {"number"}:
        return float(value)
    if isinstance(value, str) and schema.get("format") == "byte":
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return value
    return value


def cel_value(value: Any, schema: Mapping[str, Any] | None, *, root: bool = False) -> Any:
    """`value` as a rule at `schema` sees it: struct fields escaped, numbers as doubles, bytes decoded."""
    if schema is None or value is None:
        return value
    if isinstance(value, list):
        items = schema.get("items")
        return [cel_value(v, items if isinstance(items, Mapping) else None) for v in value]
    if not isinstance(value, dict):
        return _scalar(value, schema)
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in props:
            name = escape(key)
            if name is None:
                continue
            if root and key == "metadata":  # only the name is visible to a rule
                out[name] = {k: v for k, v in (item or {}).items() if k in ("name", "generateName")}
            else:
                out[name] = cel_value(item, props[key])
        elif isinstance(extra, Mapping):
            out[key] = cel_value(item, extra)
        elif schema.get("x-kubernetes-preserve-unknown-fields") or extra is True or not props:
            out[key] = item
    return out


def evaluate(rule: Mapping[str, Any], value: Any, schema: Mapping[str, Any], *, root: bool = False) -> str | None:
    """None when `rule` holds for `value` (or does not run on create), else the API server's message."""
    text = rule["rule"]
    if is_transition(text):
        return None
    program = compile_rule(text)
    if isinstance(program, str):
        return None  # unsupported: listed in tests/schemas/cel.json, which a test pins
    result = program.eval(data={"self": cel_value(value, schema, root=root)})
    if result.type() == cel.Type.ERROR:
        return f"{rule.get('message') or 'failed rule: ' + text}: evaluation error: {result.value()}"
    if result.plain_value() is True:
        return None
    return rule.get("message") or f"failed rule: {text}"


# --- every rule of a schema ----------------------------------------------------------------------------


def rules(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, rule) of every `x-kubernetes-validations` entry under a schema (`[]` an item, `*` a value)."""
    if not isinstance(schema, Mapping):
        return
    for rule in schema.get("x-kubernetes-validations") or ():
        yield path, rule
    for name, sub in (schema.get("properties") or {}).items():
        yield from rules(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from rules(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), Mapping):
        yield from rules(schema["items"], f"{path}[]")
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            yield from rules(sub, path)
    if isinstance(schema.get("not"), Mapping):
        yield from rules(schema["not"], path)


def classify(rule: Mapping[str, Any]) -> str:
    """`evaluated`, `transition` (update only) or why it is unsupported."""
    text = rule["rule"]
    if is_transition(text):
        return "transition"
    program = compile_rule(text)
    return program if isinstance(program, str) else "evaluated"
