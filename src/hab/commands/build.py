"""`hab build`: build (or bring up to date) the engine binaries."""

from hab import build, paths, registry
from hab.commands.common import stderr_console
from hab.suite import split_list


def main(args) -> int:
    engine = paths.engine_dir()
    known = registry.load(engine)
    wanted = registry.select(known, split_list(args.allocators, "--allocators")) if args.allocators else list(known)
    result = build.build(engine, wanted, stderr_console())
    for name, path in result.binaries.items():
        print(f"{name:24} {path}")
    return 0
