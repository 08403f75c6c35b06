"""The `hab` command line: parse, dispatch to one module per command, and
turn user errors into one line and exit status 2."""

import sys

from hab.cli.parser import parser
from hab.errors import UserError

#: Options whose empty value means something (`--resume` alone: the latest run).
_MAY_BE_EMPTY = {"resume"}


def _refuse_empty(args) -> None:
    """An empty option value is a mistake (`-a ''` would otherwise mean "all")."""
    for key, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if key not in _MAY_BE_EMPTY and any(isinstance(v, str) and not v.strip() for v in values):
            name = key.upper() if key in ("run", "runs", "suite", "path", "dir") else "--" + key.replace("_", "-")
            raise UserError(f"{name}: empty value")


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        _refuse_empty(args)
        if args.command == "run":
            from hab.cli import run as command
        elif args.command == "show":
            from hab.cli import show as command
        elif args.command == "compare":
            from hab.cli import compare as command
        elif args.command == "report":
            from hab.cli import report as command
        elif args.command in ("import", "export"):
            from hab.cli import interop

            return (interop.import_main if args.command == "import" else interop.export_main)(args)
        elif args.command == "list":
            from hab.cli import listing as command
        elif args.command == "setup":
            from hab.cli import setup as command
        elif args.command == "completion":
            from hab.cli import completion as command
        else:
            from hab.cli import build as command
        return command.main(args)
    except UserError as e:
        print(f"hab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("hab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
