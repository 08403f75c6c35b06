"""The allocator registry and the engine binaries generated from it."""

import io
import json
import sys
from dataclasses import asdict

import pytest
from rich.console import Console

from hab import paths
from hab.allocators import registry
from hab.build import cargo, codegen
from hab.errors import UserError
from hab.records.fields import RecordError
from hab.records.run import AllocatorInfo


def test_committed_engine_bins_are_in_sync_with_the_registry():
    engine = paths.engine_dir()
    files = codegen.render(list(registry.load(engine).values()))
    assert codegen.out_of_sync(engine / "bins", files) == [], "run `hab build` to regenerate engine/bins"


def test_builtin_registry_has_the_foundation_allocators():
    known = registry.load(paths.engine_dir())
    assert {"system", "jemalloc", "mimalloc", "snmalloc", "talc", "linked_list_allocator"} <= set(known)
    assert registry.select(known, ["talc", "system"]) == ["talc", "system"]
    with pytest.raises(UserError, match="unknown allocator 'nosuch' \\(known: system"):
        registry.select(known, ["nosuch"])


def test_generated_binary_declares_the_global_allocator_and_runs_setup():
    a = registry.Allocator(
        "custom",
        "x",
        "my_alloc::Alloc",
        "my_alloc::Alloc::new(7 << 30)",
        deps={"my-alloc": {"path": "/x"}},
        setup="ALLOC.enable();",
    )
    text = codegen.render_main(a)
    declared = "static ALLOC: hab_engine::Routed<my_alloc::Alloc> = hab_engine::Routed(my_alloc::Alloc::new(7 << 30));"
    assert f"#[global_allocator]\n{declared}" in text
    assert 'hab_engine::main("custom", || {\n        ALLOC.enable();\n    }, hab_engine::library::none);' in text
    files = codegen.render([a])
    assert 'name = "hab-engine-custom"' in files["Cargo.toml"]
    assert "[dependencies.my-alloc]" in files["Cargo.toml"]
    assert 'custom = [\n    "dep:my-alloc",\n]' in files["Cargo.toml"], "its dependency is behind its own feature"
    assert 'required-features = [\n    "custom",\n]' in files["Cargo.toml"]


def test_sync_writes_changes_and_removes_stale_binaries(tmp_path):
    a = registry.Allocator("one", "x", "std::alloc::System", "std::alloc::System")
    (tmp_path / "src" / "bin").mkdir(parents=True)
    (tmp_path / "src" / "bin" / "gone.rs").write_text("old")
    files = codegen.render([a])
    assert sorted(codegen.sync(tmp_path, files)) == ["Cargo.toml", "src/bin/gone.rs", "src/bin/one.rs"]
    assert not (tmp_path / "src" / "bin" / "gone.rs").exists()
    assert codegen.out_of_sync(tmp_path, files) == []


def test_conflicting_dependencies_are_refused():
    a = registry.Allocator("a", "x", "T", "T", deps={"c": "1"})
    b = registry.Allocator("b", "x", "T", "T", deps={"c": "2"})
    with pytest.raises(UserError, match="entries must agree"):
        codegen.render([a, b])


@pytest.mark.parametrize(
    "text, message",
    [
        ("[Bad]\nabout='x'\nglobal='T'\ninit='T'", "lowercase"),
        ("[dry]\nabout='x'\nglobal='T'\ninit='T'", "is the name of the dry variant"),
        ("[a]\nabout='x'\nglobal='T'", "missing init"),
        ("[a]\nabout='x'\nglobal='T'\ninit='T'\ncolour='red'", "unknown keys colour"),
        ("[a", "cannot read allocator registry"),
        ("[a]\nabout='x'\npreload='libx.so.1'\nglobal='T'", "unknown keys global"),
        ("[a]\npreload='libx.so.1'", "missing about"),
        ("[a]\nabout='x'\nglobal='T'\ninit='T'\nnative=['alloc','free']", "native: expected a list of distinct"),
        ("[a]\nabout='x'\nglobal='T'\ninit='T'\nnative='all'", "native: expected a list of distinct"),
        ("[a]\nabout='x'\nglobal='T'\ninit='T'\nnative=['alloc','alloc']", "native: expected a list of distinct"),
        ("[a]\nabout='x'\npreload='libx.so.1'\nnative=['alloc']", "unknown keys native"),
    ],
)
def test_bad_registry_entries_are_refused(tmp_path, text, message):
    (tmp_path / "allocators.toml").write_text(text)
    with pytest.raises(UserError, match=message):
        registry.load(tmp_path)


