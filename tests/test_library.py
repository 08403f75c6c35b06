"""Each built-in allocator's library tells its exact version and build
options (`ENGINE --library`, the banners, cargo's account), `hab list
allocators` shows them, and a run stores them, validated when read."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import hab
from hab import debian, paths
from hab.allocators import preload, registry
from hab.execution import library
from hab.execution.engines import native_env

pytestmark = pytest.mark.slow

ENGINE = paths.engine_dir()
KNOWN = registry.load(ENGINE)


def _upstream(package: str) -> str:
    """A Debian package's upstream version: 5.3.0-1 -> 5.3.0, 2.0.9+ds-2 -> 2.0.9."""
    return re.split(r"[-+~]", debian.installed_version(package) or "?")[0]


def _mimalloc_header_version() -> str:
    """The version in the mimalloc sources the crate compiles (v3 unless its v2 feature is on)."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--offline", "--all-features", "--format-version", "1"],
            cwd=ENGINE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    manifest = next(p["manifest_path"] for p in meta["packages"] if p["name"] == "libmimalloc-sys")
    header = Path(manifest).parent / "c_src" / "mimalloc" / "v3" / "include" / "mimalloc.h"
    v = int(re.search(r"#define MI_MALLOC_VERSION (\d+)", header.read_text()).group(1))
    return f"{v // 10000}.{v // 100 % 100}.{v % 100}"


@pytest.fixture(scope="module")
def described(binaries):
    """Every available built-in allocator's library, as `hab run` records it."""
    facts = library.cargo_facts(ENGINE, library.newest_scripts(paths.target_dir(ENGINE)))
    out = {}
    for name, a in KNOWN.items():
        so = preload.locate(a.preload) if a.preload else None
        if a.preload and so is None:
            continue
        binary = binaries[registry.SYSTEM if a.preload else name]
        out[name] = library.describe(a, binary, native_env(so, False), facts)
    return out


def test_every_built_in_library_tells_its_version_and_build(described):
    glibc = os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    assert described["system"].name == "glibc" and described["system"].version == glibc

    jemalloc = described["jemalloc"]
    assert jemalloc.source == "library" and jemalloc.version.startswith("5.3.1-0-g"), jemalloc
    locked = registry.locked_versions(ENGINE)["tikv-jemalloc-sys"]
    assert locked.endswith("+" + jemalloc.version), (locked, jemalloc.version)  # the crate names what it bundles
    assert jemalloc.config["config.debug"] == "false" and jemalloc.config["config.stats"] == "false"
    assert jemalloc.config["cargo features"].startswith("background_threads_runtime_support")

    mimalloc = described["mimalloc"]
    assert mimalloc.version == _mimalloc_header_version()
    assert mimalloc.config["secure level"] == "0" and mimalloc.config["debug level"] == "0"

    snmalloc = described["snmalloc"]  # no introspection: cargo's account, built as released
    assert snmalloc.source == "cargo" and snmalloc.name == "snmalloc-sys"
    assert snmalloc.config["BUILD_TYPE"] == "Release" and "build_cc" in snmalloc.config["cargo features"]
    assert "-DNDEBUG" in snmalloc.config["CXXFLAGS"].split()

    assert described["rpmalloc"].config["cargo features"] == "default, preload"
    for name in ("talc", "linked_list_allocator", "buddy_system_allocator"):
        assert described[name] is None, name  # a Rust crate: its version says it all

    if "jemalloc_debian" in described:
        debian_je = described["jemalloc_debian"]
        assert debian_je.version.startswith(_upstream("libjemalloc2") + "-0-g")
        assert debian_je.config["config.prof"] == "true" and debian_je.config["config.stats"] == "true"
    if "mimalloc_debian" in described:
        assert described["mimalloc_debian"].version == _upstream("libmimalloc2.0")
        assert described["mimalloc_debian"].config["secure level"] == "0"
    if "tcmalloc" in described:
        assert described["tcmalloc"].version == f"gperftools {_upstream('libtcmalloc-minimal4')}"
        assert int(described["tcmalloc"].config["tcmalloc.max_total_thread_cache_bytes"]) > 0
    if "tbbmalloc" in described:
        tbb = described["tbbmalloc"]
        assert _upstream("libtbbmalloc2").startswith(tbb.version + "."), tbb
        assert tbb.config == {"TBB_USE_DEBUG": "0", "TBB_USE_ASSERT": "0"}


def test_list_allocators_shows_exact_versions_and_build_options(binaries, tmp_path):
    out = hab("list", "allocators", cwd=tmp_path, check_exit=0, columns=200).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line[0].isspace()}
    assert re.search(r"jemalloc 5\.3\.1-0-g[0-9a-f]{8} \(tikv-jemalloc-sys", out), out
    builds = out[out.index("Library builds") : out.index("Not on a guest target")]
    assert "BUILD_TYPE=Release" in builds and "config.stats=false" in builds
    if preload.locate(KNOWN["jemalloc_debian"].preload):
        assert "config.prof=true" in builds and "jemalloc 5.3.0-0-g" in rows["jemalloc_debian"] + builds


