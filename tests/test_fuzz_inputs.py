"""Property-based tests (hypothesis) over what users hand to hab: suite
files, command-line values, criterion trees. Whatever the input, the
outcome is a value in range or a one-line user error, never a traceback;
each test prints how many cases it tried."""

import json
import math
import os
import tomllib
from importlib import resources
from pathlib import Path

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from hab.analysis.run import analyse
from hab.errors import UserError
from hab.interop.criterion.importer import import_tree
from hab.records.workload import ParamInfo
from hab.store import runs
from hab.suite import adaptive, suite, values
from mutations import mutated

EXAMPLES = int(os.environ.get("HAB_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="HAB_FUZZ_EXAMPLES" not in os.environ)

NUMBER_TEXT = st.sampled_from(["nan", "inf", "-inf", "1e300", "-1", "0", "1e-300", "", " ", "1_0", "0x10"]) | st.text(
    max_size=8
)


def test_suite_files_are_a_suite_or_one_user_error():
    presets = [
        tomllib.loads((resources.files("hab.suite") / "presets" / f"{p}.toml").read_text()) for p in suite.presets()
    ]
    tried = accepted = 0

    @FUZZ
    @given(data=st.data())
    def check(data):
        nonlocal tried, accepted
        doc = mutated(data, json.loads(json.dumps(data.draw(st.sampled_from(presets)))), none=False)
        tried += 1
        try:
            parsed = suite.parse(tomli_w.dumps(doc), "fuzz.toml")
        except UserError as e:
            assert "\n" not in str(e)
            return
        accepted += 1
        assert parsed.benchmarks and parsed.repetitions >= 1
        assert parsed.timeout is None or 0 < parsed.timeout <= suite.MAX_TIMEOUT_S
        assert 0 < parsed.sampling.measurement_time <= suite.MAX_PHASE_S

    check()
    print(f"suite files: {tried} mutated presets tried, {accepted} accepted, none gave a traceback")
    assert tried >= min(EXAMPLES, 100)


def test_command_line_figures_are_in_range_or_one_user_error():
    tried = 0
    base = suite.load_preset("default")

    @FUZZ
    @given(
        timeout=st.none() | st.floats(),
        warm=st.none() | st.floats(),
        measure=st.none() | st.floats(),
        reps=st.none() | st.integers(),
        size=st.none() | st.integers(),
    )
    def check(timeout, warm, measure, reps, size):
        nonlocal tried
        tried += 1
        try:
            out = suite.narrow(
                base, timeout=timeout, repetitions=reps, warm_up_time=warm, measurement_time=measure, sample_size=size
            )
        except UserError:
            return
        assert math.isfinite(out.unit_timeout()) and 1 <= out.repetitions <= suite.MAX_REPETITIONS
        assert 0 <= out.sampling.warm_up_time <= suite.MAX_PHASE_S and out.sampling.sample_size >= 2

    check()
    print(f"command-line figures: {tried} combinations tried")
    assert tried >= min(EXAMPLES, 100)


def test_text_values_parse_in_range_or_fail_with_a_message():
    tried = 0
    kinds = [ParamInfo("p", kind, "", 1) for kind in ("int", "size", "float")]

    @FUZZ
    @given(
        text=NUMBER_TEXT, which=st.sampled_from(["duration", "precision", "size", "param"]), kind=st.sampled_from(kinds)
    )
    def check(text, which, kind):
        nonlocal tried
        tried += 1
        try:
            if which == "duration":
                assert 0 < adaptive.parse_duration(text) <= adaptive.MAX_BUDGET_S
            elif which == "precision":
                assert 0 < adaptive.parse_precision(text) < 1
            elif which == "size":
                assert values.parse_size(text) >= 0
            else:
                value = values.coerce(kind, text, "fuzz")
                assert not isinstance(value, float) or math.isfinite(value)
        except (ValueError, UserError) as e:
            assert str(e) and "\n" not in str(e)

    check()
    print(f"text values: {tried} tried")
    assert tried >= min(EXAMPLES, 100)


def _tree(root: Path) -> dict[str, Path]:
    """A small valid criterion tree (current format); its files by role."""
    base = root / "tree" / "boxes" / "alloc" / "new"
    base.mkdir(parents=True)
    files = {"sample": base / "sample.json", "benchmark": base / "benchmark.json", "estimates": base / "estimates.json"}
    iters = [float(i * 10) for i in range(1, 11)]
    files["sample"].write_text(
        json.dumps({"sampling_mode": "Linear", "iters": iters, "times": [i * 50.0 for i in iters]})
    )
    files["benchmark"].write_text(
        json.dumps(
            {
                "group_id": "boxes",
                "function_id": "alloc",
                "value_str": None,
                "full_id": "boxes/alloc",
                "directory_name": "boxes/alloc",
                "throughput": {"Elements": 100},
            }
        )
    )
    point = {
        "confidence_interval": {"confidence_level": 0.95, "lower_bound": 49.0, "upper_bound": 51.0},
        "point_estimate": 50.0,
        "standard_error": 0.5,
    }
    files["estimates"].write_text(
        json.dumps({k: point for k in ("mean", "median", "median_abs_dev", "slope", "std_dev")})
    )
    return files


def test_criterion_trees_import_or_fail_with_nothing_written(tmp_path_factory):
    tried = imported = 0

    @FUZZ
    @given(data=st.data())
    def check(data):
        nonlocal tried, imported
        root = tmp_path_factory.mktemp("tree")
        files = _tree(root)
        target = files[data.draw(st.sampled_from(list(files)))]
        doc = mutated(data, json.loads(target.read_text()))
        target.write_text(json.dumps(doc, allow_nan=True))
        tried += 1
        results = root / "res"
        try:
            run = import_tree(root / "tree", results, "imported")
        except UserError as e:
            assert "\n" not in str(e) and not results.exists()
            return
        imported += 1
        stored = runs.load(run.path)
        assert not stored.skipped
        analyse(stored, nresamples=200)

    check()
    print(f"criterion trees: {tried} mutated trees tried, {imported} imported, none gave a traceback")
    assert tried >= min(EXAMPLES, 100)
