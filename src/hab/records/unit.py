"""What is stored for one engine process (`units/<id>.json`): the raw
samples and every other record the engine sent, and how the process ended.
`verify/<id>.json` holds a verify-mode process the same way."""

from dataclasses import dataclass

from hab.records import fields as f
from hab.records.failure import Failure, FailureKind
from hab.records.plan import Unit

#: Version of the unit and run files (see docs/results.md).
FORMAT = 1
_MODES = ("linear", "flat")


def _typed(kind: str, data: dict) -> dict:
    """A record as the engine sent it: `type` first, then the fields."""
    return {"type": kind, **data}


@dataclass(frozen=True)
class Warmup:
    iters: int
    ns: int

    def to_dict(self) -> dict:
        return _typed("warmup", {"iters": self.iters, "ns": self.ns})

    @classmethod
    def from_dict(cls, data, where: str) -> "Warmup":
        f.table(data, where)
        return cls(f.integer(data.get("iters"), f"{where}.iters", 0), f.integer(data.get("ns"), f"{where}.ns", 0))


@dataclass(frozen=True)
class EnginePlan:
    """The sampling plan the engine chose after its warm-up."""

    mode: str  # linear or flat
    iters: tuple[int | float, ...]  # iterations per sample
    met_ns: float | None = None  # mean time per iteration in the warm-up
    expected_ns: float | None = None

    def to_dict(self) -> dict:
        return _typed(
            "plan",
            {"mode": self.mode, "iters": list(self.iters), "met_ns": self.met_ns, "expected_ns": self.expected_ns},
        )

    @classmethod
    def from_dict(cls, data, where: str) -> "EnginePlan":
        f.table(data, where)
        mode = f.text(data.get("mode"), f"{where}.mode")
        if mode not in _MODES:
            raise f.RecordError(f"{where}.mode: expected linear or flat, got {mode!r}")
        return cls(
            mode,
            f.numbers(data.get("iters"), f"{where}.iters", 1),
            f.optional_number(data.get("met_ns"), f"{where}.met_ns", 0),
            f.optional_number(data.get("expected_ns"), f"{where}.expected_ns", 0),
        )


@dataclass(frozen=True)
class Samples:
    """Sample i ran iters[i] iterations in ns[i] nanoseconds."""

    iters: tuple[int | float, ...] = ()
    ns: tuple[int | float, ...] = ()

    def to_dict(self) -> dict:
        return {"iters": list(self.iters), "ns": list(self.ns)}

    @classmethod
    def from_dict(cls, data, where: str) -> "Samples":
        f.table(data, where)
        samples = cls(f.numbers(data.get("iters"), f"{where}.iters", 1), f.positives(data.get("ns"), f"{where}.ns"))
        if len(samples.iters) != len(samples.ns):
            raise f.RecordError(f"{where}: {len(samples.ns)} times for {len(samples.iters)} iteration counts")
        return samples


@dataclass(frozen=True)
class Counts:
    """Events counted by a tool per sample (the measured iterations only):
    events[name][i] is the count of sample i, e.g. Valgrind's `Ir`
    (instructions) and, with cache simulation, its miss counts."""

    tool: str
    events: dict[str, tuple[int, ...]]
    clock_step_ns: int | None = None  # the virtual clock's step; None: the real clock (older runs)

    def to_dict(self) -> dict:
        return {
            "tool": self.tool,
            "events": {k: list(v) for k, v in self.events.items()},
            "clock_step_ns": self.clock_step_ns,
        }

    def of(self, event: str) -> tuple[int, ...] | None:
        return self.events.get(event)

    @classmethod
    def from_dict(cls, data, where: str) -> "Counts":
        f.table(data, where)
        events = f.table(data.get("events"), f"{where}.events")

        def whole(values, at):
            return tuple(f.integer(x, f"{at}[{i}]", 0) for i, x in enumerate(f.items(values, at)))

        counts = cls(
            f.text(data.get("tool"), f"{where}.tool"),
            {k: whole(v, f"{where}.events.{k}") for k, v in events.items()},
            f.optional_integer(data.get("clock_step_ns"), f"{where}.clock_step_ns", 1),
        )
        if len({len(v) for v in counts.events.values()}) > 1:
            raise f.RecordError(f"{where}.events: events with different numbers of samples")
        return counts


