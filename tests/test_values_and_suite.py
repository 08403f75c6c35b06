"""Parameter values and suite files: parsing, presets, command-line narrowing."""

import re

import pytest

from hab.errors import UserError
from hab.records.plan import Sampling
from hab.records.workload import ParamInfo
from hab.suite import suite, values

SIZE = ParamInfo("max_size", "size", "", 0)
FLOAT = ParamInfo("keep_prob", "float", "", 0.0)
INT = ParamInfo("keep_max", "int", "", 0)
CHOICE = ParamInfo("init", "choice", "", "zero", choices=("zero", "none"))


def test_sizes_read_and_print_in_binary_units():
    assert values.parse_size("65536") == 65536
    assert values.parse_size("64KiB") == values.parse_size("64k") == 65536
    assert values.parse_size("1MiB") == 1 << 20
    assert values.parse_size(" 2 gib ") == 2 << 30
    assert [values.format_size(n) for n in (65536, 1 << 20, 3 << 30, 1000)] == ["64KiB", "1MiB", "3GiB", "1000"]
    with pytest.raises(ValueError):
        values.parse_size("64XB")


def test_coerce_types_values_by_parameter_kind():
    assert values.coerce(SIZE, "1MiB", "cli") == 1 << 20
    assert values.coerce(SIZE, 4096, "toml") == 4096
    assert values.coerce(FLOAT, "0.5", "cli") == 0.5
    assert values.coerce(INT, "10_000", "cli") == 10000
    assert values.coerce(CHOICE, "none", "cli") == "none"
    with pytest.raises(UserError, match="parameter keep_max: .*integer"):
        values.coerce(INT, 1.5, "toml")
    with pytest.raises(UserError, match="parameter max_size"):
        values.coerce(SIZE, "lots", "cli")
    with pytest.raises(UserError, match="boolean"):
        values.coerce(INT, True, "toml")


def test_presets_load_and_keep_the_seed_grid_shape():
    names = suite.presets()
    assert {"default", "seed"} <= set(names)
    seed = suite.load_preset("seed")
    params = seed.benchmarks[0].params
    assert params["max_size"] == ["64KiB", "1MiB"]
    assert params["iters_per_task"] == [10000, 20000]
    assert params["keep_max"] == [0, 64, 256]
    assert seed.sampling == Sampling("auto", 20, 3.0, 30.0)
    default = suite.load_preset("default")
    assert default.benchmarks[0].params["keep_max"] == [0, 256]
    assert [b.workload for b in default.benchmarks] == ["rayon_boxes", "larson", "xmalloc", "fastpath", "fragmentation"]
    scaling = suite.load_preset("scaling")
    assert scaling.threads == (1, 2, 4) and not scaling.dry
    with pytest.raises(UserError, match="unknown preset 'nope'"):
        suite.load_preset("nope")


def test_suite_toml_is_parsed_and_checked():
    s = suite.parse(
        """
        name = "mine"
        allocators = ["system", "talc"]
        threads = [1, 2]
        repetitions = 3
        [sampling]
        sample_size = 10
        measurement_time = 2
        [[benchmark]]
        workload = "rayon_boxes"
        params = { max_size = ["4KiB", 65536], keep_prob = 0.5 }
        """,
        "mine.toml",
    )
    assert s.allocators == ("system", "talc") and s.threads == (1, 2) and s.repetitions == 3
    assert s.sampling.measurement_time == 2.0 and s.sampling.sample_size == 10
    assert s.benchmarks[0].params == {"max_size": ["4KiB", 65536], "keep_prob": [0.5]}


@pytest.mark.parametrize(
    "text, message",
    [
        ("x = [", "not valid TOML"),
        ("name = 'a'", "at least one"),
        ("bogus = 1\n[[benchmark]]\nworkload='w'", "unknown keys bogus"),
        ("threads = [0]\n[[benchmark]]\nworkload='w'", "threads: expected integers >= 1"),
        ("repetitions = 0\n[[benchmark]]\nworkload='w'", "repetitions must be"),
        ("[sampling]\nmode='fast'\n[[benchmark]]\nworkload='w'", "sampling mode must be"),
        ("[sampling]\nsample_size=1\n[[benchmark]]\nworkload='w'", "sample_size must be"),
        ("[[benchmark]]\nparams={a=1}", "needs workload"),
    ],
)
def test_bad_suites_are_one_line_errors(text, message):
    with pytest.raises(UserError, match=message) as err:
        suite.parse(text, "s.toml")
    assert "\n" not in str(err.value)


