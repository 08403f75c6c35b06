"""Running cargo: a release build with a status line, its log kept, the
artifacts it reported, and the compiler's first error shown on failure."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from hab.errors import UserError

#: cargo's lines that do not mean a build is under way (shown on the status line only).
QUIET = ("Finished", "Blocking")


def first_error(log: str) -> tuple[str, str]:
    """The first error of a cargo log: its headline and its whole rendered
    diagnostic (the headline and the lines up to the next blank one)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error"):
            block = []
            for follow in lines[i:]:
                if block and not follow.strip():
                    break
                block.append(follow)
            return line.strip(), "\n".join(block)
    tail = [line.strip() for line in lines if line.strip()]
    return (tail[-1] if tail else "no output"), ""


def _messages(stdout: str):
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict):
            yield message


def build_scripts(stdout: str) -> dict[str, Path]:
    """Package name -> the `output` file of its build script's run in this
    build (cargo reports it for fresh builds too)."""
    found = {}
    for message in _messages(stdout):
        if message.get("reason") != "build-script-executed" or not isinstance(message.get("out_dir"), str):
            continue
        package_id = str(message.get("package_id", ""))
        # "registry+https://...#name@1.2.3" (cargo 1.77+) or "name 1.2.3 (registry+...)"
        url, _, fragment = package_id.partition("#")
        if not fragment:
            name = package_id.split(" ")[0]
        else:  # "#1.2.3" alone: the name is the path's last part
            name = fragment.split("@")[0] if "@" in fragment else url.rstrip("/").rsplit("/", 1)[-1]
        found[name] = Path(message["out_dir"]).parent / "output"
    return found


def artifacts(stdout: str, wanted: dict[str, str]) -> tuple[dict[str, Path], bool]:
    """Executables cargo reported for the wanted bin targets, and whether any was rebuilt."""
    found, compiled = {}, False
    for message in _messages(stdout):
        if message.get("reason") != "compiler-artifact":
            continue
        compiled = compiled or not message.get("fresh", True)
        target = message.get("target", {}).get("name")
        if target in wanted and message.get("executable"):
            found[wanted[target]] = Path(message["executable"])
    return found, compiled


#: cargo's messages as JSON lines (read by `artifacts`, `shared_library`,
#: `build_scripts`), its diagnostics rendered for the log.
JSON_MESSAGES = "--message-format=json-render-diagnostics"


def release_build(project: Path, package: str | None = None) -> list[str]:
    """The argv of a release build of the cargo project (or workspace)
    `project`, or of its `package`, with JSON_MESSAGES."""
    packages = ["-p", package] if package else []
    return [
        executable(),
        "build",
        "--release",
        "--manifest-path",
        str(project / "Cargo.toml"),
        *packages,
        JSON_MESSAGES,
    ]


def shared_library(stdout: str, target: str) -> Path | None:
    """The shared object cargo reported for the cdylib target `target`."""
    for message in _messages(stdout):
        if message.get("reason") == "compiler-artifact" and message.get("target", {}).get("name") == target:
            found = [f for f in message.get("filenames", []) if isinstance(f, str) and f.endswith(".so")]
            if found:
                return Path(found[0])
    return None


#: Added to every build's C++ flags, so that C++ allocator libraries are
#: measured as released: snmalloc-sys's `cc` build defines NDEBUG only for
#: MSVC, and on Linux compiled snmalloc's debug configuration (assertions,
#: and a 0x5a fill of every large chunk it gives back: docs/allocators.md).
RELEASE_CXXFLAGS = "-DNDEBUG"


def release_env(env: dict | None) -> dict:
    """`env` (default: this process's) with RELEASE_CXXFLAGS after the user's own CXXFLAGS."""
    env = dict(os.environ if env is None else env)
    env["CXXFLAGS"] = f"{env.get('CXXFLAGS', '')} {RELEASE_CXXFLAGS}".strip()
    return env


def run(
    argv: list[str], console: Console, log_path: Path, what: str, env: dict | None = None, cwd: Path | None = None
) -> tuple[str, float]:
    """Runs a cargo build (in `cwd`, with `env` made `release_env`) with a
    status line; returns (JSON messages, seconds). A failed build prints the
    compiler's first diagnostic and raises a one-line UserError naming `what`
    and the log."""
    env = release_env(env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, console.status(f"checking the build of {what}") as status:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        log_lines, announced = [], False
        for line in proc.stderr:
            # Waiting for another cargo's lock (other work on the machine) is no build of ours.
            if not announced and line.strip() and not line.lstrip().startswith(QUIET):
                console.print(f"[dim]building {escape(what)} with cargo (release)[/]")
                announced = True
            log_lines.append(line)
            if line.strip():
                status.update(f"building {escape(what)}: {escape(line.strip()[:100])}")
        proc.wait()
        out.seek(0)
        stdout = out.read()
    log = "".join(log_lines)
    log_path.write_text(log)
    if proc.returncode != 0:
        headline, diagnostic = first_error(log)
        if diagnostic:
            console.print(escape(diagnostic), highlight=False)
        raise UserError(f"building {what} failed: {headline} (full log: {log_path})")
    return stdout, time.monotonic() - started


def executable() -> str:
    path = shutil.which("cargo")
    if path is None:
        raise UserError("cargo not found on PATH: install Rust (https://rustup.rs) to build the engine")
    return path
