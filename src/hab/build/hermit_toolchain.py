"""The Rust toolchain that builds Hermit images: one of two routes, chosen
by what is installed.

- **rustup**: a nightly with `rust-src` (users with internet). The kernel's
  own `rust-toolchain.toml` picks its pinned nightly; applications build
  with `cargo +<nightly> -Zbuild-std`.
- **debian**: Debian's `rustc-web`, `cargo-web` and `rust-web-src` (1.96)
  with `RUSTC_BOOTSTRAP=1`, plus llvm-19 and lld-19 (machines that reach
  only Debian and crates.io). The kernel's and the loader's build tools
  expect rustup's layout (`$CARGO_HOME/bin/{cargo,rustc,rustup}`, llvm tools
  under `rustc --print sysroot`, `rust-lld` on PATH), so this route works
  through a small CARGO_HOME of wrappers that hab writes.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hab import debian
from hab.errors import UserError

#: Debian packages of the debian route (and QEMU, to run the images).
DEBIAN_PACKAGES = ("rustc-web", "cargo-web", "rust-web-src", "llvm-19", "lld-19")
#: The oldest Debian Rust that builds kernel v0.11.0 and loader v0.5.6: the
#: loader's dependencies need 1.88 (sysinfo 0.37); 1.96 is the measured one.
#: Bookworm's own 1.85 is too old; bookworm-security carries newer ones.
DEBIAN_MINIMUM = {"rustc-web": "1.88", "cargo-web": "1.88", "rust-web-src": "1.88"}
_DEBIAN_RUSTC = Path("/usr/bin/rustc")
_DEBIAN_CARGO = Path("/usr/bin/cargo")
_DEBIAN_RUST_SRC = Path("/usr/lib/rustlib/src/rust/library")
_LLVM = Path("/usr/lib/llvm-19/bin")
_LLVM_TOOLS = (
    "llvm-objcopy",
    "llvm-objdump",
    "llvm-nm",
    "llvm-as",
    "llvm-ar",
    "llvm-strip",
    "llvm-readobj",
    "llvm-size",
    "llvm-profdata",
    "llvm-cov",
)
#: Variables of an outer cargo or rustup that would steer the inner builds.
_INHERITED = ("CARGO", "RUSTUP", "RUSTC", "RUSTFLAGS", "RUSTDOC")


@dataclass(frozen=True)
class Toolchain:
    route: str  # rustup or debian
    cargo: list[str]  # argv prefix that runs cargo for applications
    env: dict[str, str]  # environment for every cargo call of the Hermit build
    description: str  # one line for the run's provenance

    def run_env(self) -> dict[str, str]:
        return dict(self.env)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED)}


def _rustup_nightly() -> str | None:
    """A rustup nightly that has rust-src, or None."""
    rustup = shutil.which("rustup")
    if rustup is None:
        return None
    listed = subprocess.run([rustup, "toolchain", "list"], capture_output=True, text=True, timeout=30).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith("nightly"):
            continue
        sysroot = subprocess.run(
            [rustup, "run", name, "rustc", "--print", "sysroot"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        if sysroot and (Path(sysroot) / "lib/rustlib/src/rust/library").is_dir():
            return name
    return None


def _debian_ready() -> str | None:
    """Why the debian route is not usable here, or None when it is."""
    for path in (_DEBIAN_RUSTC, _DEBIAN_CARGO, _DEBIAN_RUST_SRC, _LLVM / "lld", _LLVM / "llvm-objcopy"):
        if not path.exists():
            return f"{path} is missing"
    for package in debian.missing(list(DEBIAN_MINIMUM), DEBIAN_MINIMUM):
        version = debian.installed_version(package) or "not installed"
        return f"{package} is {version}, older than the {DEBIAN_MINIMUM[package]} it needs"
    return None


def _write(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    path.chmod(0o755)


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() and os.readlink(path) == str(target):
        return
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _debian_home(home: Path) -> dict[str, str]:
    """Writes the wrapper CARGO_HOME under `home`; returns the environment."""
    bin_dir, sysroot = home / "bin", home / "llvm-sysroot"
    tools = sysroot / "lib" / "rustlib" / "x86_64-unknown-linux-gnu" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    tools.mkdir(parents=True, exist_ok=True)
    exports = f"export CARGO_HOME='{home}'\nexport RUSTC_BOOTSTRAP=1\nexport PATH='{bin_dir}':\"$PATH\"\n"
    _write(bin_dir / "cargo", f"#!/bin/sh\n{exports}export RUSTC='{bin_dir / 'rustc'}'\nexec {_DEBIAN_CARGO} \"$@\"\n")
    # The build tools find llvm's tools under `rustc --print sysroot`; cargo's
    # own sysroot query (`--print=sysroot`, with more arguments) must still
    # see the real one, where rust-src lives.
    _write(
        bin_dir / "rustc",
        f"#!/bin/sh\n{exports}"
        f'if [ "$#" -eq 2 ] && [ "$1" = --print ] && [ "$2" = sysroot ]; then echo \'{sysroot}\'; exit 0; fi\n'
        f'exec {_DEBIAN_RUSTC} "$@"\n',
    )
    _write(bin_dir / "rustup", "#!/bin/sh\nexit 0\n")
    _link(bin_dir / "rust-lld", _LLVM / "lld")  # the linker of the hermit target
    _link(tools / "rust-lld", _LLVM / "lld")  # the kernel's build script links its SMP boot code with it
    for tool in _LLVM_TOOLS:
        if (_LLVM / tool).exists():
            _link(tools / tool, _LLVM / tool)
    # Crates downloaded once serve both this CARGO_HOME and the user's.
    user_registry = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "registry"
    user_registry.mkdir(parents=True, exist_ok=True)
    _link(home / "registry", user_registry)
    env = _clean_env()
    env.update(
        CARGO_HOME=str(home), RUSTC_BOOTSTRAP="1", RUSTC=str(bin_dir / "rustc"), PATH=f"{bin_dir}:{env.get('PATH', '')}"
    )
    return env


def _version(argv: list[str], env: dict | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    return done.stdout.strip() or "?"


def choose(home: Path) -> Toolchain:
    """The route to use here: rustup with a nightly that has rust-src, else
    Debian's toolchain (wrappers written under `home`), else a one-line
    explanation of both."""
    nightly = _rustup_nightly()
    if nightly is not None:
        env = _clean_env()
        return Toolchain(
            "rustup",
            [shutil.which("cargo") or "cargo", f"+{nightly}"],
            env,
            f"rustup {nightly} ({_version(['rustup', 'run', nightly, 'rustc', '--version'])})",
        )
    why = _debian_ready()
    if why is None:
        env = _debian_home(home)
        return Toolchain(
            "debian",
            [str(home / "bin" / "cargo")],
            env,
            f"Debian {_version([str(_DEBIAN_RUSTC), '--version'])} with RUSTC_BOOTSTRAP",
        )
    raise UserError(
        "no toolchain can build Hermit images here: no rustup nightly with rust-src (with internet: `rustup toolchain "
        f"install nightly --component rust-src`), and Debian's route is incomplete ({why}; `hab setup --target hermit` "
        f"installs {' '.join(DEBIAN_PACKAGES)})"
    )
