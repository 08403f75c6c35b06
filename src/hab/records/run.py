"""A run's metadata (`run.json`): what was run, on what, how it went, and
the settings its analysis uses. Everything besides the raw samples."""

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from hab.records import fields as f
from hab.records.failure import Failure, FailureKind
from hab.records.plan import Plan
from hab.records.target import NATIVE, TargetInfo
from hab.records.unit import FORMAT
from hab.records.workload import WorkloadInfo


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"  # never written: "running" whose owner is gone


@dataclass(frozen=True)
class Owner:
    """The `hab` process writing a run: its PID, the boot it ran in and its
    start time, so that a dead owner is never mistaken for a later process."""

    pid: int
    boot_id: str | None
    start_ticks: int | None

    @classmethod
    def from_dict(cls, data, where: str) -> "Owner":
        f.table(data, where)
        return cls(
            f.integer(data.get("pid"), f"{where}.pid", 1),
            f.optional_text(data.get("boot_id"), f"{where}.boot_id"),
            f.optional_integer(data.get("start_ticks"), f"{where}.start_ticks", 0),
        )


@dataclass(frozen=True)
class AnalysisSettings:
    """How a run is analysed: the resampling seed, resamples, confidence level."""

    seed: int = 0
    nresamples: int = 100_000
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, where: str) -> "AnalysisSettings":
        f.table(data, where)
        confidence = f.number(data.get("confidence", cls.confidence), f"{where}.confidence")
        if not 0 < confidence < 1:
            raise f.RecordError(f"{where}.confidence: expected a level in (0, 1), got {confidence:g}")
        return cls(
            f.integer(data.get("seed", cls.seed), f"{where}.seed"),
            f.integer(data.get("nresamples", cls.nresamples), f"{where}.nresamples", 100),
            confidence,
        )


@dataclass(frozen=True)
class EngineInfo:
    """The engine sources a run was built from, and what building cost."""

    commit: str | None
    dirty: bool
    protocol: int
    build_seconds: float
    compiled: bool

    @classmethod
    def from_dict(cls, data, where: str) -> "EngineInfo":
        f.table(data, where)
        return cls(
            f.optional_text(data.get("commit"), f"{where}.commit"),
            bool(data.get("dirty")),
            f.integer(data.get("protocol"), f"{where}.protocol"),
            f.number(data.get("build_seconds", 0.0), f"{where}.build_seconds", 0),
            bool(data.get("compiled")),
        )


@dataclass(frozen=True)
class LibraryInfo:
    """An allocator library's version and build options, as the library
    reported them (`source` "library") or, for a crate with no way to ask,
    as cargo built it (`source` "cargo")."""

    name: str
    version: str
    config: dict[str, str] = field(default_factory=dict)
    source: str = "library"

    @classmethod
    def from_dict(cls, data, where: str) -> "LibraryInfo":
        f.table(data, where)
        config = f.table(data.get("config", {}), f"{where}.config")
        source = f.text(data.get("source", "library"), f"{where}.source")
        if source not in ("library", "cargo"):
            raise f.RecordError(f"{where}.source: expected library or cargo, got {source!r}")
        return cls(
            f.text(data.get("name"), f"{where}.name"),
            f.text(data.get("version"), f"{where}.version"),
            {k: f.text(v, f"{where}.config.{k}") for k, v in config.items()},
            source,
        )


@dataclass(frozen=True)
class AllocatorInfo:
    """What a run says of one allocator."""

    kind: str  # crate, preload or imported
    version: str | None
    about: str
    origin: str | None = None  # built-in, or where a user defined it
    # GlobalAlloc operations that reach the library's own code; None: unknown
    # (a user's allocator, or a run stored before runs recorded it)
    native: tuple[str, ...] | None = None
    # the library's own version and build options; None: not asked (a run
    # stored before runs recorded it, a guest-only run) or nothing to ask
    library: LibraryInfo | None = None

    @classmethod
    def from_dict(cls, data, where: str) -> "AllocatorInfo":
        f.table(data, where)
        native = data.get("native")
        return cls(
            f.text(data.get("kind"), f"{where}.kind"),
            f.optional_text(data.get("version"), f"{where}.version"),
            f.text(data.get("about", ""), f"{where}.about"),
            f.optional_text(data.get("origin"), f"{where}.origin"),
            None if native is None else f.texts(native, f"{where}.native"),
            _optional(LibraryInfo, data, "library", where),
        )


