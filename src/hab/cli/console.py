"""Where a command's words go: messages and progress to stderr, and the
width reports are laid out for. Light on purpose: `hab list` and `hab
--help` import it without the analysis stack."""

import shutil

from rich.console import Console


def stderr_console() -> Console:
    """Progress and messages go to stderr; stdout carries only results."""
    return Console(stderr=True, highlight=False)


#: Narrowest width reports are laid out for; below it lines wrap.
MIN_WIDTH = 60


def width() -> int:
    """Report width: the terminal's (or COLUMNS), 120 when unknown; tables
    leave out their optional columns to fit it."""
    return max(MIN_WIDTH, shutil.get_terminal_size((120, 24)).columns)