def test_versions_come_from_the_lock_file():
    engine = paths.engine_dir()
    known, locked = registry.load(engine), registry.locked_versions(engine)
    assert registry.version_of(known["talc"], locked).startswith("talc 4.")
    assert registry.version_of(known["jemalloc"], locked).startswith("tikv-jemalloc-sys 0.")


def test_preload_entries_are_not_generated_into_the_engine_workspace(tmp_path):
    (tmp_path / "allocators.toml").write_text(
        "[c]\nabout='x'\nglobal='T'\ninit='T'\n[p]\nabout='y'\npreload='libp.so.1'\ndebian='libp1'\n"
    )
    known = registry.load(tmp_path)
    assert (known["c"].kind, known["p"].kind) == ("crate", "preload")
    assert known["p"].debian == "libp1" and known["p"].builtin_crate is False
    assert sorted(codegen.render(list(known.values()))) == ["Cargo.toml", "src/bin/c.rs"]


def _script(body: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; {body}"]


def test_a_build_is_announced_only_when_cargo_builds(tmp_path):
    waiting = "sys.stderr.write('    Blocking waiting for file lock on package cache\\n    Finished release\\n')"
    out = io.StringIO()
    cargo.run(_script(waiting), Console(file=out), tmp_path / "log", "the engine")
    assert "building" not in out.getvalue(), "waiting for another cargo's lock is no build"
    out = io.StringIO()
    cargo.run(_script("sys.stderr.write('   Compiling hab-bins v0.1.0\\n')"), Console(file=out), tmp_path / "log", "x")
    assert "building x with cargo (release)" in out.getvalue()
    with pytest.raises(UserError, match=r"^building x failed: error\[E0425\]: nope \(full log: "):
        cargo.run(
            _script("sys.stderr.write('error[E0425]: nope\\n'); sys.exit(101)"), Console(file=out), tmp_path / "l", "x"
        )


def test_every_builtin_states_its_native_operations_and_preloads_take_the_system_binarys():
    known = registry.load(paths.engine_dir())
    assert all(a.native is not None for a in known.values())
    summary = {name: registry.native_summary(a.native) for name, a in known.items()}
    assert summary["rpmalloc"] == summary["jemalloc"] == summary["system"] == summary["tcmalloc"] == "all"
    assert summary["talc"] == "no zeroed"
    assert summary["linked_list_allocator"] == summary["buddy_system_allocator"] == "no zeroed, realloc"


def test_native_operations_are_kept_in_order_and_unknown_when_unsaid(tmp_path):
    (tmp_path / "allocators.toml").write_text(
        "[system]\nabout='x'\nglobal='T'\ninit='T'\nnative=['realloc','dealloc','alloc']\n"
        "[quiet]\nabout='x'\nglobal='T'\ninit='T'\n[p]\nabout='y'\npreload='libp.so.1'\n"
    )
    known = registry.load(tmp_path)
    assert known["system"].native == known["p"].native == ("alloc", "dealloc", "realloc")
    assert registry.native_summary(known["system"].native) == "no zeroed"
    assert known["quiet"].native is None and registry.native_summary(None) == "unknown"
    assert registry.native_summary(()) == "no alloc, dealloc, zeroed, realloc"


def test_a_run_records_native_operations_and_older_runs_read_as_unknown():
    info = AllocatorInfo("crate", "x 1", "about", "built-in", ("alloc", "dealloc"))
    stored = json.loads(json.dumps(asdict(info)))
    assert stored["native"] == ["alloc", "dealloc"] and AllocatorInfo.from_dict(stored, "run.json") == info
    del stored["native"]
    assert AllocatorInfo.from_dict(stored, "run.json").native is None
    with pytest.raises(RecordError, match=r"run.json.native\[0\]: expected a string"):
        AllocatorInfo.from_dict({**stored, "native": [1]}, "run.json")
