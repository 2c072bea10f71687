"""Every stack file under stacks/ validates, synthesizes and has a sane cost estimate."""

from __future__ import annotations

import pytest

from infra.config import load_stack_file
from infra.cost import estimate
from infra.synth import STACK_TYPE

from .conftest import STACK_FILES, STACK_NAMES, synth_stack


def test_the_reference_stacks_exist():
    assert {"aws-dev", "aws-prod"} <= set(STACK_NAMES)


@pytest.mark.parametrize("path", STACK_FILES, ids=STACK_NAMES)
def test_stack_file_validates(path):
    spec, _config = load_stack_file(path)
    assert spec.governance.cost_center and spec.governance.owner
    assert spec.region in spec.governance.allowed_regions


@pytest.mark.parametrize("name", STACK_NAMES)
def test_stack_synthesizes_to_a_closed_tree(name):
    syn = synth_stack(name)
    urns = {r.urn for r in syn.resources}
    assert len(urns) == len(syn.resources), "URNs must be unique"
    roots = [r for r in syn.resources if r.parent is None]
    assert [r.type for r in roots] == [STACK_TYPE]
    assert all(r.parent in urns for r in syn.resources if r.parent)
    components = [r for r in syn.resources if not r.custom and r.type != STACK_TYPE]
    assert all(r.type.startswith("ml-platform:") for r in components)
    assert all(r.custom for r in syn.resources if r.type.startswith(("aws:", "gcp:", "pulumi:providers:")))
    assert syn.outputs["clusterName"] and syn.outputs["kubeconfig"] == "[secret]"


@pytest.mark.parametrize("name", STACK_NAMES)
def test_stack_cost_covers_pools_control_plane_nat_and_database(name):
    syn = synth_stack(name)
    cost = estimate(syn)
    kinds = {i.kind for i in cost.items}
    assert {"gpu-pool", "node-pool", "control-plane", "nat", "database"} <= kinds
    assert 0 < cost.hourly_min <= cost.hourly_max
    pools = [i for i in cost.items if i.kind == "gpu-pool"]
    assert len(pools) == len(syn.spec.gpu_pools)


def test_prod_costs_more_than_dev():
    dev, prod = estimate(synth_stack("aws-dev")), estimate(synth_stack("aws-prod"))
    assert prod.hourly_min > dev.hourly_min and prod.hourly_max > 10 * dev.hourly_max


# A resource whose provider computes an output the program did not set: in a preview that output is unknown
# and callbacks on it never run; in an update (preview=False) the engine resolves it, here to what the mock
# returned (nothing: None), and the callback runs.
PROBE = """\
import pulumi


class Thing(pulumi.CustomResource):
    def __init__(self, name):
        super().__init__("probe:index:Thing", name, {"size": 1, "computed": None})


thing = Thing("probe")
pulumi.export("dryRun", pulumi.runtime.is_dry_run())
pulumi.export("computed", thing.computed.apply(lambda value: f"callback ran on {value}"))
"""


def test_synthesis_is_not_a_preview_so_every_output_is_known(tmp_path):
    """Tests, `mlplat plan` and `mlplat check` synthesize with preview=False: the program sees no dry run,
    and a computed output is known, so callbacks on it run (and assertions on what they build)."""
    from infra.config import STACKS_DIR
    from infra.synth import UNKNOWN, synthesize, synthesize_program

    (tmp_path / "Pulumi.yaml").write_text("name: probe\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(PROBE)
    program = synthesize_program(tmp_path, "dev", {})  # `mlplat check --program`
    assert program.outputs == {"dryRun": False, "computed": "callback ran on None"}

    seen = {}

    def platform_program():  # `mlplat plan`, `mlplat check` and the fixtures: the platform program, same runtime
        import pulumi

        from infra.program import run

        seen["dry_run"] = pulumi.runtime.is_dry_run()
        run()

    spec, config = load_stack_file(STACKS_DIR / "Pulumi.aws-dev.yaml")
    syn = synthesize("aws-dev", spec, config, program=platform_program)
    assert seen == {"dry_run": False}
    assert syn.outputs["clusterName"] and UNKNOWN not in str(syn.outputs)
