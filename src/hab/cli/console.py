"""Where a command's words go: messages and progress to stderr, and the
width reports are laid out for. Light on purpose: `hab list` and `hab
--help` import it without the analysis stack."""

import os
import shutil
import sys


def stderr_console():
    """Progress and messages go to stderr; stdout carries only results."""
    from rich.console import Console  # imported when needed: `hab list` never is

    return Console(stderr=True, highlight=False)


#: Narrowest width reports are laid out for; below it lines wrap.
MIN_WIDTH = 60


def width() -> int:
    """Report width: the terminal's (or COLUMNS), 120 when unknown; tables
    leave out their optional columns to fit it."""
    return max(MIN_WIDTH, shutil.get_terminal_size((120, 24)).columns)


def colour(choice: str | None) -> bool:
    """Whether results on stdout get colours: `--color always|never`, else
    (auto) when stdout is a terminal and NO_COLOR is unset or empty."""
    if choice in ("always", "never"):
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
