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

    @property
    def emulated(self) -> bool:
        return self.accelerator == "tcg"

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
        )
