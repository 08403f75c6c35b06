"""Where each unit's engine runs: the native binary (the dry variant and the
preload allocators on the system binary), or a guest of the cell's target
(QEMU, or uhyve) booting that allocator's image."""

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from hab.allocators.registry import SYSTEM
from hab.build.engine import Build
from hab.errors import UserError
from hab.execution import guest, icount
from hab.execution.accel import kvm_problem
from hab.execution.counting import Counter, environment
from hab.execution.memlimit import Cap
from hab.execution.process import Outcome, run_engine
from hab.execution.protocol import spec_json
from hab.records.failure import Failure, FailureKind
from hab.records.plan import Cell, Unit, variant
from hab.records.target import NATIVE, UHYVE, TargetInfo


def uhyve_binary() -> str:
    """uhyve's path, or the one-line reason it cannot run here."""
    problem = kvm_problem()
    if problem is not None:
        raise UserError(f"--target uhyve needs KVM, which is not usable here: {problem}")
    found = shutil.which("uhyve")
    if found is None:
        raise UserError("--target uhyve: uhyve not found (with internet: `cargo install uhyve --locked`)")
    return found


#: Set for verify processes: the engine keeps its own allocations away from
#: the allocator under test from its first one (engine/core/src/route.rs).
VERIFY_ENV = "HAB_VERIFY"


def with_preload(env: dict, library: Path) -> dict:
    """`env` with `library` first in its `LD_PRELOAD`."""
    given = env.get("LD_PRELOAD")
    return {**env, "LD_PRELOAD": f"{library}:{given}" if given else str(library)}


def native_env(preload: Path | None, verify: bool) -> dict:
    """The environment of a native engine process: `LD_PRELOAD` for a
    preload allocator, `HAB_VERIFY` exactly when verifying."""
    env = {k: v for k, v in os.environ.items() if k != VERIFY_ENV}
    if preload:
        env["LD_PRELOAD"] = str(preload)
    if verify:
        env[VERIFY_ENV] = "1"
    return env


@dataclass
class Engines:
    """Runs units: natively or in the guests of `targets`."""

    built: Build
    targets: dict[str, TargetInfo]
    cap: Cap | None = None
    rss_interval: float | None = None
    uhyve: str | None = None
    counter: Counter | None = None  # counting metrics natively: engines run under Valgrind
    guest_counter: icount.IcountCounter = field(default_factory=icount.IcountCounter)  # guests under icount
    _logs: Path | None = None  # guests' serial logs, made on the first guest run

    def _log(self, name: str) -> Path:
        """A serial log's path in a directory made when first needed, so that
        native runs, even killed ones, leave no directory behind."""
        if self._logs is None:
            self._logs = Path(tempfile.mkdtemp(prefix="hab-serial-"))
        return self._logs / name

    def vcpus(self, cell: Cell) -> int:
        target = self.targets[cell.target]
        return target.vcpus or max(1, cell.threads or 1)

    def run(self, spec: dict, unit: Unit, cell: Cell, timeout: float) -> Outcome:
        """One engine process for `unit` of `cell` with `spec`."""
        allocator = SYSTEM if unit.dry else unit.allocator
        if cell.target == NATIVE:
            binary = self.built.binaries[allocator]
            so = None if unit.dry else self.built.preloads.get(unit.allocator)
            env = native_env(so, bool(spec.get("verify")))
            counted = self.counter is not None and not spec.get("verify")
            env = environment(env) if counted else env
            rss = None if counted else self.rss_interval  # under Valgrind the RSS would be Valgrind's

            def launch(spec: dict, prefix: list[str], timeout: float, preload: Path | None = None) -> Outcome:
                argv = [*prefix, str(binary), spec_json(spec)]
                extra = with_preload(env, preload) if preload else env
                return run_engine(argv, timeout, extra, rss, self.cap, str(so) if so else None)

            if counted:
                return self.counter.run(launch, spec, (unit.cell, unit.allocator), timeout)
            return launch(spec, [], timeout)
        target, made = self.targets[cell.target], self.built.guests[cell.target]
        row = variant(SYSTEM, made.kernels[0].label) if unit.dry and len(made.kernels) > 1 else allocator
        vcpus = self.vcpus(cell)
        if row in made.missing:
            return Outcome(Failure(FailureKind.BUILD, made.missing[row]))
        image, kernel = made.images[row], made.kernel_of(row)

        def boot(spec: dict, timeout: float) -> Outcome:
            log = self._log(f"{cell.target}-{unit.id}.log")
            args = [guest.spec_argument(spec)]
            if cell.target == UHYVE:
                argv = guest.uhyve_argv(self.uhyve or uhyve_binary(), target, image, vcpus, args)
            else:
                argv = guest.qemu_argv(target, image, vcpus, args, log)
            try:
                outcome = guest.run_guest(argv, cell.target, log, timeout + guest.BOOT_ALLOWANCE, vcpus)
            finally:
                log.unlink(missing_ok=True)
            return replace(outcome, guest=replace(outcome.guest, kernel=kernel)) if outcome.guest else outcome

        if target.counter == icount.METHOD and not spec.get("verify"):
            return self.guest_counter.run(boot, spec, (unit.cell, unit.allocator), timeout)
        return boot(spec, timeout)

    def close(self) -> None:
        if self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
