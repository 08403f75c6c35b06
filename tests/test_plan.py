"""Planning: grids expand, the engine's verdict is used, run order is
shuffled per cell, interleaved across repetitions and reproducible."""

import pytest

from hab.errors import UserError
from hab.records.plan import Plan
from hab.records.workload import ParamInfo, WorkloadInfo
from hab.suite.plan import make_plan
from hab.suite.suite import narrow, parse

INFO = {
    "w": WorkloadInfo(
        "w",
        "test",
        True,
        (
            ParamInfo("size", "size", "", 0),
            ParamInfo("p", "float", "", 0.0),
            ParamInfo("n", "int", "", 0),
        ),
    ),
}


def fake_check(spec):
    """Stands in for `engine --check`: fills one default."""
    return {"params": {"n": 3, **spec["params"]}, "threads": spec["threads"]}


SUITE = parse("[[benchmark]]\nworkload='w'\nparams={size=['1KiB','2KiB'], p=[0.1,0.2,0.3]}", "t")


def test_grid_expands_with_typed_values_and_engine_defaults():
    plan = make_plan(SUITE, ["a", "b"], [1, 2], INFO, fake_check, seed=1)
    assert len(plan.cells) == 2 * 3 * 2
    first = plan.cells[0]
    assert first.params == {"n": 3, "size": 1024, "p": 0.1} and first.threads == 1
    assert [c.id for c in plan.cells[:3]] == ["c00", "c01", "c02"]


def test_each_cell_runs_every_allocator_and_the_dry_variant_in_shuffled_order():
    suite = narrow(SUITE, repetitions=2)
    plan = make_plan(suite, ["a", "b", "c"], [1], INFO, fake_check, seed=3)
    # The dry variant runs in every round, as often as each allocator.
    assert len(plan.units) == 2 * 6 * 4
    orders = set()
    blocks = [plan.units[i * 4 : (i + 1) * 4] for i in range(12)]
    for n, block in enumerate(blocks):
        rep, cell = n // 6, plan.cells[n % 6]
        assert {u.cell for u in block} == {cell.id}
        assert sorted(u.allocator for u in block) == ["a", "b", "c", "dry"]
        assert {u.repetition for u in block} == {rep}
        orders.add(tuple(u.allocator for u in block if not u.dry))
    assert len(orders) > 1, "allocator order is shuffled"
    again = make_plan(suite, ["a", "b", "c"], [1], INFO, fake_check, seed=3)
    assert again.units == plan.units
    assert Plan.from_dict(plan.to_dict()) == plan


def test_no_dry_units_when_disabled():
    plan = make_plan(narrow(SUITE, dry=False), ["a"], [1], INFO, fake_check, seed=0)
    assert all(not u.dry for u in plan.units)


def test_overrides_and_unknowns():
    s = narrow(SUITE, params=[("n", ["7", "8"])])
    plan = make_plan(s, ["a"], [1], INFO, fake_check, seed=0)
    assert {c.params["n"] for c in plan.cells} == {7, 8}
    with pytest.raises(UserError, match="none of the selected workloads has this parameter"):
        make_plan(narrow(SUITE, params=[("zz", ["1"])]), ["a"], [1], INFO, fake_check, seed=0)
    with pytest.raises(UserError, match="unknown workload 'x'"):
        make_plan(narrow(SUITE, workloads=["x"]), ["a"], [1], INFO, fake_check, seed=0)
    bad = parse("[[benchmark]]\nworkload='w'\nparams={q=1}", "t")
    with pytest.raises(UserError, match="unknown parameter of w: 'q'"):
        make_plan(bad, ["a"], [1], INFO, fake_check, seed=0)


def test_duplicate_cells_after_defaults_are_planned_once():
    s = parse(
        "[[benchmark]]\nworkload='w'\nparams={n=[3], size=[1]}\n[[benchmark]]\nworkload='w'\nparams={size=[1]}", "t"
    )
    plan = make_plan(s, ["a"], [1], INFO, fake_check, seed=0)
    assert len(plan.cells) == 1
