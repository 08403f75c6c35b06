"""The runner judges every way an engine process can go wrong; stand-in
processes (small Python scripts) play the misbehaving engine."""

import sys
import textwrap

from hab.execution.execute import record_of
from hab.execution.process import run_engine
from hab.execution.protocol import MARKER, parse_output, spec_json
from hab.records.failure import FailureKind as Kind
from hab.records.plan import Unit
from hab.records.unit import UnitRecord

GOOD = [
    '{"type":"hello","protocol":1}',
    '{"type":"warmup","iters":3,"ns":100}',
    '{"type":"plan","mode":"flat","iters":[2,2],"met_ns":33.0,"expected_ns":132.0}',
    '{"type":"sample","i":0,"iters":2,"ns":70}',
    '{"type":"sample","i":1,"iters":2,"ns":66}',
    '{"type":"work","allocations":10,"bytes":100}',
    '{"type":"live","peak_bytes":1000,"start_rss_kib":100}',
    '{"type":"rusage","max_rss_kib":1}',
    '{"type":"done","wall_ns":5}',
]


def fake_engine(tmp_path, body: str) -> list[str]:
    script = tmp_path / "engine.py"
    script.write_text("import os, sys, time, signal\n" + textwrap.dedent(body))
    return [sys.executable, str(script)]


def emit(lines):
    return "".join(f"print({MARKER + line!r}, flush=True)\n" for line in lines)


def test_a_complete_run_is_ok_even_with_kernel_noise_between_records(tmp_path):
    body = "print('[0.001][INFO] kernel noise')\n" + emit(GOOD) + "print('exit status 0')\n"
    outcome = run_engine(fake_engine(tmp_path, body), timeout=30)
    assert outcome.ok, outcome.failure
    assert [r["type"] for r in outcome.records][:2] == ["hello", "warmup"]
    record = record_of(Unit("c00", "system", 0), outcome)
    assert record.ok and record.samples.iters == (2, 2) and record.samples.ns == (70, 66)
    assert UnitRecord.from_dict(record.to_dict()) == record


def test_signal_is_reported_with_the_last_stderr_line_and_out_of_memory_with_its_own(tmp_path):
    body = (
        emit(GOOD[:4])
        + "sys.stderr.write('memory allocation of 64 bytes failed\\n')\n"
        + "sys.stderr.write('fatal runtime error: skipping backtrace printing to avoid potential recursion\\n')\n"
        + "sys.stderr.flush(); os.kill(os.getpid(), signal.SIGABRT)\n"
    )
    outcome = run_engine(fake_engine(tmp_path, body), timeout=30)
    assert outcome.failure.kind is Kind.OUT_OF_MEMORY
    assert outcome.failure.reason == "out of memory: memory allocation of 64 bytes failed (killed by SIGABRT)"
    crash = run_engine(fake_engine(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)\n"), timeout=30)
    assert crash.failure.kind is Kind.SIGNAL and crash.failure.reason == "killed by SIGSEGV"
    assert len([r for r in outcome.records if r["type"] == "sample"]) == 1


def test_error_record_and_exit_status(tmp_path):
    body = emit(['{"type":"error","kind":"runtime","message":"cannot start a pool"}']) + "sys.exit(1)\n"
    outcome = run_engine(fake_engine(tmp_path, body), timeout=30)
    assert (outcome.failure.kind, outcome.failure.reason, outcome.exit_code) == (Kind.EXIT, "cannot start a pool", 1)
    plain = run_engine(fake_engine(tmp_path, "sys.exit(3)\n"), timeout=30)
    assert plain.failure.reason == "exit status 3"


def test_garbage_output_fails_the_unit(tmp_path):
    cases = {
        emit(GOOD[:-1]): "garbage output: no done record",
        emit(GOOD[:3] + GOOD[4:]): "garbage output: 1 samples do not match the plan of 2",
        emit(GOOD) + f"print({MARKER + '{oops'!r})\n": "garbage output: unreadable record",
        "print('hello world')\n": "garbage output: no hello record",
    }
    for body, reason in cases.items():
        outcome = run_engine(fake_engine(tmp_path, body), timeout=30)
        assert outcome.failure.kind is Kind.GARBAGE and outcome.failure.reason.startswith(reason), outcome.failure


def test_a_hang_is_killed_at_the_timeout(tmp_path):
    outcome = run_engine(fake_engine(tmp_path, emit(GOOD[:2]) + "time.sleep(60)\n"), timeout=1.0)
    assert (outcome.failure.kind, outcome.failure.reason) == (Kind.TIMEOUT, "timeout after 1 s")
    assert outcome.seconds < 30
    assert outcome.records[0]["type"] == "hello"


def test_a_missing_binary_is_a_failed_unit_not_an_exception(tmp_path):
    outcome = run_engine([str(tmp_path / "nope")], timeout=5)
    assert outcome.failure.kind is Kind.START and outcome.failure.reason.startswith("cannot start engine")


def test_a_record_of_the_wrong_shape_fails_a_process_that_seemed_complete(tmp_path):
    bad = [line.replace('"peak_bytes":1000', '"peak_bytes":"lots"') for line in GOOD]
    record = record_of(Unit("c00", "system", 0), run_engine(fake_engine(tmp_path, emit(bad)), timeout=30))
    assert record.failure.kind is Kind.GARBAGE and "live.peak_bytes: expected an integer" in record.reason
    assert record.samples.ns == () and record.plan is None


def test_spec_json_is_compact_and_versioned():
    text = spec_json({"workload": "rayon_boxes", "params": {"b": 1, "a": 0.5}})
    assert text == '{"params":{"a":0.5,"b":1},"protocol":1,"workload":"rayon_boxes"}'
    assert " " not in text


def test_parse_output_finds_marked_records_anywhere_on_a_line():
    parsed = parse_output(f'boot\nxx{MARKER}{{"type":"done","wall_ns":1}}\r\n{MARKER}[1]\n')
    assert parsed.records == [{"type": "done", "wall_ns": 1}]
    assert len(parsed.bad_lines) == 1
