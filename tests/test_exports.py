"""Exports of real runs: CSV, Markdown, and the JSON outputs against their
published schemas."""

import csv
import io
import json
import math
from importlib import resources

import jsonschema
import pytest

from conftest import hab


def _schema(name: str) -> dict:
    return json.loads(resources.files("hab.report").joinpath("schemas", name).read_text())


@pytest.mark.slow
def test_csv_has_one_row_per_cell_and_allocator_with_the_json_figures(report_runs):
    a, _, cwd = report_runs
    text = hab("export", "csv", str(a), cwd=cwd, check_exit=0).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    doc = json.loads(hab("show", str(a), "--json", cwd=cwd, check_exit=0).stdout)
    expected = [
        (c["id"], r["allocator"]) for c in doc["cells"] for r in c["results"] + ([c["dry"]] if c["dry"] else [])
    ]
    assert [(r["cell"], r["allocator"]) for r in rows] == expected
    by_key = {(c["id"], r["allocator"]): r for c in doc["cells"] for r in c["results"]}
    for row in rows:
        assert row["run"] == a.name and row["ok"] == "1" and json.loads(row["params"])["max_size"] == 4096
        time = float(row["time_ns"])
        assert math.isfinite(time) and float(row["time_lower_ns"]) <= time <= float(row["time_upper_ns"])
        if row["allocator"] != "dry":
            figures = by_key[(row["cell"], row["allocator"])]
            assert time == pytest.approx(figures["estimates"][figures["typical"]]["point"], rel=1e-12)
            assert float(row["ratio"]) == pytest.approx(figures["ratio_to_reference"]["point"], rel=1e-12)
    out = cwd / "export.csv"
    hab("export", "csv", str(a), str(out), cwd=cwd, check_exit=0)
    assert out.read_text() == text


@pytest.mark.slow
def test_markdown_tables_are_well_formed(report_runs):
    a, _, cwd = report_runs
    text = hab("export", "markdown", str(a), cwd=cwd, check_exit=0).stdout
    assert text.startswith(f"### hab run {a.name}")
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 1 + 4 * 2 + 2  # summary; per cell its table and memory; two scaling groups
    for table in tables:
        widths = {line.replace("\\|", "").count("|") for line in table}
        assert len(widths) == 1, table
        assert set(table[1].replace("|", "").split()) <= {"---", "---:"}, table[1]
    assert "| talc |" in text and "#### c00 rayon_boxes" in text


@pytest.mark.slow
def test_json_outputs_follow_their_schemas(report_runs):
    a, b, cwd = report_runs
    run_doc = json.loads(hab("show", str(a), "--json", cwd=cwd, check_exit=0).stdout)
    jsonschema.validate(run_doc, _schema("run.schema.json"))
    assert run_doc["format"] == {"name": "hab-run", "version": 1}
    compared = hab("compare", str(a), str(b), "--json", cwd=cwd)
    assert compared.returncode == 0, compared.stderr
    doc = json.loads(compared.stdout)
    jsonschema.validate(doc, _schema("comparison.schema.json"))
    assert doc["format"] == {"name": "hab-compare", "version": 1}
    broken = dict(run_doc, cells=[dict(run_doc["cells"][0], threads="two")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _schema("run.schema.json"))


def test_export_mistakes_are_one_line_errors(tmp_path):
    done = hab("export", "csv", "no-such-run", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no-such-run" in done.stderr
    done = hab("export", "pdf", "x", cwd=tmp_path)
    assert done.returncode == 2 and "unknown format 'pdf' (known: csv, markdown, criterion, seed)" in done.stderr
