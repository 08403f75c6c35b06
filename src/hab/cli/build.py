"""`hab build`: regenerate the per-allocator binaries from the registry and
build (or bring up to date) the engine binaries, and with `--target` the
guest images."""

from rich.markup import escape

from hab import paths
from hab.allocators import lineup, registry
from hab.build import engine
from hab.cli.console import stderr_console
from hab.errors import UserError
from hab.records.target import KERNEL_TARGETS, NATIVE
from hab.suite.suite import check_targets, guest_settings, split_list


def main(args) -> int:
    eng = paths.engine_dir()
    known = registry.load(eng)
    if args.allocators:
        wanted = registry.select(known, split_list(args.allocators, "--allocators"))
    else:
        wanted = [name for name, a in known.items() if not lineup.unavailable(a)]
    targets = check_targets(split_list(args.target, "--target"), "--target") if args.target else (NATIVE,)
    per_target, notes = lineup.by_target(known, wanted, targets)
    console = stderr_console()
    for note in notes:
        console.print(f"[dim]{escape(note)}[/]")
    native = per_target.pop(NATIVE, [registry.SYSTEM])
    kernels = guest_settings(hermit_kernels=args.hermit_kernel).hermit_kernels
    if kernels and not set(targets) & set(KERNEL_TARGETS):
        raise UserError("--hermit-kernel: no hermit (or uhyve) target to build (--target hermit)")
    result = engine.build(eng, native, console, regenerate=True, guests=per_target, kernels=kernels)
    for name, path in result.binaries.items():
        preloaded = result.preloads.get(name)
        print(f"{name:24} {path}" + (f" with LD_PRELOAD={preloaded}" if preloaded else ""))
    for target, made in result.guests.items():
        for name, image in made.images.items():
            parts = " + ".join(str(p) for p in (image.kernel, image.initrd) if p is not None)
            print(f"{target + '/' + name:24} {parts}")
        for name, why in made.missing.items():
            print(f"{target + '/' + name:24} not built: {why}")
    return 1 if any(made.missing for made in result.guests.values()) else 0
