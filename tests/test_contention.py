"""How busy the machine was around each engine process: parsing what Linux
exposes, the shares over a process's lifetime, stored with the unit and
summarised per cell and run with the reasons to distrust the figures."""

import json

import pytest

from conftest import hab
from hab.analysis import contention
from hab.analysis import run as analysis
from hab.execution import noise
from hab.records.fields import RecordError
from hab.records.plan import Cell, Unit
from hab.records.unit import Contention, UnitRecord
from hab.report import jsonout, run_table
from hab.store import runs
from synthetic import CELL, write_run

LOADAVG = "2.59 2.29 1.60 3/90 10019\n"
PRESSURE = "some avg10=5.78 avg60=32.88 avg300=28.17 total=3988106097\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
STAT = "cpu  1821039 0 209124 1831119 6509 0 2362 11638 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"


def test_proc_files_are_parsed_and_malformed_ones_give_none():
    assert noise._runnable(LOADAVG) == 3
    assert noise._pressure(PRESSURE) == 3988106097
    assert noise._ticks(STAT) == (11638, 1821039 + 209124 + 1831119 + 6509 + 2362 + 11638)
    for bad in (None, "", "garbage", "1 2 3 x/9 1"):
        assert noise._runnable(bad) is None
        assert noise._pressure(bad) is None
        assert noise._ticks(bad) == (None, None)
    # The reader's own snapshot works wherever /proc is mounted.
    snap = noise.snapshot()
    assert snap.runnable is None or snap.runnable >= 1


def test_shares_over_a_process_lifetime():
    before = noise.Snapshot(10.0, 3, 1_000_000, 100, 10_000)
    after = noise.Snapshot(12.0, 1, 1_500_000, 150, 10_400)
    c = noise.between(before, after)
    # 0.5 s of stall in 2 s of wall time; 50 of 400 ticks stolen; 2 others besides the reader.
    assert (c.others_runnable, c.cpu_pressure, c.steal) == (2, pytest.approx(0.25), pytest.approx(0.125))
    unknown = noise.between(noise.Snapshot(1.0, None, None, None, None), noise.Snapshot(2.0, 5, 7, 1, 2))
    assert unknown == Contention(None, None, None)


def test_contention_is_stored_and_validated():
    record = UnitRecord(Unit("c00", "system", 0), None, contention=Contention(1, 0.5, 0.0))
    assert record.to_dict()["contention"] == {"others_runnable": 1, "cpu_pressure": 0.5, "steal": 0.0}
    for bad in ({"cpu_pressure": 1.5}, {"steal": float("nan")}, {"others_runnable": -1}, {"cpu_pressure": "x"}):
        with pytest.raises(RecordError):
            Contention.from_dict(bad, "unit.contention")


def _units(cell: Cell, *shares) -> list[UnitRecord]:
    return [
        UnitRecord(Unit(cell.id, "system", r), None, contention=Contention(others, pressure, steal))
        for r, (others, pressure, steal) in enumerate(shares)
    ]


def test_busy_reasons_and_which_processes_count_for_pressure():
    quiet = contention.summarise(_units(CELL, (0, 0.01, 0.0), (0, 0.03, 0.0)), {CELL.id: CELL}, cores=2)
    assert quiet.reasons == [] and quiet.cpu_pressure == pytest.approx(0.02) and quiet.processes == 2
    busy = contention.summarise(_units(CELL, (2, 0.3, 0.1), (1, 0.1, 0.0)), {CELL.id: CELL}, cores=2)
    assert busy.reasons == [
        "tasks waited for a CPU 20% of the time",
        "the hypervisor took 5% of the CPU time",
        "1.5 other runnable threads on 2 cores",
    ]
    # Four threads on two cores wait for each other: their pressure is the run's own.
    wide = Cell("c01", "rayon_boxes", {}, 4)
    own = contention.summarise(_units(wide, (0, 0.9, 0.0)), {wide.id: wide}, cores=2)
    assert own.cpu_pressure is None and own.reasons == []
    assert contention.summarise([UnitRecord(Unit("c00", "system", 0), None)], {}, 2) is None


def _busy_run(root, pressure: float = 0.4, seed: int = 0):
    """A stored run whose processes all met the given CPU pressure on 2 cores."""
    path = write_run(root, {"system": [1000.0, 1010.0], "talc": [900.0, 905.0]}, seed=seed)
    for unit in (path / "units").glob("*.json"):
        doc = json.loads(unit.read_text())
        doc["contention"] = {"others_runnable": 0, "cpu_pressure": pressure, "steal": 0.0}
        unit.write_text(json.dumps(doc))
    meta = json.loads((path / "run.json").read_text())
    meta["host"] = {"cores_usable": 2}
    (path / "run.json").write_text(json.dumps(meta))
    return path


def test_a_busy_run_says_so_in_its_table_and_json(tmp_path):
    stored = runs.load(_busy_run(tmp_path))
    result = analysis.analyse(stored)
    assert result.busy.reasons == ["tasks waited for a CPU 40% of the time"]
    assert result.cells[0].busy.reasons == result.busy.reasons
    text = run_table.render(result, stored.meta, 120)
    assert (
        "machine load: 0.0 other runnable threads, CPU pressure 40%, steal 0% (means over 4 engine processes)" in text
    )
    assert "WARNING: the machine was busy (tasks waited for a CPU 40% of the time)" in text
    assert "busy while this cell ran: tasks waited for a CPU 40% of the time" in text
    doc = json.loads(jsonout.render(result, stored.meta))
    assert doc["busy"]["cpu_pressure"] == pytest.approx(0.4) and doc["cells"][0]["busy"]["reasons"]


def test_compare_warns_about_a_run_from_a_busy_machine(tmp_path):
    quiet, busy = _busy_run(tmp_path / "a", 0.0), _busy_run(tmp_path / "b", 0.4, seed=1)
    done = hab("compare", str(quiet), str(busy), cwd=tmp_path, check_exit=0)
    assert "hab: warning: run B was measured on a busy machine (tasks waited for a CPU 40% of the time)" in done.stderr
    assert "run A" not in done.stderr
