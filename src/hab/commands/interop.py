"""`hab import criterion` and `hab export criterion`."""

from pathlib import Path

from rich.markup import escape

from hab import analysis, store
from hab.commands.common import print_results, stderr_console
from hab.criterion import export, importer
from hab.errors import UserError
from hab.paths import RESULTS_ROOT


def import_main(args) -> int:
    tree = Path(args.path)
    root = Path(args.out) if args.out else RESULTS_ROOT
    run = importer.import_tree(tree, root, args.label, args.baseline)
    stderr_console().print(f"[dim]imported {escape(str(tree))} as run {escape(str(run.path))}[/]")
    print_results(store.load(run.path), args.json)
    return 0


def export_main(args) -> int:
    stored = store.load(store.resolve_any(args.run, RESULTS_ROOT))
    result = analysis.analyse(stored)
    samples: dict = {}
    for unit_id, record in sorted(stored.units.items()):
        if not record["ok"]:
            continue
        key = (record["unit"]["cell"], record["unit"]["allocator"])
        iters, times = samples.setdefault(key, ([], []))
        iters += record["samples"]["iters"]
        times += record["samples"]["ns"]
    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    written = export.export(result, samples, stored.meta, out, args.baseline or stored.meta.get("id", "new"))
    stderr_console().print(f"[dim]wrote {len(written)} benchmarks to {escape(str(out))} "
                           f"(baseline {escape(args.baseline or stored.meta.get('id', 'new'))})[/]")
    return 0
