"""Where engine processes run: natively, or inside a guest under a
hypervisor. A cell's target is part of what the cell is; the run stores
how each target was run (accelerator, CPU model, memory, vCPUs, images)."""

from dataclasses import asdict, dataclass, field

from hab.records import fields as f

NATIVE = "native"
HERMIT = "hermit"
LINUX_VM = "linux-vm"
UHYVE = "uhyve"
#: Every target, in the order tables list them.
TARGETS = (NATIVE, HERMIT, LINUX_VM, UHYVE)
#: Targets whose engine runs inside a guest.
GUESTS = (HERMIT, LINUX_VM, UHYVE)
ACCELERATORS = ("kvm", "tcg")
#: What counts instructions (`--metric instructions`): Valgrind's tool natively, QEMU's icount in guests.
CALLGRIND, QEMU_ICOUNT = "callgrind", "qemu-icount"
#: Targets whose images link a Hermit kernel (`--hermit-kernel`).
KERNEL_TARGETS = (HERMIT, UHYVE)


@dataclass(frozen=True)
class KernelInfo:
    """A Hermit kernel that a target's images linked: its label in the run,
    where it came from and what it is."""

    label: str
    source: str  # a known tag, or the source tree's path
    version: str | None  # its Cargo.toml's package version
    commit: str | None  # the tree's git HEAD, when it is a checkout
    dirty: bool | None  # the checkout has changes not committed
    content: str  # sha256 of the tree's files (.git and target/ left out)
    problem: str | None = None  # why it was not built: its processes failed with this reason

    def describe(self) -> str:
        """One line: `label (version, git commit+changes, content hash)`."""
        parts = [self.version or "no version"]
        if self.commit:
            parts.append(f"git {self.commit[:10]}{' with changes' if self.dirty else ''}")
        parts += [f"content {self.content[:12]}"] if self.content else []
        return f"{self.label} ({', '.join(parts)}) from {self.source}"

    @classmethod
    def from_dict(cls, data, where: str) -> "KernelInfo":
        f.table(data, where)
        dirty = data.get("dirty")
        return cls(
            f.text(data.get("label"), f"{where}.label"),
            f.text(data.get("source"), f"{where}.source"),
            f.optional_text(data.get("version"), f"{where}.version"),
            f.optional_text(data.get("commit"), f"{where}.commit"),
            None if dirty is None else f.flag(dirty, f"{where}.dirty"),
            f.text(data.get("content"), f"{where}.content"),
            f.optional_text(data.get("problem"), f"{where}.problem"),
        )


@dataclass(frozen=True)
class TargetInfo:
    """How one target of a run ran its engine processes."""

    name: str
    accelerator: str | None = None  # kvm or tcg; None natively
    hypervisor: str | None = None  # the program that ran the guests (QEMU's version, uhyve's)
    cpu: str | None = None  # QEMU's -cpu model
    memory_mib: int | None = None  # guest memory
    vcpus: int | None = None  # fixed vCPUs; None: one per engine thread of the cell
    images: dict[str, str] = field(default_factory=dict)  # what the images were built from, by part
    counter: str | None = None  # what counted instructions (callgrind, qemu-icount); None: timed
    kernels: tuple[KernelInfo, ...] = ()  # Hermit kernels of the images, the first the reference

    @property
    def emulated(self) -> bool:
        """Timed under TCG: its times are the emulator's (counts are not times)."""
        return self.accelerator == "tcg" and self.counter is None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, where: str) -> "TargetInfo":
        f.table(data, where)
        name = f.text(data.get("name"), f"{where}.name")
        if name not in TARGETS:
            raise f.RecordError(f"{where}.name: unknown target {name!r}")
        accelerator = f.optional_text(data.get("accelerator"), f"{where}.accelerator")
        if accelerator is not None and accelerator not in ACCELERATORS:
            raise f.RecordError(f"{where}.accelerator: expected kvm or tcg, got {accelerator!r}")
        images = f.table(data.get("images", {}), f"{where}.images")
        return cls(
            name,
            accelerator,
            f.optional_text(data.get("hypervisor"), f"{where}.hypervisor"),
            f.optional_text(data.get("cpu"), f"{where}.cpu"),
            f.optional_integer(data.get("memory_mib"), f"{where}.memory_mib", 1),
            f.optional_integer(data.get("vcpus"), f"{where}.vcpus", 1),
            {k: f.text(v, f"{where}.images.{k}") for k, v in images.items()},
            f.optional_text(data.get("counter"), f"{where}.counter"),
            tuple(
                KernelInfo.from_dict(k, f"{where}.kernels[{i}]")
                for i, k in enumerate(f.items(data.get("kernels", []), f"{where}.kernels"))
            ),
        )
