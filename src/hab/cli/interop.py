"""`hab import` and `hab export`: criterion trees, the seed's manual-driver files, CSV and Markdown."""

import sys
from pathlib import Path

from rich.markup import escape

from hab.analysis.run import analyse
from hab.cli.common import print_results, write_file
from hab.cli.console import stderr_console
from hab.errors import UserError
from hab.interop import seed
from hab.interop.criterion import export, importer
from hab.paths import RESULTS_ROOT
from hab.report import csv_export, markdown_export
from hab.store import runs

#: Exports that are one text file, by format name.
TABLES = {"csv": csv_export.render, "markdown": markdown_export.render}


def import_main(args) -> int:
    tree = Path(args.path)
    root = Path(args.out) if args.out else RESULTS_ROOT
    if args.format == "seed":
        run = seed.import_dir(tree, root)
    else:
        if args.threads is not None and not 1 <= args.threads <= 4096:
            raise UserError(f"--threads must be in 1..4096, got {args.threads}")
        run = importer.import_tree(tree, root, args.label, args.baseline, args.threads)
    stderr_console().print(f"[dim]imported {escape(str(tree))} as run {escape(str(run.path))}[/]")
    print_results(runs.load(run.path), args.json)
    return 0


def export_main(args) -> int:
    stored = runs.load(runs.resolve_any(args.run, RESULTS_ROOT))
    result = analyse(stored)
    if args.format in TABLES:
        text = TABLES[args.format](result, stored.meta)
        if args.dir is None:
            sys.stdout.write(text)
        else:
            write_file(Path(args.dir), text)
        return 0
    if args.dir is None:
        raise UserError(f"export {args.format} needs the directory to write into")
    if args.format == "seed":
        written = seed.export_run(stored, Path(args.dir))
        stderr_console().print(f"[dim]wrote {len(written)} files to {escape(str(Path(args.dir) / seed.FOLDER))}[/]")
        return 0
    samples: dict = {}
    for _, record in sorted(stored.units.items()):
        if not record.ok:
            continue
        iters, times = samples.setdefault((record.unit.cell, record.unit.allocator), ([], []))
        iters += record.samples.iters
        times += record.samples.ns
    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    baseline = args.baseline or stored.meta.id
    written = export.export(result, samples, stored.meta, out, baseline)
    stderr_console().print(
        f"[dim]wrote {len(written)} benchmarks to {escape(str(out))} (baseline {escape(baseline)})[/]"
    )
    return 0