@dataclass(frozen=True)
class Work:
    """Work of one iteration: allocator calls that return memory, bytes requested."""

    allocations: int | float | None
    bytes: int | float | None

    def to_dict(self) -> dict:
        return _typed("work", {"allocations": self.allocations, "bytes": self.bytes})

    @classmethod
    def from_dict(cls, data, where: str) -> "Work":
        f.table(data, where)
        return cls(
            f.optional_number(data.get("allocations"), f"{where}.allocations", 0),
            f.optional_number(data.get("bytes"), f"{where}.bytes", 0),
        )


@dataclass(frozen=True)
class Live:
    peak_bytes: int  # highest sum of requested bytes alive at once (the workload's books)
    start_rss_kib: int | None  # RSS before the workload was set up

    def to_dict(self) -> dict:
        return _typed("live", {"peak_bytes": self.peak_bytes, "start_rss_kib": self.start_rss_kib})

    @classmethod
    def from_dict(cls, data, where: str) -> "Live":
        f.table(data, where)
        return cls(
            f.integer(data.get("peak_bytes"), f"{where}.peak_bytes", 0),
            f.optional_integer(data.get("start_rss_kib"), f"{where}.start_rss_kib", 0),
        )


#: Per-process figures of the rusage record, in its order.
RUSAGE_FIELDS = ("max_rss_kib", "minor_faults", "major_faults", "user_us", "system_us")


@dataclass(frozen=True)
class Rusage:
    """Resource use of the whole process; None where the OS has no such figure."""

    max_rss_kib: int | None = None
    minor_faults: int | None = None
    major_faults: int | None = None
    user_us: int | None = None
    system_us: int | None = None

    def to_dict(self) -> dict:
        return _typed("rusage", {k: getattr(self, k) for k in RUSAGE_FIELDS})

    @classmethod
    def from_dict(cls, data, where: str) -> "Rusage":
        f.table(data, where)
        return cls(**{k: f.optional_integer(data.get(k), f"{where}.{k}", 0) for k in RUSAGE_FIELDS})


#: Per-operation figures of the latency record, in ns.
LATENCY_FIELDS = ("min", "mean", "p50", "p90", "p99", "p999", "max")


@dataclass(frozen=True)
class OpLatency:
    op: str  # alloc, free or realloc
    count: int
    figures: dict[str, int | float]  # LATENCY_FIELDS -> ns
    histogram: str  # HdrHistogram V2 compressed, base64

    def to_dict(self) -> dict:
        return {"op": self.op, "count": self.count, **self.figures, "histogram": self.histogram}

    @classmethod
    def from_dict(cls, data, where: str) -> "OpLatency":
        f.table(data, where)
        return cls(
            f.text(data.get("op"), f"{where}.op"),
            f.integer(data.get("count"), f"{where}.count", 0),
            {k: f.number(data.get(k), f"{where}.{k}", 0) for k in LATENCY_FIELDS},
            f.text(data.get("histogram"), f"{where}.histogram"),
        )


@dataclass(frozen=True)
class LatencyRecord:
    """Latency mode: one allocator call in `every` timed; what the timer costs."""

    every: int
    timer_ns: dict[str, int]  # min_ns, p50_ns, p99_ns of two clock reads around nothing
    ops: tuple[OpLatency, ...]

    def to_dict(self) -> dict:
        return _typed("latency", {"every": self.every, "timer": self.timer_ns, "ops": [o.to_dict() for o in self.ops]})

    @classmethod
    def from_dict(cls, data, where: str) -> "LatencyRecord":
        f.table(data, where)
        timer = f.table(data.get("timer"), f"{where}.timer")
        return cls(
            f.integer(data.get("every"), f"{where}.every", 1),
            {k: f.integer(timer.get(k), f"{where}.timer.{k}", 0) for k in ("min_ns", "p50_ns", "p99_ns")},
            tuple(
                OpLatency.from_dict(o, f"{where}.ops[{i}]")
                for i, o in enumerate(f.items(data.get("ops"), f"{where}.ops"))
            ),
        )


@dataclass(frozen=True)
class RssSeries:
    """RSS of the process over time, sampled by the harness from /proc."""

    interval_ms: float
    t_ms: tuple[float, ...] = ()  # since the sampler started
    rss_kib: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"interval_ms": self.interval_ms, "t_ms": list(self.t_ms), "rss_kib": list(self.rss_kib)}

    @classmethod
    def from_dict(cls, data, where: str) -> "RssSeries":
        f.table(data, where)
        series = cls(
            f.number(data.get("interval_ms"), f"{where}.interval_ms", 0),
            f.numbers(data.get("t_ms"), f"{where}.t_ms", 0),
            f.numbers(data.get("rss_kib"), f"{where}.rss_kib", 0),
        )
        if len(series.t_ms) != len(series.rss_kib):
            raise f.RecordError(f"{where}: {len(series.rss_kib)} RSS values for {len(series.t_ms)} times")
        return series