def test_narrow_applies_command_line_choices():
    base = suite.load_preset("default")
    s = suite.narrow(
        base,
        allocators=["talc"],
        threads=[1, 4],
        params=[("keep_max", ["5"])],
        sample_size=5,
        measurement_time=0.5,
        repetitions=2,
        dry=False,
    )
    assert s.allocators == ("talc",) and s.threads == (1, 4) and s.repetitions == 2 and not s.dry
    assert s.overrides == (("keep_max", ["5"]),)
    assert (s.sampling.sample_size, s.sampling.measurement_time) == (5, 0.5)
    assert s.sampling.warm_up_time == base.sampling.warm_up_time
    with pytest.raises(UserError, match="thread counts must be >= 1"):
        suite.narrow(base, threads=[0])
    assert suite.parse_param_option("max_size=64KiB,1MiB") == ("max_size", ["64KiB", "1MiB"])
    with pytest.raises(UserError):
        suite.parse_param_option("max_size")
    with pytest.raises(UserError):
        suite.split_list("a,,b", "--allocators")


def test_unit_timeout_follows_the_sampling_budget_unless_set():
    s = suite.load_preset("default")
    assert s.unit_timeout() == pytest.approx(60 + 4 * (s.sampling.warm_up_time + s.sampling.measurement_time))
    assert suite.narrow(s, timeout=7.0).unit_timeout() == 7.0


@pytest.mark.parametrize(
    "table, message",
    [
        ("[allocator.x]\ninit = 'X'", "give the crate's path or its crates.io version"),
        ("[allocator.x]\nversion = '1'\ninit = 'X'", "a crates.io allocator needs crate"),
        ("[allocator.x]\ncrate = 'x'\nversion = '1'", "needs init"),
        ("[allocator.x]\ncrate = 'x'\nversion = '1'\ninit = 'X'\ncolour = 1", "unknown keys colour"),
        ("[allocator.Bad]\npreload = 'lib.so'", "lowercase"),
        ("[allocator.x]\npreload = 'nosuch.so'", "shared object"),
    ],
)
def test_bad_allocator_definitions_in_a_suite_are_refused(tmp_path, table, message):
    path = tmp_path / "s.toml"
    path.write_text("[[benchmark]]\nworkload = 'fastpath'\n" + table)
    with pytest.raises(UserError, match=message):
        suite.load_file(path)


def test_a_suite_defines_a_crates_io_allocator_with_features(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        "[[benchmark]]\nworkload = 'fastpath'\n[allocator.mine]\ncrate = 'my-alloc'\n"
        "version = '0.3'\nfeatures = ['fast']\ninit = 'MyAlloc::new()'\n"
    )
    (a,) = suite.load_file(path).defined
    assert a.deps == {"my-alloc": {"version": "0.3", "features": ["fast"]}}
    assert (a.global_type, a.package, a.kind) == ("MyAlloc", "my-alloc", "crate")


def test_hermit_kernels_are_labelled_sources(tmp_path):
    tree = tmp_path / "kernel-mine"
    tree.mkdir()
    made = suite.guest_settings(hermit_kernels=["v0.11.0", "mine+fix=kernel-mine", str(tree)], folder=tmp_path)
    assert made.hermit_kernels == ("v0.11.0=v0.11.0", f"mine+fix={tree}", f"kernel-mine={tree}")
    toml = '[guest]\nhermit_kernels = ["v0.11.0", "kernel-mine"]\n[[benchmark]]\nworkload = "fastpath"\n'
    parsed = suite.parse(toml, "suite.toml", tmp_path)
    assert parsed.guest.hermit_kernels == ("v0.11.0=v0.11.0", f"kernel-mine={tree}")
    for given, message in [
        (["./no/such/tree"], "no kernel source tree at ./no/such/tree"),
        (["a b=v0.11.0"], "kernel label 'a b'"),
        (["v0.11.0", "v0.11.0"], "two kernels labelled v0.11.0"),
        ([""], "expected [LABEL=]SOURCE"),
    ]:
        with pytest.raises(UserError, match=re.escape(message)):
            suite.guest_settings(hermit_kernels=given, folder=tmp_path)
