"""Guest builds shared by several hab processes: images kept by content and
never rewritten, old ones pruned, a log file per build, and the lock (a
second process waits for the first, real processes on a real file lock)."""

import os
import subprocess
import sys
import time

from rich.console import Console

from hab.build import shared


def test_an_image_is_kept_by_its_content_and_never_rewritten(tmp_path):
    built = tmp_path / "target" / "hab-engine-system"
    built.parent.mkdir()
    built.write_bytes(b"first build")
    first = shared.kept(built, tmp_path / "images")
    assert first.name == "hab-engine-system" and first.read_bytes() == b"first build"
    assert shared.kept(built, tmp_path / "images") == first  # the same content: the same file
    built.write_bytes(b"a rebuild by another process")
    second = shared.kept(built, tmp_path / "images")
    assert second != first and first.read_bytes() == b"first build", "a running guest's image stays as it was"
    old = time.time() - (shared.KEPT_DAYS + 1) * 86400
    os.utime(first.parent, (old, old))
    shared.prune(tmp_path / "images")
    assert not first.parent.exists() and second.is_file()


def test_every_build_has_a_log_of_its_own_and_old_ones_go(tmp_path):
    logs = []
    for i in range(shared.LOGS_KEPT + 3):
        log = shared.log_file(tmp_path, "kernel-v0.11.0")
        log.write_text(str(i))
        logs.append(log)
    assert len(set(logs)) == len(logs)  # named by the time to the nanosecond and the pid
    kept = sorted((tmp_path / "logs").glob("kernel-v0.11.0-*.log"))
    assert kept == logs[-shared.LOGS_KEPT :], "the newest are kept"


def test_a_second_builder_waits_for_the_first_and_says_whom(tmp_path):
    holder = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rich.console import Console\n"
        "from hab.build import shared\n"
        "root = Path(sys.argv[1])\n"
        "with shared.exclusive(root, 'images', Console(stderr=True)):\n"
        "    print('held', flush=True)\n"
        "    while not (root / sys.argv[2]).exists():\n"
        "        time.sleep(0.05)\n"
    )
    (tmp_path / "go-second").touch()
    first = subprocess.Popen(
        [sys.executable, "-c", holder, str(tmp_path), "go-first"], stdout=subprocess.PIPE, text=True
    )
    assert first.stdout.readline().strip() == "held"
    with open(tmp_path / "second.err", "w") as err:
        second = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path), "go-second"], stderr=err, text=True)
    said = ""
    for _ in range(1200):
        said = " ".join((tmp_path / "second.err").read_text().split())
        if "waiting for" in said or second.poll() is not None:
            break
        time.sleep(0.05)
    assert second.poll() is None, "the second builder ran while the first held the lock"
    (tmp_path / "go-first").touch()
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    assert f"waiting for hab (pid {first.pid}) to finish building images" in said, said


def test_the_lock_is_taken_at_once_when_nobody_holds_it(tmp_path):
    console = Console(stderr=True, record=True)
    with shared.exclusive(tmp_path, "images", console):
        assert (tmp_path / ".build-lock").read_text() == f"hab (pid {os.getpid()})"
    assert "waiting" not in console.export_text()
