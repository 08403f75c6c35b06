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
from hab.records.target import HERMIT, LINUX_VM, UHYVE

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
    images: dict[str, GuestImage]  # allocator -> image
    seconds: float
    provenance: dict[str, str] = field(default_factory=dict)
    probe: GuestImage | None = None  # what QEMU boots to find out whether KVM works (uhyve has no QEMU image)


def build(target: str, engine: Path, chosen: list[Allocator], console: Console) -> GuestBuild:
    """Builds (or finds up to date) the images of `chosen` for `target`."""
    for a in chosen:
        why = a.unavailable_on(target)
        if why:
            raise UserError(f"allocator {a.name} cannot run on {target}: {why}")
    cache = paths.cache_dir()
    if target in (HERMIT, UHYVE):
        made = hermit.build(engine, chosen, cache, console)
        bootable = {name: GuestImage(made.loader, app) for name, app in made.apps.items()}
        images = {name: GuestImage(app) for name, app in made.apps.items()} if target == UHYVE else bootable
        return GuestBuild(images, made.seconds, made.provenance, next(iter(bootable.values()), None))
    if target == LINUX_VM:
        made = linux_vm.build(engine, chosen, cache, console)
        images = {name: GuestImage(made.kernel, initrd) for name, initrd in made.initrds.items()}
        return GuestBuild(images, made.seconds, made.provenance, next(iter(images.values()), None))
    raise UserError(f"{target} is not a guest target")
