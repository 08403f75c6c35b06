"""Results as JSON (`--json`): stable keys, every estimate with its interval.
The document's `format` names its schema (src/hab/report/schemas/run.schema.json,
described in docs/results.md); a change that breaks a reader raises the version."""

import json

from hab.analysis.run import Row, RunResult
from hab.records.run import RunMeta

FORMAT = {"name": "hab-run", "version": 1}


def _row(row: Row) -> dict:
    def est(e):
        return e.to_dict() if e is not None else None

    def ratio(r):
        return dict(r.estimate.to_dict(), method=r.method) if r is not None else None

    return {
        "allocator": row.allocator,
        "ok": row.ok,
        "processes": row.processes,
        "failures": row.failures,
        "samples": row.samples,
        "sampling_mode": row.mode,
        "typical": row.typical_name,
        "estimates": {k: v.to_dict() for k, v in row.estimates.items()},
        "ratio_to_reference": ratio(row.ratio),
        "engine_share": ratio(row.engine_share),
        "throughput": {"allocations_per_s": est(row.allocations_per_s), "bytes_per_s": est(row.bytes_per_s)},
        "per_allocation": est(row.per_allocation),
        "cache_misses": {k: v.to_dict() for k, v in row.cache.items()},
        "process_typicals": row.process_typicals,
        "variance": row.variance,
        "outliers": row.outliers,
        "rusage": {k: v.to_dict() for k, v in row.rusage.items()},
        "work_per_iteration": row.work.to_dict() if row.work else None,
        "memory": row.memory.to_dict() if row.memory else None,
        "latency": row.latency.to_dict() if row.latency else None,
    }


def render(result: RunResult, meta: RunMeta) -> str:
    stored = meta.to_dict()
    doc = {
        "format": FORMAT,
        "run": {
            k: stored.get(k)
            for k in (
                "id",
                "status",
                "created",
                "finished",
                "host",
                "engine",
                "allocators",
                "verify",
                "max_rss",
                "targets",
            )
        },
        "processes": {"stored": result.processes_done, "planned": result.processes_planned},
        "skipped_files": [{"file": name, "problem": problem} for name, problem in result.skipped],
        "boot_seconds": {t: e.to_dict() for t, e in result.boot_seconds.items()},
        "busy": result.busy.to_dict() if result.busy else None,
        "suite": meta.suite,
        "analysis": result.settings.to_dict(),
        "reference": result.reference,
        "metric": result.metric,
        "cells": [
            {
                "id": c.cell.id,
                "workload": c.cell.workload,
                "params": c.cell.params,
                "threads": c.cell.threads,
                "target": c.cell.target,
                "reference": c.reference,
                "results": [_row(r) for r in c.rows],
                "dry": _row(c.dry) if c.dry else None,
                "busy": c.busy.to_dict() if c.busy else None,
            }
            for c in result.cells
        ],
        "summary": [
            {
                "target": s.target,
                "allocator": s.allocator,
                "cells": s.cells,
                "geomean_ratio": s.geomean_ratio.to_dict() if s.geomean_ratio else None,
                "fastest_in": s.fastest_in,
                "failed_cells": s.failed_cells,
            }
            for s in result.summary
        ],
        "scaling": [g.to_dict() for g in result.scaling],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
