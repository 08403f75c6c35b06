"""`hab build`: regenerate the per-allocator binaries from the registry and
build (or bring up to date) the engine binaries."""

from hab import paths
from hab.allocators import lineup, registry
from hab.build import engine
from hab.cli.common import stderr_console
from hab.suite.suite import split_list


def main(args) -> int:
    eng = paths.engine_dir()
    known = registry.load(eng)
    if args.allocators:
        wanted = registry.select(known, split_list(args.allocators, "--allocators"))
    else:
        wanted = [name for name, a in known.items() if not lineup.unavailable(a)]
    result = engine.build(eng, wanted, stderr_console(), regenerate=True)
    for name, path in result.binaries.items():
        preloaded = result.preloads.get(name)
        print(f"{name:24} {path}" + (f" with LD_PRELOAD={preloaded}" if preloaded else ""))
    return 0
