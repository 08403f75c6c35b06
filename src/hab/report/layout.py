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


def print_fitted(console, grid: Grid, left_out: set[str], alike: list[Grid] = ()) -> None:
    """Prints `grid` fitted to the console's width, adding what it left out to
    `left_out`. Grids `alike` (the same table for other cells) are fitted
    together: each leaves out what the widest of them must, so that the
    tables of a report keep the same columns."""
    needed = {name for other in alike for name in other.fit(console.width)[1]}
    dropped = [i for i in grid.optional if grid.columns[i] in needed]
    fitted, more = grid.without(dropped).fit(console.width)
    left_out.update([grid.columns[i] for i in dropped] + more)
    console.print(rich_table(fitted, styled=console.color_system is not None))


def left_out_line(left_out: set[str], width: int) -> list[str]:
    """The line saying which columns a narrow terminal hid."""
    if not left_out:
        return []
    names = ", ".join(sorted(left_out))
    return [f"at {width} columns these columns are left out: {names} (a wider terminal, --json or hab report has them)"]
