"""`hab build`: build (or bring up to date) the engine binaries."""

from hab import build, lineup, paths, registry
from hab.commands.common import stderr_console
from hab.suite import split_list


def main(args) -> int:
    engine = paths.engine_dir()
    known = registry.load(engine)
    if args.allocators:
        wanted = registry.select(known, split_list(args.allocators, "--allocators"))
    else:
        wanted = [name for name, a in known.items() if not lineup.unavailable(a)]
    result = build.build(engine, wanted, stderr_console())
    for name, path in result.binaries.items():
        preloaded = result.preloads.get(name)
        print(f"{name:24} {path}" + (f" with LD_PRELOAD={preloaded}" if preloaded else ""))
    return 0