@dataclass(frozen=True)
class GuestRun:
    """How a guest ran one engine process: its vCPUs, the time before the
    engine started (boot: the harness's wall time less the engine's own), and
    the hypervisor's exit status (the guest's own status is the unit's
    `exit_code`, read from the serial log)."""

    vcpus: int
    boot_seconds: float | None
    hypervisor_status: int | None
    kernel: str | None = None  # the label of the Hermit kernel the image linked

    def to_dict(self) -> dict:
        return {
            "vcpus": self.vcpus,
            "boot_seconds": self.boot_seconds,
            "hypervisor_status": self.hypervisor_status,
            "kernel": self.kernel,
        }

    @classmethod
    def from_dict(cls, data, where: str) -> "GuestRun":
        f.table(data, where)
        return cls(
            f.integer(data.get("vcpus"), f"{where}.vcpus", 1),
            f.optional_number(data.get("boot_seconds"), f"{where}.boot_seconds", 0),
            f.optional_integer(data.get("hypervisor_status"), f"{where}.hypervisor_status"),
            f.optional_text(data.get("kernel"), f"{where}.kernel"),
        )


@dataclass(frozen=True)
class Contention:
    """How busy the machine was around one engine process: other runnable
    threads just before it started, and over its lifetime the share of time
    some task waited for a CPU (pressure) and the share of CPU time the
    hypervisor gave to others (steal); None where the kernel does not say."""

    others_runnable: int | None
    cpu_pressure: float | None
    steal: float | None

    def to_dict(self) -> dict:
        return {"others_runnable": self.others_runnable, "cpu_pressure": self.cpu_pressure, "steal": self.steal}

    @classmethod
    def from_dict(cls, data, where: str) -> "Contention":
        f.table(data, where)

        def share(key):
            value = f.optional_number(data.get(key), f"{where}.{key}", 0)
            if value is not None and value > 1:
                raise f.RecordError(f"{where}.{key}: expected a share in [0, 1], got {value:g}")
            return value

        return cls(
            f.optional_integer(data.get("others_runnable"), f"{where}.others_runnable", 0),
            share("cpu_pressure"),
            share("steal"),
        )


def _failure(data: dict, where: str) -> Failure | None:
    if f.flag(data.get("ok"), f"{where}.ok"):
        return None
    reason = f.optional_text(data.get("reason"), f"{where}.reason") or "failed"
    kind = data.get("failure_kind", FailureKind.UNCLASSIFIED.value)
    try:
        return Failure(FailureKind(kind), reason)
    except ValueError:
        raise f.RecordError(f"{where}.failure_kind: unknown kind {kind!r}") from None


def _optional(cls, data: dict, key: str, where: str):
    value = data.get(key)
    return None if value is None else cls.from_dict(value, f"{where}.{key}")


