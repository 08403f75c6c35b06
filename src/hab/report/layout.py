"""Tables as data ([`Grid`]) and the one style they are drawn in: for the
terminal a rule under the header, no outer frame, no padding at the edges
(so plain-text output stays narrow); the same grids become Markdown and HTML."""

import textwrap
from dataclasses import dataclass, field

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table


@dataclass
class Grid:
    """A table's text, whoever draws it: header, rows, which columns are
    left-aligned (names; the rest are figures), and a tag per row for
    colouring (a verdict, `failed`, or empty)."""

    columns: list[str]
    left: tuple[int, ...] = (0,)
    title: str | None = None
    rows: list[list[str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: Column indices in the order they are left out when the table is too
    #: wide for the terminal (the first goes first); the others always stay.
    optional: tuple[int, ...] = ()

    def add(self, *cells: str, tag: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))
        self.tags.append(tag)

    def drop(self, name: str) -> "Grid":
        """This grid without the column `name`."""
        return self.without([self.columns.index(name)])

    def without(self, dropped: list[int]) -> "Grid":
        """This grid without the columns at `dropped`."""
        keep = [i for i in range(len(self.columns)) if i not in dropped]
        new = {old: k for k, old in enumerate(keep)}
        return Grid(
            [self.columns[i] for i in keep],
            tuple(new[i] for i in self.left if i in new),
            self.title,
            [[r[i] for i in keep] for r in self.rows],
            self.tags,
            tuple(new[i] for i in self.optional if i in new),
        )

    def width(self) -> int:
        """Terminal cells the table takes in the terminal style (two spaces between columns)."""
        widths = [max(cell_len(c) for c in [name, *(r[i] for r in self.rows)]) for i, name in enumerate(self.columns)]
        return sum(widths) + 2 * (len(widths) - 1)

    def fit(self, width: int) -> tuple["Grid", list[str]]:
        """This grid with optional columns left out, in their order, until it
        is at most `width` cells wide; and the names of those left out."""
        dropped: list[int] = []
        grid = self
        for index in self.optional:
            if grid.width() <= width:
                break
            dropped.append(index)
            grid = self.without(dropped)
        return grid, [self.columns[i] for i in dropped]


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


def optional(columns: list[str], names: list[str]) -> tuple[int, ...]:
    """The indices of `names` among `columns`, in the order given: a grid's `optional`."""
    return tuple(columns.index(name) for name in names)


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


def wrap(line: str, width: int) -> str:
    """`line` wrapped at spaces to `width`, its continuation lines indented two
    more than its own indent; no word is broken."""
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    return textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def trimmed(text: str) -> str:
    """`text` without the spaces a wrapped line leaves at its end."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _md(text: str) -> str:
    return text.replace("|", "\\|") or " "


def markdown(grid: Grid) -> str:
    """`grid` as a GitHub-flavoured Markdown table (with its title in bold above)."""
    rule = ["---" if i in grid.left else "---:" for i in range(len(grid.columns))]
    lines = [f"**{_md(grid.title)}**", ""] if grid.title else []
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in (grid.columns, rule, *grid.rows)]
    return "\n".join(lines) + "\n"
