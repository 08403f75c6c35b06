"""`hab setup`: installs the Debian packages the built-in preload allocators
need (tcmalloc, tbbmalloc, Debian's jemalloc and mimalloc) and Valgrind
(`--metric instructions`) and, with
`--target`, what the guest targets need (QEMU; for Hermit Debian's Rust
toolchain route), and with `--browser` Debian's Chromium (the HTML reports'
tests open them in it headless), with apt-get."""

from rich.markup import escape

from hab import debian, paths
from hab.allocators import preload, registry
from hab.build.guests import PACKAGES
from hab.build.hermit_toolchain import DEBIAN_MINIMUM
from hab.cli.console import stderr_console
from hab.errors import UserError
from hab.records.target import NATIVE
from hab.suite.suite import check_targets, split_list

#: The Debian package of the browser the HTML report tests use.
BROWSER = "chromium"
#: The Debian package `--metric instructions` counts with.
VALGRIND = "valgrind"


def main(args) -> int:
    console = stderr_console()
    known = registry.load(paths.engine_dir())
    targets = check_targets(split_list(args.target, "--target"), "--target") if args.target else ()
    wanted = preload.missing_packages(known) + debian.missing([VALGRIND])
    for target in targets:
        if target != NATIVE:
            wanted += [p for p in debian.missing(list(PACKAGES[target]), DEBIAN_MINIMUM) if p not in wanted]
    if args.browser:
        wanted += debian.missing([BROWSER])
    if not wanted:
        console.print("everything is installed; nothing to do")
        return 0
    debian.install(wanted, console)
    preload.forget_cache()
    still = preload.missing_packages(known)
    if still:
        raise UserError(f"installed, but the shared objects of {', '.join(still)} are still not found")
    console.print(f"installed {escape(', '.join(wanted))}")
    return 0
