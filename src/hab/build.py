"""Building the engine binaries with cargo (release, incremental).

Cargo's own freshness check is the cache: unchanged sources rebuild
nothing. The registry is turned into `engine/bins` first (see `codegen`).
"""

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from hab import codegen, registry
from hab.errors import UserError
from hab.paths import target_dir


@dataclass(frozen=True)
class Build:
    """Engine binaries by allocator, and what building them cost."""

    binaries: dict[str, Path]
    seconds: float
    compiled: bool  # False when everything was already up to date


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("error"):
            return line.strip()
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _artifacts(stdout: str, wanted: dict[str, str]) -> tuple[dict[str, Path], bool]:
    """Executables cargo reported for the wanted bin targets, and whether any was rebuilt."""
    found, compiled = {}, False
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        compiled = compiled or not message.get("fresh", True)
        target = message.get("target", {}).get("name")
        if target in wanted and message.get("executable"):
            found[wanted[target]] = Path(message["executable"])
    return found, compiled


def build(engine: Path, allocators: list[str], console: Console) -> Build:
    """Builds the engine binaries for `allocators`; returns their paths."""
    known = registry.load(engine)
    codegen.sync(engine / "bins", codegen.render(list(known.values())))
    cargo = shutil.which("cargo")
    if cargo is None:
        raise UserError("cargo not found on PATH: install Rust (https://rustup.rs) to build the engine")
    wanted = {codegen.bin_name(a): a for a in allocators}
    argv = [cargo, "build", "--release", "--manifest-path", str(engine / "Cargo.toml"),
            "-p", "hab-bins", "--message-format=json-render-diagnostics"]
    for name in wanted:
        argv += ["--bin", name]
    log_path = target_dir(engine) / "hab-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, console.status("checking the engine build") as status:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True)
        log_lines, announced = [], False
        for line in proc.stderr:
            if not announced and line.strip() and not line.lstrip().startswith("Finished"):
                console.print(f"[dim]engine: building {len(allocators)} binaries with cargo (release)[/]")
                announced = True
            log_lines.append(line)
            if line.strip():
                status.update(f"building the engine: {escape(line.strip()[:100])}")
        proc.wait()
        out.seek(0)
        stdout = out.read()
    log = "".join(log_lines)
    log_path.write_text(log)
    if proc.returncode != 0:
        raise UserError(f"engine build failed: {_first_error(log)} (full log: {log_path})")
    binaries, compiled = _artifacts(stdout, wanted)
    missing = set(allocators) - set(binaries)
    if missing:
        raise UserError(f"engine build produced no binary for {', '.join(sorted(missing))} (log: {log_path})")
    seconds = time.monotonic() - started
    if compiled:
        console.print(f"[dim]engine: built in {seconds:.1f} s[/]")
    return Build(binaries, seconds, compiled)
