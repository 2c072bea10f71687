"""The order in which the engine creates a stack's resources, as a stack rule sees it.

`pulumi up` creates a resource only after everything it depends on: its explicit `depends_on`, every
resource whose outputs flow into its inputs (both in `PolicyResource.dependencies`, components expanded
to their children), and its parent (a child registers once its parent exists, and a component registers
only after its own `depends_on`, so a component's dependencies order all its children). Nothing else
orders two resources: without a path through those edges, they are created in parallel.

The engine hands stack rules every resource but the providers, components included, with these edges
(`pulumi preview/up` and the offline runner alike). Values still unknown at preview raise when read;
`known()` turns that into a default, so a rule decides on what it can see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policy import props as p

T = TypeVar("T")


def known(read: Callable[[], T], default: T) -> T:
    """`read()`, or `default` where it reads a value that is unknown at preview."""
    try:
        return read()
    except UnknownValueError:
        return default


class Graph:
    """The stack's resources with the engine's ordering edges (dependencies and parent)."""

    def __init__(self, resources: Sequence[PolicyResource]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}
        self._before: dict[str, frozenset[str]] = {}

    def of_type(self, *types: str) -> list[PolicyResource]:
        wanted = set(types)
        return [r for r in self.resources if r.resource_type in wanted]

    def where(self, predicate: Callable[[PolicyResource], bool]) -> list[PolicyResource]:
        return [r for r in self.resources if predicate(r)]

    @staticmethod
    def edges(resource: PolicyResource) -> Iterator[PolicyResource]:
        yield from resource.dependencies
        for deps in resource.property_dependencies.values():
            yield from deps
        if resource.parent is not None:
            yield resource.parent

    def before(self, resource: PolicyResource) -> frozenset[str]:
        """The URNs of every resource the engine creates before `resource`."""
        done = self._before.get(resource.urn)
        if done is not None:
            return done
        seen: set[str] = set()
        stack = list(self.edges(resource))
        while stack:
            dep = stack.pop()
            if dep.urn in seen:
                continue
            seen.add(dep.urn)
            cached = self._before.get(dep.urn)
            if cached is not None:
                seen |= cached
                continue
            stack.extend(self.edges(dep))
        result = frozenset(seen)
        self._before[resource.urn] = result
        return result

    def ordered_after(self, resource: PolicyResource, others: Iterable[PolicyResource]) -> bool:
        """Whether the engine creates `resource` after at least one of `others`."""
        before = self.before(resource)
        return any(o.urn in before for o in others)

    @staticmethod
    def feeding(resource: PolicyResource, prop: str) -> list[PolicyResource]:
        """The resources whose outputs flow into the input `prop`."""
        return list(resource.property_dependencies.get(prop, []))


def prop(resource: PolicyResource, *path: str | int, default: Any = None) -> Any:
    """A property of `resource`; `default` where it is missing or unknown at preview."""
    return known(lambda: p.get(resource.props, *path, default=default), default)


def strings(value: Any) -> Iterator[str]:
    """Every string leaf of a property tree (unknown parts skipped)."""
    todo = [value]
    while todo:
        item = todo.pop()
        try:
            if isinstance(item, str):
                yield item
            elif p.is_map(item):
                todo.extend(item[k] for k in item)
            elif p.is_list(item):
                todo.extend(item)
        except UnknownValueError:
            continue


def short(resource: PolicyResource) -> str:
    """How a message names a resource: its type's last part and its name (`Firewall 'webhooks'`)."""
    return f"{resource.resource_type.rsplit(':', 1)[-1]} '{resource.name}'"