@dataclass(frozen=True)
class MemoryCap:
    """`--max-rss`: the cap per engine process and what enforced it."""

    bytes: int
    enforced_by: str  # "cgroup v1", "cgroup v2" or "RSS sampler"

    @classmethod
    def from_dict(cls, data, where: str) -> "MemoryCap":
        f.table(data, where)
        return cls(
            f.integer(data.get("bytes"), f"{where}.bytes", 1), f.text(data.get("enforced_by"), f"{where}.enforced_by")
        )


@dataclass(frozen=True)
class HostFacts:
    """The machine a run happened on; a fact the system does not expose is None."""

    hostname: str | None = None
    cpu_model: str | None = None
    cores_online: int | None = None
    cores_usable: int | None = None
    kernel: str | None = None
    cpu_governor: str | None = None
    turbo: str | None = None
    aslr: str | None = None
    mem_total_kib: int | None = None
    python: str | None = None
    rustc: str | None = None
    thp: str | None = None  # transparent huge pages: "enabled/defrag" modes in force
    #: The environment variables that change how allocators behave
    #: (GLIBC_TUNABLES, MALLOC_*, LD_PRELOAD, ...), as the engines got them.
    allocator_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data, where: str) -> "HostFacts":
        f.table(data, where)
        values = {}
        for key, value in data.items():
            if key not in cls.__dataclass_fields__:
                continue
            if key in ("cores_online", "cores_usable", "mem_total_kib"):
                values[key] = f.optional_integer(value, f"{where}.{key}", 0)
            elif key == "allocator_env":
                f.table(value, f"{where}.{key}")
                values[key] = {str(k): f.text(v, f"{where}.{key}.{k}") for k, v in value.items()}
            else:
                values[key] = f.optional_text(value, f"{where}.{key}")
        return cls(**values)

    def allocator_setting(self) -> str:
        """What in the environment changes allocators, as one phrase."""
        env = " ".join(f"{k}={v}" for k, v in sorted(self.allocator_env.items()))
        return f"THP {self.thp or 'n/a'}" + (f"; {env}" if env else "")


@dataclass(frozen=True)
class Precision:
    """`--precision`: the target, the budget, processes added per round, and
    when the budget ran out first, the pairs still above the target and the
    estimated budget that would reach it."""

    target: float
    budget_s: float | None
    rounds: tuple[int, ...]
    missed: int = 0
    budget_needed_s: float | None = None

    @classmethod
    def from_dict(cls, data, where: str) -> "Precision":
        f.table(data, where)
        return cls(
            f.number(data.get("target"), f"{where}.target", 0),
            f.optional_number(data.get("budget_s"), f"{where}.budget_s", 0),
            tuple(int(n) for n in f.numbers(data.get("rounds"), f"{where}.rounds", 0)),
            int(f.number(data.get("missed", 0), f"{where}.missed", 0)),
            f.optional_number(data.get("budget_needed_s"), f"{where}.budget_needed_s", 0),
        )

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "budget_s": self.budget_s,
            "rounds": list(self.rounds),
            "missed": self.missed,
            "budget_needed_s": self.budget_needed_s,
        }


@dataclass(frozen=True)
class ImportSource:
    """Where an imported run came from."""

    kind: str  # criterion
    path: str
    baseline: str

    @classmethod
    def from_dict(cls, data, where: str) -> "ImportSource":
        f.table(data, where)
        return cls(*(f.text(data.get(k), f"{where}.{k}") for k in ("kind", "path", "baseline")))


def _verdict(value, where: str) -> Failure | None:
    """A verify verdict: "ok", or a failure (a plain reason in older runs)."""
    if value == "ok":
        return None
    if isinstance(value, str):
        return Failure(FailureKind.UNCLASSIFIED, value)
    f.table(value, where)
    try:
        kind = FailureKind(value.get("kind"))
    except ValueError:
        raise f.RecordError(f"{where}.kind: unknown kind {value.get('kind')!r}") from None
    return Failure(kind, f.text(value.get("reason"), f"{where}.reason"))


def _optional(cls, data: dict, key: str, where: str):
    value = data.get(key)
    return None if value is None else cls.from_dict(value, f"{where}.{key}")


