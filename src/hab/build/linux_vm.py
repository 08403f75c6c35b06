"""linux-vm images: a Debian kernel, and per allocator an initramfs whose
only file is a static engine as `/init` (the engine runs as PID 1: see the
engine's `guest` module).

- The kernel is Debian's `linux-image-<abi>-amd64` (the standard flavour:
  the cloud one lacks 9p), downloaded with apt-get, not installed. Its
  compressed `vmlinuz` is unpacked here into the ELF `vmlinux`, which QEMU
  starts through the kernel's PVH entry: under TCG that saves the seven
  seconds the kernel would spend unpacking itself.
- The engine is built with `+crt-static` for `x86_64-unknown-linux-gnu` in
  its own target folder. snmalloc's build asks for `-lgcc_s`, which has no
  static library: an empty archive of that name satisfies it (the unwinder
  comes from libgcc_eh).

All of it lives in `<cache>/linux-vm/`, built under a lock, and the
initramfs files a run boots are kept by content (hab.build.shared).
"""

import lzma
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from hab import debian
from hab.allocators.registry import Allocator
from hab.build import cpio, custom
from hab.build.bins import workspace_bins
from hab.build.shared import exclusive, kept, log_file, prune
from hab.errors import UserError

TRIPLE = "x86_64-unknown-linux-gnu"
KERNEL_META = "linux-image-amd64"
_XZ_MAGIC = b"\xfd7zXZ\x00"


@dataclass(frozen=True)
class LinuxVmBuild:
    kernel: Path  # vmlinux
    initrds: dict[str, Path]  # allocator -> initramfs
    seconds: float
    provenance: dict[str, str]


def _vmlinux(vmlinuz: Path) -> bytes:
    """The ELF kernel inside a bzImage whose payload is XZ-compressed."""
    data = vmlinuz.read_bytes()
    at = data.find(_XZ_MAGIC)
    if at < 0:
        raise UserError(f"{vmlinuz}: no XZ-compressed kernel inside (another compression than Debian's?)")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[at:])
    if not elf.startswith(b"\x7fELF"):
        raise UserError(f"{vmlinuz}: the unpacked kernel is not an ELF file")
    return elf


def kernel(root: Path, console: Console) -> tuple[Path, str]:
    """The kernel (vmlinux) of the current Debian kernel package, and the .deb it came from."""
    package = debian.candidate(KERNEL_META)
    if package is None:
        debian.update()
        package = debian.candidate(KERNEL_META)
    if package is None:
        raise UserError(f"apt-cache knows no {KERNEL_META}: is this a Debian system with package lists?")
    folder = root / "kernel" / package
    vmlinux = folder / "vmlinux"
    if vmlinux.is_file():
        return vmlinux, (folder / "source").read_text().strip()
    console.print(f"[dim]downloading {package} (the linux-vm kernel)[/]")
    deb = debian.download(package, folder / "deb")
    # Only boot/vmlinuz-* is wanted: the stream is left as soon as it is read.
    argv = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and Path(member.name).name.startswith("vmlinuz-"):
                    (folder / "vmlinuz").write_bytes(tar.extractfile(member).read())
                    break
        proc.kill()
    if not (folder / "vmlinuz").is_file():
        raise UserError(f"{deb.name} holds no boot/vmlinuz-*")
    (folder / "source").write_text(deb.name)
    tmp = folder / ".vmlinux.tmp"
    tmp.write_bytes(_vmlinux(folder / "vmlinuz"))
    tmp.replace(vmlinux)
    shutil.rmtree(folder / "deb", ignore_errors=True)
    return vmlinux, deb.name


def _static_env(root: Path) -> dict[str, str]:
    stubs = root / "link-stubs"
    stubs.mkdir(parents=True, exist_ok=True)
    if not (stubs / "libgcc_s.a").is_file():
        (stubs / "libgcc_s.a").write_bytes(b"!<arch>\n")  # an empty archive
    flags = f"-C target-feature=+crt-static -L native={stubs}"
    return {**os.environ, "RUSTFLAGS": flags, "CARGO_TARGET_DIR": str(root / "target")}


def _engines(engine: Path, chosen: list[Allocator], root: Path, console: Console) -> tuple[dict[str, Path], float]:
    """Static engine binaries for `chosen` (built-in crates and user crates)."""
    env = _static_env(root)
    builtin = [a for a in chosen if a.builtin_crate]
    binaries, seconds = {}, 0.0
    if builtin:
        log = log_file(root, "engine")
        extra = ["--locked", "--target", TRIPLE]
        what = "the static linux-vm engine"
        binaries, _, seconds, _ = workspace_bins(engine, builtin, console, log, what, extra, env)
    for a in chosen:
        if not a.builtin_crate:
            made = custom.build(engine, a, console, env=env, extra=["--target", TRIPLE])
            binaries[a.name] = made.binary
            seconds += made.seconds
    missing = {a.name for a in chosen} - set(binaries)
    if missing:
        raise UserError(f"the linux-vm build produced no engine for {', '.join(sorted(missing))}")
    return binaries, seconds


def build(engine: Path, chosen: list[Allocator], cache: Path, console: Console) -> LinuxVmBuild:
    """The kernel and one initramfs per allocator in `chosen`."""
    root = cache / "linux-vm"
    with exclusive(root, "linux-vm images", console):
        vmlinux, source = kernel(root, console)
        binaries, seconds = _engines(engine, chosen, root, console)
        strip = shutil.which("strip")
        initrds = {}
        for name, binary in binaries.items():
            init = root / "init" / name
            init.parent.mkdir(parents=True, exist_ok=True)
            if not init.is_file() or init.stat().st_mtime < binary.stat().st_mtime:
                shutil.copyfile(binary, init)
                if strip:  # debug line tables: 10 MB of a 12 MB engine, and nothing reads them in a guest
                    subprocess.run([strip, "--strip-debug", str(init)], check=False)
            made = root / "initrd" / f"{name}.cpio"
            made.parent.mkdir(parents=True, exist_ok=True)
            cpio.write_init_archive(init, made)
            initrds[name] = kept(made, root / "images")
        prune(root / "images")
    return LinuxVmBuild(vmlinux, initrds, seconds, {"kernel": source, "engine": f"static {TRIPLE} (crt-static)"})
