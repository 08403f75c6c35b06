"""The `hab` command line's options: one subparser per command."""

import argparse
import re

from hab import __version__
from hab.errors import UserError, unknown
from hab.execution.rss import DEFAULT_INTERVAL as RSS_INTERVAL
from hab.records.plan import METRICS, TIME
from hab.records.target import ACCELERATORS, TARGETS

#: Default of `--latency` without a value: one call in this many is timed.
LATENCY_EVERY = 8


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        typo = re.search(r"argument ([^:]+): invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if typo:
            what = typo.group(1).split("/")[-1]  # "command", "format", "--sampling-mode"
            raise unknown(what, typo.group(2), re.findall(r"'?([^',\s]+)'?", typo.group(3)))
        raise UserError(message)


def _comparison_options(p: argparse.ArgumentParser) -> None:
    """How two runs are compared: `hab compare`'s and `hab report A B`'s options."""
    p.add_argument(
        "--threshold",
        type=float,
        help="noise threshold as a fraction (default 0.01 for times, 0.003 for instruction counts)",
    )
    p.add_argument(
        "--confidence", type=float, help="confidence level of the change intervals (default: the runs', 0.95)"
    )
    p.add_argument(
        "--relative-to",
        metavar="ALLOCATOR",
        help="compare each allocator's time relative to ALLOCATOR in its own run, which cancels "
        "what the machine did to both (default: system, when both runs have it)",
    )
    p.add_argument(
        "--targets",
        metavar="A,B",
        help="compare A's cells on target A with B's on target B (one run: its two targets side by side, "
        "e.g. native,hermit)",
    )
    p.add_argument("--absolute", action="store_true", help="compare raw times, not relative to a reference")
    p.add_argument(
        "--no-drift-guard",
        action="store_true",
        help="absolute comparisons: keep verdicts in cells where the machine drifted between the runs "
        "(when the change was meant to move every allocator: a new kernel, another machine)",
    )
    p.add_argument(
        "--allow-incomplete", action="store_true", help="compare runs that were interrupted or are still running"
    )
    p.add_argument(
        "--across-methods",
        action="store_true",
        help="instruction counts: compare counts taken by different methods (Valgrind natively, QEMU's icount "
        "in guests), each side labelled with its method",
    )
    p.add_argument("--results", metavar="DIR", help="results root holding baselines/ (default: hab-results)")


def _colour_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour verdicts, failures and warnings (auto: on a terminal, unless NO_COLOR is set)",
    )


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hab", description="Benchmark memory allocators on concurrent workloads.")
    p.add_argument("--version", action="version", version=f"hab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a suite and print the comparison")
    run.add_argument("suite", nargs="?", help="suite TOML file (default: the default preset)")
    run.add_argument("--preset", help="built-in suite: default, full, scaling, seed")
    run.add_argument(
        "-a", "--allocators", help="comma-separated allocators (default: every available one, plus any you define)"
    )
    run.add_argument("-w", "--workloads", help="comma-separated workloads")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="parameter values to sweep (repeatable); sizes accept KiB/MiB/GiB",
    )
    run.add_argument("-t", "--threads", help="comma-separated thread counts (default: available cores)")
    run.add_argument("--sample-size", type=int, help="samples per engine process")
    run.add_argument("--warm-up-time", type=float, help="warm-up seconds per engine process")
    run.add_argument("--measurement-time", type=float, help="measurement seconds per engine process")
    run.add_argument("--sampling-mode", choices=["auto", "linear", "flat"])
    run.add_argument("--repetitions", type=int, help="engine processes per cell and allocator")
    run.add_argument("--timeout", type=float, help="seconds before an engine process is killed")
    run.add_argument(
        "--precision", metavar="P", help="add processes until every 95%% interval is within ±P of its time (e.g. 1%%)"
    )
    run.add_argument(
        "--budget",
        metavar="T",
        help="wall-time budget of the whole run with --precision (e.g. 90s, 10m, 1h; default 10m)",
    )
    run.add_argument("--no-dry", action="store_true", help="skip the dry (engine-only) variant")
    run.add_argument(
        "--spin",
        action="append",
        default=[],
        metavar="ALLOC=NS",
        help="validation knob: calibrated busy work of NS ns before each allocation in ALLOC's "
        "processes (a slowdown of known size)",
    )
    run.add_argument(
        "--spin-turns",
        action="append",
        default=[],
        metavar="ALLOC=N",
        help="validation knob: exactly N busy loop turns before each allocation in ALLOC's processes "
        "(a change of fixed instruction count, for --metric instructions)",
    )
    run.add_argument(
        "--metric",
        choices=METRICS,
        default=TIME,
        help="what to measure: wall time (default), or instructions per iteration, counted under "
        "Valgrind natively and by QEMU's icount in guests (deterministic; not cycles: no cache-miss or "
        "lock-wait cost; docs/metrics.md)",
    )
    run.add_argument(
        "--cache-sim",
        action="store_true",
        help="with --metric instructions: also count Valgrind's simulated cache misses",
    )
    run.add_argument(
        "--latency",
        nargs="?",
        const=LATENCY_EVERY,
        type=int,
        metavar="EVERY",
        help=f"latency mode: time one allocator call in EVERY (default {LATENCY_EVERY}) into HDR "
        "histograms; throughput figures of such a run include the probes",
    )
    run.add_argument(
        "--rss-interval",
        type=float,
        default=RSS_INTERVAL,
        metavar="S",
        help=f"seconds between RSS samples of each engine process (default {RSS_INTERVAL:g}; 0: off)",
    )
    run.add_argument(
        "--verify",
        action="store_true",
        help="first check every (cell, allocator) untimed: patterns, alignment, overlap; a pair that "
        "fails is reported corrupt and not timed",
    )
    run.add_argument(
        "--max-rss",
        metavar="SIZE",
        help="cap each engine process's memory (e.g. 512MiB); a process over it fails with 'out of memory'",
    )
    guests = run.add_argument_group("targets: where engine processes run (also targets and [guest] in a suite file)")
    guests.add_argument(
        "--target",
        metavar="T1,T2",
        help=f"comma-separated targets among {', '.join(TARGETS)} (default: native); every cell runs on each",
    )
    guests.add_argument("--vcpus", type=int, help="vCPUs of each guest (default: one per engine thread of the cell)")
    guests.add_argument("--guest-memory", metavar="SIZE", help="memory of each guest (default: 1GiB)")
    guests.add_argument(
        "--accel", choices=ACCELERATORS, help="guest accelerator (default: kvm when it works, else tcg)"
    )
    guests.add_argument(
        "--hermit-kernel",
        action="append",
        metavar="[LABEL=]SOURCE",
        help="a Hermit kernel to link the hermit images with: a kernel source tree (a checkout, your patch "
        "applied) or a known tag (default: v0.11.0); repeatable: rows read ALLOCATOR@LABEL",
    )
    byo = run.add_argument_group("bring your own allocator (also [allocator.NAME] tables in a suite file)")
    byo.add_argument(
        "--crate",
        metavar="PATH|PACKAGE@VERSION",
        help="a Rust crate with a GlobalAlloc: a local path or a crates.io version",
    )
    byo.add_argument(
        "--init",
        metavar="EXPR",
        help="the static initialiser of its #[global_allocator], e.g. "
        "'VirtualAlloc::<128>::new(7 << 30, 16 << 40)' (the crate's items are in scope)",
    )
    byo.add_argument("--global-type", metavar="TYPE", help="the static's type (default: guessed from --init)")
    byo.add_argument("--setup", metavar="CODE", help="Rust statements run once at engine start, e.g. 'ALLOC.enable();'")
    byo.add_argument("--features", metavar="F1,F2", help="cargo features of the crate")
    byo.add_argument("--name", help="the allocator's name in results (default: the crate's)")
    byo.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a C allocator's shared object, run by LD_PRELOAD on the system engine (repeatable)",
    )
    run.add_argument("--seed", type=int, help="seed for the run order (default: random, recorded)")
    run.add_argument("--nresamples", type=int, help="bootstrap resamples (default 100000)")
    run.add_argument("--confidence", type=float, help="confidence level (default 0.95)")
    run.add_argument("--reference", help="allocator the ratios are taken against (default: system)")
    run.add_argument("--save-baseline", metavar="NAME", help="also keep the run as baseline NAME")
    run.add_argument("--out", help="results root (default: hab-results)")
    run.add_argument("--json", action="store_true", help="print results as JSON")
    _colour_option(run)
    run.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="RUN",
        help="finish an interrupted or abandoned run (default: the latest under --out) with its own options",
    )

    show = sub.add_parser("show", help="re-analyse a stored run and print it")
    show.add_argument("run", nargs="?", help="run directory or results root (default: hab-results/latest)")
    show.add_argument("--reference", help="allocator the ratios are taken against (default: system)")
    show.add_argument("--json", action="store_true", help="print results as JSON")
    show.add_argument("--summary", action="store_true", help="print only the heading and the summary over cells")
    _colour_option(show)
    show.add_argument("-w", "--workloads", help="only the cells of these workloads (comma-separated)")
    show.add_argument("-a", "--allocators", help="only these allocators (comma-separated)")
    show.add_argument("--cells", metavar="IDS", help="only these cells (comma-separated ids, e.g. c00,c03)")

    cmp = sub.add_parser("compare", help="compare two runs (or a baseline and a run) cell by cell")
    cmp.add_argument("runs", nargs="*", metavar="RUN", help="A B: run directories, results roots or baseline names")
    cmp.add_argument("--baseline", metavar="NAME", help="compare baseline NAME (A) with RUN or the latest run (B)")
    _comparison_options(cmp)
    cmp.add_argument(
        "--fail-on",
        choices=["regressed", "inconclusive"],
        help="exit 1 when any cell regressed (regressed), or regressed or could not be decided (inconclusive: "
        "a strict gate)",
    )
    cmp.add_argument("--fail-on-regression", action="store_true", help="the same as --fail-on regressed")
    cmp.add_argument("--html", metavar="FILE", help="also write the comparison as an HTML report to FILE")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    _colour_option(cmp)

    rep = sub.add_parser("report", help="write the HTML report of a run, or of a comparison of two")
    rep.add_argument(
        "runs", nargs="*", metavar="RUN", help="a run (default: the latest), or A B to compare (runs or baselines)"
    )
    rep.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write it (default: the run's report.html, or report-A-vs-B.html here for a comparison)",
    )
    rep.add_argument("--baseline", metavar="NAME", help="compare baseline NAME (A) with RUN or the latest run (B)")
    _comparison_options(rep)

    imp = sub.add_parser("import", help="store another tool's results as a run")
    imp.add_argument("format", choices=["criterion", "seed"])
    imp.add_argument(
        "path",
        help="criterion: its output tree (target/criterion or $CRITERION_HOME); seed: the origin crate's "
        "manual-benches folder (or its parent)",
    )
    imp.add_argument("--label", default="criterion", help="allocator name for the imported samples")
    imp.add_argument("--baseline", default="new", help="criterion baseline directory to read (default: new)")
    imp.add_argument(
        "--threads",
        type=int,
        help="criterion trees of the seed's driver (rayon_boxes/max_size=.../ALLOCATOR): the threads they ran with",
    )
    imp.add_argument("--out", help="results root (default: hab-results)")
    imp.add_argument("--json", action="store_true", help="print results as JSON")

    exp = sub.add_parser("export", help="write a run as CSV, Markdown, or in another tool's format")
    exp.add_argument("format", choices=["csv", "markdown", "criterion", "seed"])
    exp.add_argument("run", help="run directory, results root or baseline name")
    exp.add_argument(
        "dir",
        nargs="?",
        metavar="OUT",
        help="criterion: the tree to write into; seed: the folder to hold manual-benches/ (both created if "
        "missing); csv, markdown: a file (default: stdout)",
    )
    exp.add_argument("--baseline", help="criterion baseline name (default: the run id)")

    lst = sub.add_parser("list", help="list allocators and workloads")
    lst.add_argument("what", nargs="?", choices=["allocators", "workloads"])

    setup = sub.add_parser("setup", help="install the Debian packages of the preload allocators and of guest targets")
    setup.add_argument("--target", metavar="T1,T2", help="also what these targets need (hermit, linux-vm)")
    setup.add_argument(
        "--browser", action="store_true", help="also Debian's Chromium, which the HTML report tests drive headless"
    )

    comp = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    comp.add_argument("shell", choices=["bash", "zsh"])

    bld = sub.add_parser("build", help="build the engine binaries")
    bld.add_argument("-a", "--allocators", help="comma-separated allocators (default: every available built-in)")
    bld.add_argument("--target", metavar="T1,T2", help="also build guest images for these targets (hermit, linux-vm)")
    bld.add_argument(
        "--hermit-kernel",
        action="append",
        metavar="[LABEL=]SOURCE",
        help="a Hermit kernel for the hermit images: a source tree or a known tag (repeatable; default v0.11.0)",
    )
    return p
