"""Fidelity: where the registry says an allocator's library serves
`realloc` or `alloc_zeroed` itself (`native` in engine/allocators.toml),
the engine binary's call really reaches the library's code. Seen in
callgrind's call graph of a short engine run: from Rust's allocator shim
(`__rust_realloc`, `__rust_alloc_zeroed`) to the library's entry point;
for snmalloc, which cannot run under Valgrind, at a gdb breakpoint."""

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from hab import paths
from hab.allocators import preload, registry
from hab.execution import counting

pytestmark = pytest.mark.slow

KNOWN = registry.load(paths.engine_dir())
CRATES = [name for name, a in KNOWN.items() if a.builtin_crate]
PRELOADS = [name for name, a in KNOWN.items() if a.kind == "preload"]

#: Short engine runs: `realloc_growth` reallocates (4 buffers grown to 64 KiB);
#: `rayon_boxes` allocates zeroed boxes (its default init=zero).
_FIXED = {"protocol": 1, "threads": 1, "fixed": {"warm_up": 1, "per_sample": 1}, "sampling": {"sample_size": 2}}
SPECS = {
    "realloc": {**_FIXED, "workload": "realloc_growth"},
    "alloc_zeroed": {
        **_FIXED,
        "workload": "rayon_boxes",
        "params": {"max_size": 4096, "iters_per_task": 300, "keep_max": 0},
    },
}
#: The function of Rust's allocator shim that each operation enters first.
SHIMS = {"realloc": "__rust_realloc", "alloc_zeroed": "__rust_alloc_zeroed"}

#: The library function each crate allocator's native operation must reach,
#: from the crate's GlobalAlloc impl at the locked version (docs/allocators.md,
#: "Native operations"). system's are glibc's and sit in libc.so.
LIBRARY_ENTRIES = {
    "system": {"realloc": "realloc", "alloc_zeroed": "calloc"},
    "jemalloc": {"realloc": "_rjem_realloc", "alloc_zeroed": "_rjem_calloc"},  # tikv-jemalloc-sys's prefix
    "mimalloc": {"realloc": "mi_realloc_aligned", "alloc_zeroed": "mi_zalloc_aligned"},
    "rpmalloc": {"realloc": "rprealloc", "alloc_zeroed": "rpaligned_calloc"},
    # The arena's realloc for talc, into which talc's grow and shrink are inlined.
    "talc": {"realloc": "<talc::talc::Talc<talc::oom_handler::ErrOnOom> as hab_arena::ArenaHeap>::realloc"},
    "snmalloc": {"realloc": "sn_rust_realloc", "alloc_zeroed": "sn_rust_alloc_zeroed"},
}
#: Calls between the shim and the library's entry (the engine's wrapper
#: and the crate's impl may or may not be inlined).
MAX_DEPTH = 4

Node = tuple[str, str]  # (object file, function)


def call_graph(path: Path) -> dict[Node, set[Node]]:
    """Callgrind's call graph from its output file: caller -> callees. Names
    are compressed (`fn=(12) name` once, `fn=(12)` after); a callee's
    object is the caller's unless a `cob=` line names it."""
    names: dict[tuple[str, str], str] = {}

    def name(kind: str, value: str) -> str:
        m = re.fullmatch(r"\((\d+)\)(?: (.*))?", value)
        if m is None:
            return value
        if m.group(2) is not None:
            names[kind, m.group(1)] = m.group(2)
        return names[kind, m.group(1)]

    graph: dict[Node, set[Node]] = defaultdict(set)
    obj = callee_obj = caller = None
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key == "ob":
            obj = name("ob", value)
        elif key == "cob":
            callee_obj = name("ob", value)
        elif key == "fn":
            caller, callee_obj = (obj, name("fn", value)), None
        elif key == "cfn":
            graph[caller].add((callee_obj or obj, name("fn", value)))
            callee_obj = None
    return graph


def below(graph: dict[Node, set[Node]], roots: set[Node]) -> set[Node]:
    """`roots` and the functions they call within MAX_DEPTH calls."""
    seen = frontier = roots
    for _ in range(MAX_DEPTH):
        frontier = {c for n in frontier for c in graph.get(n, ())} - seen
        seen = seen | frontier
    return seen


def reached(graph: dict[Node, set[Node]], shim: str) -> set[Node]:
    """Functions called from Rust's allocator shim `shim` within MAX_DEPTH calls."""
    roots = {n for n in graph if n[1].endswith(shim)}
    assert roots, f"callgrind saw no {shim}"
    return below(graph, roots)


