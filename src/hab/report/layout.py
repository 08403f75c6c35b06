"""The terminal style reports are drawn in: a rule under the header, no
outer frame, no padding at the edges (so plain text stays narrow), rows
coloured by tag when colour is on; tables fitted to the width."""

from rich import box
from rich.console import Console
from rich.table import Table

from hab.report.grid import Grid, wrap

#: Row styles by tag, when colour is on.
TAG_STYLES = {"failed": "red", "regressed": "bold red", "improved": "green", "inconclusive": "yellow", "dry": "dim"}


def report_console(file, width: int, colour: bool) -> Console:
    """The console reports are rendered into: `width` columns, colour only when asked."""
    return Console(
        file=file,
        width=width,
        color_system="standard" if colour else None,
        force_terminal=colour,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def say(console: Console, line: str) -> None:
    """Prints a line of text wrapped to the console (warnings in colour when it has colour)."""
    stripped = line.lstrip()
    alarm = "WARNING" in line or stripped.startswith("!")
    style = "bold red" if alarm else "yellow" if stripped.startswith("~") else None
    console.print(wrap(line, console.width), markup=False, style=style)


def plain_table(**options) -> Table:
    """A table in the report style; `options` go to rich's Table (title, ...)."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, **options)


def rich_table(grid: Grid, styled: bool = False) -> Table:
    """`grid` in the terminal style (`styled`: rows coloured by their tags)."""
    options = {"title": grid.title, "title_justify": "left"} if grid.title else {}
    table = plain_table(**options)
    for i, name in enumerate(grid.columns):
        table.add_column(name, no_wrap=True, justify="left" if i in grid.left else "right")
    for row, tag in zip(grid.rows, grid.tags, strict=True):
        table.add_row(*row, style=TAG_STYLES.get(tag) if styled else None)
    return table


def drops_for(grids: list[Grid], width: int) -> set[str]:
    """The columns the widest of `grids` (one table's instances for every
    cell) must leave out at `width`: leaving them out of all keeps the
    tables of a report alike."""
    return {name for grid in grids for name in grid.fit(width)[1]}


def print_fitted(console, grid: Grid, left_out: set[str], drops: set[str] = frozenset()) -> None:
    """Prints `grid` without the optional columns in `drops` and fitted to
    the console's width; adds what it left out to `left_out`."""
    dropped = [i for i in grid.optional if grid.columns[i] in drops]
    fitted, more = grid.without(dropped).fit(console.width)
    left_out.update([grid.columns[i] for i in dropped] + more)
    console.print(rich_table(fitted, styled=console.color_system is not None))


def left_out_line(left_out: set[str], width: int) -> list[str]:
    """The line saying which columns a narrow terminal hid."""
    if not left_out:
        return []
    names = ", ".join(sorted(left_out))
    return [f"at {width} columns these columns are left out: {names} (a wider terminal, --json or hab report has them)"]