@dataclass
class RunMeta:
    """run.json. Written when the run starts and again as it goes on."""

    id: str
    status: RunStatus
    created: str
    plan: Plan
    suite: dict  # the suite as it was run, for provenance (only its name is read back)
    analysis: AnalysisSettings = AnalysisSettings()
    workloads: dict[str, WorkloadInfo] = field(default_factory=dict)  # the workloads the plan uses
    allocators: dict[str, AllocatorInfo] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    hab_version: str | None = None
    engine: EngineInfo | None = None
    host: HostFacts | None = None
    max_rss: MemoryCap | None = None
    verify: dict[str, Failure | None] | None = None  # "cell/allocator" -> None when it passed
    precision: Precision | None = None
    finished: str | None = None
    suite_seconds: float | None = None
    source: ImportSource | None = None  # imported runs
    targets: dict[str, TargetInfo] = field(default_factory=lambda: {NATIVE: TargetInfo(NATIVE)})
    owner: Owner | None = None  # the hab process writing it (the last one, when resumed)
    cwd: str | None = None  # where `argv` was given, for --resume
    resumed: int = 0  # times it was resumed

    @property
    def suite_name(self) -> str:
        return str(self.suite.get("name", "?"))

    def to_dict(self) -> dict:
        def part(value):
            return None if value is None else (value.to_dict() if hasattr(value, "to_dict") else asdict(value))

        out = {
            "format": FORMAT,
            "id": self.id,
            "status": self.status.value,
            "created": self.created,
            "argv": self.argv,
            "hab_version": self.hab_version,
            "suite": self.suite,
            "plan": self.plan.to_dict(),
            "analysis": self.analysis.to_dict(),
            "workloads": {name: w.to_dict() for name, w in self.workloads.items()},
            "allocators": {name: asdict(a) for name, a in self.allocators.items()},
            "engine": part(self.engine),
            "host": part(self.host),
            "max_rss": part(self.max_rss),
            "targets": {name: t.to_dict() for name, t in self.targets.items()},
        }
        optional = {
            "verify": None
            if self.verify is None
            else {pair: "ok" if v is None else v.to_dict() for pair, v in self.verify.items()},
            "precision": part(self.precision),
            "finished": self.finished,
            "suite_seconds": self.suite_seconds,
            "source": part(self.source),
            "owner": part(self.owner),
            "cwd": self.cwd,
            "resumed": self.resumed or None,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_dict(cls, data, where: str = "run.json") -> "RunMeta":
        f.table(data, where)
        if data.get("format") != FORMAT:
            raise f.RecordError(f"{where}: format {data.get('format')!r}, this hab reads {FORMAT}")
        try:
            status = RunStatus(data.get("status"))
        except ValueError:
            status = None
        if status is None or status is RunStatus.ABANDONED:
            raise f.RecordError(f"{where}.status: unknown status {data.get('status')!r}")
        workloads = f.table(data.get("workloads", {}), f"{where}.workloads")
        allocators = f.table(data.get("allocators", {}), f"{where}.allocators")
        verify = f.optional_table(data.get("verify"), f"{where}.verify")
        return cls(
            id=f.text(data.get("id"), f"{where}.id"),
            status=status,
            created=f.text(data.get("created", ""), f"{where}.created"),
            plan=Plan.from_dict(data.get("plan"), f"{where}.plan"),
            suite=f.table(data.get("suite", {}), f"{where}.suite"),
            analysis=AnalysisSettings.from_dict(data.get("analysis", {}), f"{where}.analysis"),
            workloads={n: WorkloadInfo.from_dict(n, w, f"{where}.workloads.{n}") for n, w in workloads.items()},
            allocators={n: AllocatorInfo.from_dict(a, f"{where}.allocators.{n}") for n, a in allocators.items()},
            argv=list(f.texts(data.get("argv", []), f"{where}.argv")),
            hab_version=f.optional_text(data.get("hab_version"), f"{where}.hab_version"),
            engine=_optional(EngineInfo, data, "engine", where),
            host=_optional(HostFacts, data, "host", where),
            max_rss=_optional(MemoryCap, data, "max_rss", where),
            verify=None if verify is None else {p: _verdict(v, f"{where}.verify.{p}") for p, v in verify.items()},
            precision=_optional(Precision, data, "precision", where),
            finished=f.optional_text(data.get("finished"), f"{where}.finished"),
            suite_seconds=f.optional_number(data.get("suite_seconds"), f"{where}.suite_seconds", 0),
            source=_optional(ImportSource, data, "source", where),
            targets={
                n: TargetInfo.from_dict(t, f"{where}.targets.{n}")
                for n, t in f.table(data.get("targets", {NATIVE: {"name": NATIVE}}), f"{where}.targets").items()
            },
            owner=_optional(Owner, data, "owner", where),
            cwd=f.optional_text(data.get("cwd"), f"{where}.cwd"),
            resumed=f.integer(data.get("resumed", 0), f"{where}.resumed", 0),
        )