def callgrind(binary: Path, op: str, out: Path, env: dict | None = None) -> tuple[dict, dict[Node, set[Node]]]:
    """Runs `binary` on the spec for `op` under callgrind; its hello record and call graph."""
    argv = ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}", str(binary)]
    done = subprocess.run(
        [*argv, json.dumps(SPECS[op])],
        env=counting.environment({**os.environ, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    hello = next(json.loads(line[6:]) for line in done.stdout.splitlines() if '"type":"hello"' in line)
    return hello, call_graph(out)


@pytest.fixture(scope="module")
def valgrind():
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is not installed: `hab setup` installs it")


def test_every_native_realloc_and_zeroing_has_a_library_entry_to_look_for():
    for name in CRATES:
        native = KNOWN[name].native
        assert native is not None, f"{name}: the registry says nothing of its native operations"
        for op in SHIMS:
            assert op not in native or op in LIBRARY_ENTRIES.get(name, {}), f"{name}: where does its {op} go?"


@pytest.mark.parametrize("name", CRATES)
def test_a_native_operation_reaches_the_library(name, binaries, valgrind, tmp_path):
    ops = [op for op in SHIMS if op in KNOWN[name].native]
    if KNOWN[name].uncounted:
        pytest.skip(f"{name} cannot run under Valgrind; see the gdb test")
    for op in ops:
        hello, graph = callgrind(binaries[name], op, tmp_path / f"{op}.out")
        entry = LIBRARY_ENTRIES[name][op]
        calls = reached(graph, SHIMS[op])
        hits = {obj for obj, fn in calls if fn == entry}
        assert hits, f"{name}: {SHIMS[op]} never reaches {entry}; it calls {sorted(f for _, f in calls)}"
        if name == registry.SYSTEM:
            libc = os.path.realpath(hello["malloc_from"])
            assert libc in {os.path.realpath(o) for o in hits}, (hits, libc)


def test_snmalloc_is_checked_at_a_breakpoint_as_valgrind_cannot_run_it(binaries, tmp_path):
    """snmalloc aborts under Valgrind (its pagemap reservation): gdb stops at
    the library's entry points instead, called from Rust's allocation API.
    (Under a fallback they would not be called at all.)"""
    a = KNOWN["snmalloc"]
    assert a.uncounted and "Valgrind" in a.uncounted and a.native == registry.OPERATIONS
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    for op in ("realloc", "alloc_zeroed"):
        entry = LIBRARY_ENTRIES["snmalloc"][op]
        argv = ["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", f"break {entry}", "-ex", "run"]
        argv += ["-ex", "bt 6", "-ex", "kill", "--args", str(binaries["snmalloc"]), json.dumps(SPECS[op])]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        # snmalloc's C++ is built without debug info, so gdb names the stop by address.
        stop = re.split(rf"Breakpoint 1, (?:0x[0-9a-f]+ in )?{entry}\b", done.stdout, maxsplit=1)
        assert len(stop) == 2, done.stdout[-2000:] + done.stderr[-2000:]
        # The shim is inlined into the Rust API's function that calls it (alloc::alloc::realloc, ...).
        # gdb names it by its path or alone (alloc::alloc::realloc, realloc), as inlining fell out.
        caller = re.compile(rf"in (?:\w+::)*({SHIMS[op]}|{op}) \(\) at \S*library/alloc/src/alloc\.rs")
        assert any(caller.search(frame) for frame in stop[1].split("\n#")[1:]), stop[1][:2000]


@pytest.mark.parametrize("name", PRELOADS)
def test_a_preloaded_library_serves_realloc_and_calloc(name, binaries, valgrind, tmp_path):
    """The system binary's realloc and calloc resolve to the preloaded
    library, as its malloc does (`malloc_from`)."""
    a = KNOWN[name]
    assert a.native == KNOWN[registry.SYSTEM].native
    library = preload.locate(a.preload)
    if library is None:
        pytest.skip(f"{a.preload} is not installed (`hab setup` installs it)")
    real = os.path.realpath(library)

    def inside(node: Node) -> bool:
        return os.path.realpath(node[0]) == real

    for op, entry in (("realloc", "realloc"), ("alloc_zeroed", "calloc")):
        hello, graph = callgrind(binaries[registry.SYSTEM], op, tmp_path / f"{op}.out", {"LD_PRELOAD": library})
        assert os.path.realpath(hello["malloc_from"]) == real
        # The entry itself may sit in no object callgrind can name (tcmalloc
        # keeps its allocation functions in a section of their own): then
        # the library's code it calls shows whose it is.
        entries = {n for n in reached(graph, SHIMS[op]) if entry in n[1]}
        served = [n for n in entries if inside(n) or any(inside(c) for c in below(graph, {n}))]
        assert served, f"{name}: {SHIMS[op]} reaches {sorted(entries)}, none of them served by {library}"
