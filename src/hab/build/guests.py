"""Guest images of a run, whatever the target: what each allocator's guest
boots, and what the images were built from."""

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from hab import paths
from hab.allocators.registry import Allocator
from hab.build import hermit, linux_vm
from hab.build.hermit_toolchain import DEBIAN_PACKAGES
from hab.errors import UserError
from hab.records.plan import VARIANT_MARK, variant
from hab.records.target import HERMIT, LINUX_VM, UHYVE, KernelInfo

QEMU_PACKAGE = "qemu-system-x86"
#: Debian packages each guest target needs (`hab setup --target`); uhyve
#: is not packaged (with internet: `cargo install uhyve`).
PACKAGES = {HERMIT: (*DEBIAN_PACKAGES, QEMU_PACKAGE), LINUX_VM: (QEMU_PACKAGE,), UHYVE: DEBIAN_PACKAGES}


@dataclass(frozen=True)
class GuestImage:
    """What a guest boots: for Hermit the loader (`kernel`) and the
    application (`initrd`); for linux-vm the kernel and the initramfs; for
    uhyve the application alone (`kernel`)."""

    kernel: Path
    initrd: Path | None = None


@dataclass(frozen=True)
class GuestBuild:
    images: dict[str, GuestImage]  # row (allocator, or ALLOCATOR@KERNEL with several kernels) -> image
    seconds: float
    provenance: dict[str, str] = field(default_factory=dict)
    probe: GuestImage | None = None  # what QEMU boots to find out whether KVM works (uhyve has no QEMU image)
    kernels: tuple[KernelInfo, ...] = ()  # Hermit kernels the images linked (the first one: the reference)
    missing: dict[str, str] = field(default_factory=dict)  # row -> why it has no image (its kernel did not build)

    def kernel_of(self, row: str) -> str | None:
        """The label of the kernel `row`'s image linked (Hermit images only)."""
        if not self.kernels:
            return None
        return row.split(VARIANT_MARK, 1)[1] if VARIANT_MARK in row else self.kernels[0].label


def rows(allocators: list[str], kernels: tuple[str, ...]) -> list[str]:
    """The rows of `allocators` on a kernel target: the allocators
    themselves, or with several kernels (LABEL=SOURCE each) every allocator
    on every kernel, `ALLOCATOR@LABEL`."""
    if len(kernels) < 2:
        return list(allocators)
    return [variant(a, k.partition("=")[0]) for a in allocators for k in kernels]


def build(
    target: str, engine: Path, chosen: list[Allocator], console: Console, kernels: tuple[str, ...] = ()
) -> GuestBuild:
    """Builds (or finds up to date) the images of `chosen` for `target`,
    for Hermit on each of `kernels` (LABEL=SOURCE; default the kernel tag)."""
    for a in chosen:
        why = a.unavailable_on(target)
        if why:
            raise UserError(f"allocator {a.name} cannot run on {target}: {why}")
    cache = paths.cache_dir()
    if target in (HERMIT, UHYVE):
        made = hermit.build(engine, chosen, cache, console, kernels)
        several = len(made.kernels) > 1
        bootable, missing = {}, {}
        for a in chosen:
            for k in made.kernels:
                row = variant(a.name, k.label) if several else a.name
                app = made.apps.get((a.name, k.label))
                if app is None:
                    missing[row] = f"hermit kernel {k.label} not built: {k.problem}"
                else:
                    bootable[row] = GuestImage(made.loader, app)
        images = {row: GuestImage(image.initrd) for row, image in bootable.items()} if target == UHYVE else bootable
        probe = next(iter(bootable.values()), None)
        return GuestBuild(images, made.seconds, made.provenance, probe, made.kernels, missing)
    if target == LINUX_VM:
        made = linux_vm.build(engine, chosen, cache, console)
        images = {name: GuestImage(made.kernel, initrd) for name, initrd in made.initrds.items()}
        return GuestBuild(images, made.seconds, made.provenance, next(iter(images.values()), None))
    raise UserError(f"{target} is not a guest target")