def test_a_run_stores_the_libraries_and_refuses_a_damaged_record(binaries, tmp_path):
    hab(
        "run", "-a", "system,jemalloc", "-w", "fastpath", "-t", "1", "--repetitions", "1", "--sample-size", "3",
        "--warm-up-time", "0.02", "--measurement-time", "0.05", "--no-dry", "--out", "res",
        cwd=tmp_path, check_exit=0,
    )  # fmt: skip
    run = (tmp_path / "res" / "latest").resolve()
    meta = json.loads((run / "run.json").read_text())
    stored = meta["allocators"]["jemalloc"]["library"]
    assert stored["name"] == "jemalloc" and stored["version"].startswith("5.3.1") and stored["source"] == "library"
    markdown = hab("export", "markdown", str(run), cwd=tmp_path, check_exit=0).stdout
    assert "#### Allocators" in markdown and "config.prof=false" in markdown

    meta["allocators"]["jemalloc"]["library"]["config"]["opt.narenas"] = 8
    (run / "run.json").write_text(json.dumps(meta))
    done = hab("show", str(run), cwd=tmp_path, check_exit=2)
    assert done.stderr.count("\n") == 1 and "allocators.jemalloc.library.config.opt.narenas" in done.stderr


def test_a_preloaded_library_is_told_apart_from_glibc_by_its_own_answer(binaries):
    so = preload.locate(KNOWN["tcmalloc"].preload)
    if so is None:
        pytest.skip("tcmalloc is not installed (`hab setup` installs it)")
    alone = library.ask(binaries[registry.SYSTEM], native_env(None, False))
    preloaded = library.ask(binaries[registry.SYSTEM], native_env(so, False))
    assert alone.name == "glibc" and preloaded.name == "tcmalloc"


def test_snmalloc_is_measured_as_released(binaries, tmp_path):
    """Built without NDEBUG, snmalloc filled every large chunk it gave back
    with 0x5a: 1445x glibc's time per `large` iteration, against about 6x
    with NDEBUG (docs/allocators.md). A ratio measured in one run."""
    hab(
        "run", "-a", "system,snmalloc", "-w", "large", "-p", "init=none", "-t", "1", "--repetitions", "2",
        "--sample-size", "5", "--warm-up-time", "0.05", "--measurement-time", "0.2", "--no-dry", "--out", "res",
        cwd=tmp_path, check_exit=0,
    )  # fmt: skip
    doc = json.loads(hab("show", "res/latest", "--json", cwd=tmp_path, check_exit=0).stdout)
    rows = {r["allocator"]: r for r in doc["cells"][0]["results"]}
    ratio = rows["snmalloc"]["ratio_to_reference"]["point"]
    assert ratio < 100, f"snmalloc takes {ratio:.0f}x glibc's time per large iteration: a debug build?"
    # The run recorded the flags of the build it ran, from cargo's own report of that build.
    flags = doc["run"]["allocators"]["snmalloc"]["library"]["config"]["CXXFLAGS"]
    assert "-DNDEBUG" in flags.split(), flags


def test_compare_says_when_a_library_changed_between_the_runs(binaries, tmp_path):
    """The same allocator set up differently (here jemalloc's decay by
    _RJEM_MALLOC_CONF) or another version is named above the comparison."""
    args = ["run", "-a", "system,jemalloc", "-w", "fastpath", "-t", "1", "--repetitions", "1", "--sample-size", "3"]
    args += ["--warm-up-time", "0.02", "--measurement-time", "0.05", "--no-dry"]
    hab(*args, "--out", "a", cwd=tmp_path, check_exit=0)
    hab(*args, "--out", "b", cwd=tmp_path, check_exit=0, env={"_RJEM_MALLOC_CONF": "dirty_decay_ms:5000"})
    done = hab("compare", "a/latest", "b/latest", cwd=tmp_path, columns=200)
    assert "NOTE: jemalloc's library was built or set up differently in B: opt.dirty_decay_ms 10000 -> 5000" in (
        done.stdout
    ), done.stdout
    assert "NOTE: system" not in done.stdout

    meta_path = (tmp_path / "a" / "latest" / "run.json").resolve()
    meta = json.loads(meta_path.read_text())
    meta["allocators"]["system"]["library"]["version"] = "2.31"
    meta_path.write_text(json.dumps(meta))
    done = hab("compare", "a/latest", "b/latest", cwd=tmp_path, columns=200)
    glibc = os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    assert f"NOTE: system is another build in B: glibc 2.31 in A, glibc {glibc} in B" in done.stdout, done.stdout