@dataclass(frozen=True)
class UnitRecord:
    """One engine process. `failure` is None for a process that delivered a
    complete run; a failed one keeps whatever records came before the end."""

    unit: Unit
    failure: Failure | None
    exit_code: int | None = None
    seconds: float | None = None  # wall time of the process, seen by the harness
    hello: dict | None = None  # the engine's hello record, verbatim (what ran, where)
    warmup: Warmup | None = None
    plan: EnginePlan | None = None
    samples: Samples = Samples()
    work: Work | None = None
    live: Live | None = None
    latency: LatencyRecord | None = None
    rusage: Rusage | None = None
    rss: RssSeries | None = None
    stderr: str = ""  # natively the engine's stderr; in a guest the console's other lines
    guest: GuestRun | None = None  # processes that ran in a guest
    contention: Contention | None = None  # how busy the machine was meanwhile
    criterion: dict | None = None  # imported runs: criterion's directory, throughput and estimates, verbatim
    counts: Counts | None = None  # counting metrics: events per sample, from the tool the engine ran under

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def reason(self) -> str | None:
        return None if self.failure is None else self.failure.reason

    def to_dict(self) -> dict:
        def part(value):
            return None if value is None else value.to_dict()

        out = {
            "format": FORMAT,
            "unit": self.unit.to_dict(),
            "ok": self.ok,
            "reason": self.reason,
            "failure_kind": None if self.failure is None else self.failure.kind.value,
            "exit_code": self.exit_code,
            "seconds": self.seconds,
            "hello": self.hello,
            "warmup": part(self.warmup),
            "plan": part(self.plan),
            "samples": self.samples.to_dict(),
            "work": part(self.work),
            "live": part(self.live),
            "latency": part(self.latency),
            "rusage": part(self.rusage),
            "rss": part(self.rss),
            "stderr": self.stderr,
        }
        if self.guest is not None:
            out["guest"] = self.guest.to_dict()
        if self.contention is not None:
            out["contention"] = self.contention.to_dict()
        if self.criterion is not None:
            out["criterion"] = self.criterion
        if self.counts is not None:
            out["counts"] = self.counts.to_dict()
        return out

    @classmethod
    def from_dict(cls, data, where: str = "unit record") -> "UnitRecord":
        f.table(data, where)
        if data.get("format") != FORMAT:
            raise f.RecordError(f"{where}: format {data.get('format')!r}, this hab reads {FORMAT}")
        record = cls(
            unit=Unit.from_dict(data.get("unit"), f"{where}.unit"),
            failure=_failure(data, where),
            exit_code=f.optional_integer(data.get("exit_code"), f"{where}.exit_code"),
            seconds=f.optional_number(data.get("seconds"), f"{where}.seconds", 0),
            hello=f.optional_table(data.get("hello"), f"{where}.hello"),
            warmup=_optional(Warmup, data, "warmup", where),
            plan=_optional(EnginePlan, data, "plan", where),
            samples=Samples.from_dict(data.get("samples", {"iters": [], "ns": []}), f"{where}.samples"),
            work=_optional(Work, data, "work", where),
            live=_optional(Live, data, "live", where),
            latency=_optional(LatencyRecord, data, "latency", where),
            rusage=_optional(Rusage, data, "rusage", where),
            rss=_optional(RssSeries, data, "rss", where),
            stderr=f.optional_text(data.get("stderr"), f"{where}.stderr") or "",
            guest=_optional(GuestRun, data, "guest", where),
            contention=_optional(Contention, data, "contention", where),
            criterion=f.optional_table(data.get("criterion"), f"{where}.criterion"),
            counts=_optional(Counts, data, "counts", where),
        )
        if record.ok:
            if record.plan is None or not record.samples.iters:
                raise f.RecordError(f"{where}: a successful process without a plan or samples")
            record.check_counts(where)
        return record

    def check_counts(self, where: str) -> None:
        """Counts, where there are any, come one per sample."""
        if self.counts is not None:
            for name, values in self.counts.events.items():
                if len(values) != len(self.samples.iters):
                    raise f.RecordError(
                        f"{where}.counts.events.{name}: {len(values)} counts for {len(self.samples.iters)} samples"
                    )

    @classmethod
    def from_engine(
        cls,
        unit: Unit,
        records: list[dict],
        failure: Failure | None,
        exit_code: int | None,
        seconds: float,
        stderr: str,
        rss: RssSeries | None,
        guest: GuestRun | None = None,
        counts: Counts | None = None,
    ) -> "UnitRecord":
        """The record of a finished process from the engine's records; a
        record that does not fit its shape raises RecordError."""

        def first(kind, parse):
            found = next((r for r in records if r.get("type") == kind), None)
            return None if found is None else parse(found, kind)

        samples = [r for r in records if r.get("type") == "sample"]
        record = cls(
            unit=unit,
            failure=failure,
            exit_code=exit_code,
            seconds=round(seconds, 3),
            hello=first("hello", lambda r, _: r),
            warmup=first("warmup", Warmup.from_dict),
            plan=first("plan", EnginePlan.from_dict),
            samples=Samples.from_dict(
                {"iters": [s.get("iters") for s in samples], "ns": [s.get("ns") for s in samples]}, "samples"
            ),
            work=first("work", Work.from_dict),
            live=first("live", Live.from_dict),
            latency=first("latency", LatencyRecord.from_dict),
            rusage=first("rusage", Rusage.from_dict),
            rss=rss,
            stderr=stderr,
            guest=guest,
            counts=counts,
        )
        if failure is None:
            record.check_counts("counts")
        return record


@dataclass(frozen=True)
class VerifyRecord:
    """One verify-mode process (`verify/<id>.json`): its verdict and every record."""

    unit: Unit
    failure: Failure | None
    exit_code: int | None
    records: tuple[dict, ...]  # the engine's records, verbatim
    stderr: str

    def to_dict(self) -> dict:
        return {
            "verify": True,
            "unit": self.unit.to_dict(),
            "ok": self.failure is None,
            "reason": None if self.failure is None else self.failure.reason,
            "failure_kind": None if self.failure is None else self.failure.kind.value,
            "exit_code": self.exit_code,
            "records": list(self.records),
            "stderr": self.stderr,
        }
