"""Finding the processes a test started, by a tag in their environment:
children inherit it, so engines are found even once orphaned, and no
other process on the machine (another hab, another test run) is ever
mistaken for ours."""

import os
import uuid
from pathlib import Path

TAG = "HAB_TEST_TAG"


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged_env(tag: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", TAG: tag, **extra}


def tagged_pids(tag: str, name: str = "") -> list[int]:
    """Live (not zombie) processes carrying `tag` whose program's path ends with `name`."""
    marker = f"{TAG}={tag}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv0 = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state != "Z" and argv0.endswith(name.encode()):
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids
