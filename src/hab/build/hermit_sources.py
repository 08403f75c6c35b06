"""Hermit's kernel and loader sources: found at a configurable place,
checked, copied into the cache and adjusted for the toolchain at hand.

The place is `$HAB_HERMIT_SOURCES`, else `../shared/hermit` beside the
clone (CI's offline copy). It holds either the release tarballs
(`kernel-v0.11.0.tar.gz`, `loader-v0.5.6.tar.gz`, checked against a
`SHA256SUMS` beside them when there is one) or git checkouts at those tags
in `kernel/` and `loader/`. Nothing is fetched from the internet. Kernels
may also come from any source tree (`--hermit-kernel`, a user's checkout
with a patch): copied into the cache by content, with their identity
(version, git commit, uncommitted changes, content digest).

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
import subprocess
import tarfile
import tomllib
from pathlib import Path

from hab import paths
from hab.errors import UserError
from hab.records.target import KernelInfo

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


def location() -> Path:
    override = os.environ.get("HAB_HERMIT_SOURCES")
    return Path(override) if override else paths.engine_dir().parent.parent / "shared" / "hermit"


def _digest_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digest_tree(root: Path) -> str:
    """sha256 of a source tree's files and their paths (.git and target/ left out)."""
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


def _copied(tree: Path, part: str, cache: Path) -> tuple[Path, str]:
    """A copy of the source tree `tree` in the cache, named by its content
    (made once), and that content's digest."""
    digest = digest_tree(tree)
    target = cache / f"{part}-{digest[:12]}"
    if not target.is_dir():
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(tree, tmp, ignore=shutil.ignore_patterns(".git", "target"), symlinks=True)
        tmp.replace(target)
    return target, digest


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
        target, digest = _copied(checkout, part, cache)
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
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
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


def _folder() -> Path:
    folder = location()
    if not folder.is_dir():
        raise UserError(
            f"Hermit sources folder {folder} not found: set HAB_HERMIT_SOURCES to a folder with "
            f"kernel-{KERNEL_TAG}.tar.gz and loader-{LOADER_TAG}.tar.gz (or kernel/ and loader/ checkouts)"
        )
    return folder


def loader(cache: Path, route: str) -> tuple[Path, str]:
    """The loader's sources in `cache`, adjusted for `route`, and where they came from."""
    cache.mkdir(parents=True, exist_ok=True)
    pristine, origin = _source("loader", LOADER_TAG, _folder(), cache)
    return _adjusted(pristine, "loader", route), origin


def known_tags() -> list[str]:
    """Kernel tags the sources folder holds (as tarballs; a checkout is taken to be KERNEL_TAG)."""
    folder = location()
    tags = {KERNEL_TAG} if (folder / "kernel" / "Cargo.toml").is_file() else set()
    tags |= (
        {p.name[len("kernel-") : -len(".tar.gz")] for p in folder.glob("kernel-*.tar.gz")} if folder.is_dir() else set()
    )
    return sorted(tags)


def _git(tree: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def kernel(choice: str, cache: Path, route: str) -> tuple[Path, KernelInfo]:
    """The kernel `choice` (`LABEL=SOURCE`: a known tag or a source tree) in
    `cache`, adjusted for `route`, with its identity. Raises UserError for an
    unknown tag; a tree that is not a kernel, or that the adjustments do not
    fit, raises KernelProblem."""
    label, _, source = choice.partition("=")
    cache.mkdir(parents=True, exist_ok=True)
    tree = Path(source)
    commit = dirty = None
    if tree.is_absolute():
        if not tree.is_dir():
            raise UserError(f"hermit kernel {label}: no source tree at {tree}")
        manifest = tree / "Cargo.toml"
        try:
            package = tomllib.loads(manifest.read_text()).get("package", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise KernelProblem(f"{tree} is not a Hermit kernel tree: {manifest.name}: {e}") from None
        if package.get("name") != "hermit-kernel" or not (tree / "xtask").is_dir():
            raise KernelProblem(f"{tree} is not a Hermit kernel tree (no package hermit-kernel with an xtask)")
        head = _git(tree, "rev-parse", "HEAD") if (tree / ".git").exists() else None
        if head:
            commit = head.strip()
            dirty = bool((_git(tree, "status", "--porcelain") or "").strip())
        pristine, digest = _copied(tree, "kernel", cache)
    else:
        if source not in known_tags():
            known = ", ".join(known_tags()) or "none"
            raise UserError(
                f"hermit kernel {source}: not a known tag (known here: {known}, in {location()}); "
                "give a kernel source tree instead (a checkout of that tag)"
            )
        pristine, _ = _source("kernel", source, _folder(), cache)
        digest = digest_tree(pristine)
    version = tomllib.loads((pristine / "Cargo.toml").read_text()).get("package", {}).get("version")
    info = KernelInfo(label, source, version, commit, dirty, digest)
    try:
        return _adjusted(pristine, "kernel", route), info
    except UserError as e:
        raise KernelProblem(str(e)) from None


class KernelProblem(Exception):
    """A kernel tree that cannot be built: its cells fail with this reason."""
