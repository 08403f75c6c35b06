"""Hermit's kernel and loader sources: found at a configurable place,
checked, copied into the cache and adjusted for the toolchain at hand.

The place is `$HAB_HERMIT_SOURCES`, else `../shared/hermit` beside the
clone (CI's offline copy). It holds either the release tarballs
(`kernel-v0.11.0.tar.gz`, `loader-v0.5.6.tar.gz`, checked against a
`SHA256SUMS` beside them when there is one) or git checkouts at those tags
in `kernel/` and `loader/`. Nothing is fetched from the internet.

The adjustments are exact string replacements that must match as often as
stated, so a different source version fails loudly instead of building
something else:

- the loader's bootstrap heap from 4 KiB to 64 KiB (the stock loader
  panics on a command line past about 386 bytes; a spec is longer);
- `-Zbuild-std=core,alloc` for the bare-metal target in both build tools
  (Debian's toolchain has no prebuilt `core` for it; harmless with rustup);
- with Debian's rustc 1.96 only: `#[naked]` written `#[unsafe(naked)]`.
"""

import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hab import paths
from hab.errors import UserError

KERNEL_TAG = "v0.11.0"
LOADER_TAG = "v0.5.6"
_NAKED = ("\n#[naked]\n", "\n#[unsafe(naked)]\n")
_BUILD_STD = (
    '\t\t\tSelf::X86_64 => &["--target=x86_64-unknown-none"],\n',
    '\t\t\tSelf::X86_64 => &[\n\t\t\t\t"--target=x86_64-unknown-none",\n\t\t\t\t"-Zbuild-std=core,alloc",\n'
    '\t\t\t\t"-Zbuild-std-features=compiler-builtins-mem",\n\t\t\t],\n',
)
#: (part, file, (before, after), times, routes it applies to)
EDITS = (
    (
        "loader",
        "src/os/none/allocator/bootstrap.rs",
        ("const SIZE: usize = 4 * 1024;", "const SIZE: usize = 64 * 1024;"),
        1,
        ("rustup", "debian"),
    ),
    ("loader", "xtask/src/target.rs", _BUILD_STD, 1, ("rustup", "debian")),
    ("kernel", "xtask/src/arch.rs", _BUILD_STD, 1, ("rustup", "debian")),
    ("kernel", "src/syscalls/table.rs", _NAKED, 1, ("debian",)),
    ("kernel", "src/arch/x86_64/kernel/switch.rs", _NAKED, 2, ("debian",)),
    ("kernel", "src/arch/x86_64/kernel/start.rs", _NAKED, 1, ("debian",)),
    ("kernel", "src/arch/x86_64/kernel/syscall.rs", _NAKED, 1, ("debian",)),
    ("kernel", "src/arch/x86_64/kernel/scheduler.rs", _NAKED, 1, ("debian",)),
)


@dataclass(frozen=True)
class Sources:
    kernel: Path  # prepared source trees in the cache
    loader: Path
    provenance: dict[str, str]  # part -> where it came from and its digest


def location() -> Path:
    override = os.environ.get("HAB_HERMIT_SOURCES")
    return Path(override) if override else paths.engine_dir().parent.parent / "shared" / "hermit"


def _digest_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest_tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in (".git", "target"):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _checked_sums(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            out[name] = digest
    return out


def _unpack(archive: Path, into: Path) -> None:
    """Unpacks a tarball whose entries share one top folder into `into`."""
    tmp = into.with_name(f".{into.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    (top,) = list(tmp.iterdir())
    top.replace(into)
    tmp.rmdir()


def _source(part: str, tag: str, folder: Path, cache: Path) -> tuple[Path, str]:
    """A pristine copy of `part` in the cache, and where it came from."""
    tarball, checkout = folder / f"{part}-{tag}.tar.gz", folder / part
    if tarball.is_file():
        digest = _digest_file(tarball)
        expected = _checked_sums(folder).get(tarball.name)
        if expected is not None and expected != digest:
            raise UserError(f"{tarball}: SHA256 {digest[:16]}... does not match SHA256SUMS ({expected[:16]}...)")
        target = cache / f"{part}-{digest[:12]}"
        if not target.is_dir():
            _unpack(tarball, target)
        return target, f"{tarball.name} (sha256 {digest[:12]})"
    if (checkout / "Cargo.toml").is_file():
        digest = _digest_tree(checkout)
        target = cache / f"{part}-{digest[:12]}"
        if not target.is_dir():
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(checkout, tmp, ignore=shutil.ignore_patterns(".git", "target"), symlinks=True)
            tmp.replace(target)
        return target, f"checkout {checkout} (sources {digest[:12]})"
    raise UserError(
        f"no Hermit {part} sources in {folder}: expected {tarball.name} or a git checkout at {tag} in {checkout} "
        "(set HAB_HERMIT_SOURCES to the folder that has them; docs/guests.md says where to get them)"
    )


def _adjusted(pristine: Path, part: str, route: str) -> Path:
    """A copy of `pristine` with this route's edits applied (made once)."""
    edits = [e for e in EDITS if e[0] == part and route in e[4]]
    target = pristine.with_name(f"{pristine.name}-{route}")
    if (target / ".hab-adjusted").is_file():
        return target
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(pristine, tmp, symlinks=True)
    for _, rel, (before, after), times, _ in edits:
        path = tmp / rel
        text = path.read_text() if path.is_file() else ""
        if text.count(before) != times:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(
                f"Hermit {part} source {rel}: expected {times} place(s) to adjust, found "
                f"{text.count(before)} (sources of another version than {KERNEL_TAG}/{LOADER_TAG}?)"
            )
        path.write_text(text.replace(before, after))
    (tmp / ".hab-adjusted").write_text("".join(f"{e[1]}\n" for e in edits))
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def prepare(cache: Path, route: str) -> Sources:
    """Kernel and loader sources in `cache`, adjusted for `route`."""
    folder = location()
    if not folder.is_dir():
        raise UserError(
            f"Hermit sources folder {folder} not found: set HAB_HERMIT_SOURCES to a folder with "
            f"kernel-{KERNEL_TAG}.tar.gz and loader-{LOADER_TAG}.tar.gz (or kernel/ and loader/ checkouts)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    kernel, kernel_from = _source("kernel", KERNEL_TAG, folder, cache)
    loader, loader_from = _source("loader", LOADER_TAG, folder, cache)
    return Sources(
        _adjusted(kernel, "kernel", route),
        _adjusted(loader, "loader", route),
        {"kernel": kernel_from, "loader": loader_from},
    )
