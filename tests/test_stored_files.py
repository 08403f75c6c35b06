"""Damaged stored files: a damaged unit is skipped with a warning naming it
and the rest is analysed; a damaged run.json is one error naming it. Never
a traceback, whatever the bytes (property-based over mutated files)."""

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import hab
from hab.analysis.run import analyse
from hab.errors import UserError
from hab.report import jsonout, run_table
from hab.store import runs
from mutations import mutated
from synthetic import write_run

#: Examples per property test; HAB_FUZZ_EXAMPLES=N explores more, with random seeds.
EXAMPLES = int(os.environ.get("HAB_FUZZ_EXAMPLES", "150"))
DERANDOMIZE = "HAB_FUZZ_EXAMPLES" not in os.environ  # CI: the same examples every time
LEVELS = {"system": [10.0, 11.0, 10.5], "talc": [12.0, 12.5, 13.0]}
UNIT = "c00-talc-r1.json"


@pytest.fixture
def run(tmp_path) -> Path:
    return write_run(tmp_path / "res", LEVELS)


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _set(*keys, value):
    def change(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


DAMAGED_UNITS = {
    "binary": (lambda p: p.write_bytes(bytes(range(256))), "codec can't decode"),
    "truncated": (lambda p: p.write_text(p.read_text()[:200]), "Expecting value: line 17"),
    "a list": (lambda p: p.write_text("[1, 2]"), "expected an object, got list"),
    "text samples": (lambda p: _edit(p, _set("samples", "ns", value=["1"] * 10)), "samples.ns[0]: expected a number"),
    "fewer times": (lambda p: _edit(p, _set("samples", "ns", value=[1.0] * 9)), "9 times for 10 iteration counts"),
    "negative time": (
        lambda p: _edit(p, _set("samples", "ns", value=[-5.0] * 10)),
        "samples.ns[0]: expected a number > 0",
    ),
    "zero time": (lambda p: _edit(p, _set("samples", "ns", value=[0] * 10)), "samples.ns[0]: expected a number > 0"),
    "NaN": (lambda p: p.write_text(p.read_text().replace('"ns": [', '"ns": [NaN, ', 1)), "expected a finite number"),
    "unknown cell": (lambda p: _edit(p, _set("unit", "cell", value="c99")), "holds unit c99-talc-r1"),
    "another unit": (lambda p: _edit(p, _set("unit", "repetition", value=0)), "holds unit c00-talc-r0"),
}


@pytest.mark.parametrize("case", DAMAGED_UNITS)
def test_a_damaged_unit_is_skipped_and_named_and_the_rest_is_analysed(run, case):
    damage, problem = DAMAGED_UNITS[case]
    damage(run / "units" / UNIT)
    stored = runs.load(run)
    assert [name for name, _ in stored.skipped] == [UNIT]
    assert problem in stored.skipped[0][1], stored.skipped
    result = analyse(stored, nresamples=1000)
    heading = run_table.render(result, stored.meta, 120)
    assert "(5/6 engine processes)" in heading and f"WARNING: skipped damaged units/{UNIT}: " in heading
    assert json.loads(jsonout.render(result, stored.meta))["skipped_files"][0]["file"] == UNIT
    talc = next(r for r in result.cells[0].rows if r.allocator == "talc")
    assert talc.ok and talc.processes == 2


def test_hab_show_warns_on_stderr_and_exits_0(run, tmp_path):
    (run / "units" / UNIT).write_text("{")
    done = hab("show", str(run), cwd=tmp_path, check_exit=0)
    assert done.stderr.startswith(f"hab: warning: skipped {run / 'units' / UNIT}: ")
    assert done.stderr.count("\n") == 1 and "5/6 engine processes" in done.stdout


DAMAGED_META = {
    "plan null": (_set("plan", value=None), "run.json.plan: expected an object, got null"),
    "nresamples 0": (_set("analysis", "nresamples", value=0), "nresamples: expected an integer >= 100"),
    "confidence NaN": (_set("analysis", "confidence", value=math.nan), "expected a finite number"),
    "unknown status": (_set("status", value="abandoned"), "unknown status 'abandoned'"),
}


@pytest.mark.parametrize("case", DAMAGED_META)
def test_a_damaged_run_json_is_one_error_naming_it(run, tmp_path, case):
    change, problem = DAMAGED_META[case]
    _edit(run / "run.json", change)
    done = hab("show", str(run), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"hab: error: cannot read {run / 'run.json'}: ") and problem in done.stderr


@pytest.mark.parametrize("file", ["units", "run.json"])
def test_no_mutation_of_a_stored_file_gives_a_traceback(tmp_path_factory, file):
    tried = 0

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
    @given(data=st.data())
    def check(data):
        nonlocal tried
        run = write_run(tmp_path_factory.mktemp("fuzz"), LEVELS)
        path = run / "units" / UNIT if file == "units" else run / "run.json"
        doc = mutated(data, json.loads(path.read_text()))
        raw = json.dumps(doc, allow_nan=True).encode()
        if data.draw(st.booleans()):
            cut = data.draw(st.integers(0, len(raw)))
            raw = raw[:cut] + data.draw(st.binary(max_size=4))
        path.write_bytes(raw)
        tried += 1
        try:
            stored = runs.load(run)
        except UserError as e:
            assert file == "run.json" and str(e).startswith(f"cannot read {path}: ")
            return
        result = analyse(stored, nresamples=200)
        run_table.render(result, stored.meta, 120)
        jsonout.render(result, stored.meta)

    check()
    print(f"{file}: {tried} mutated files tried, none gave a traceback")
    assert tried >= min(EXAMPLES, 100)
