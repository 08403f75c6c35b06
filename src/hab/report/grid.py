"""Tables as data ([`Grid`]) and as plain text: what every report draws,
without the terminal library (quick listings import only this). The
terminal style lives in `layout`, Markdown here, HTML in `html`."""

import textwrap
from dataclasses import dataclass, field

from rich.cells import cell_len


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


def optional(columns: list[str], names: list[str]) -> tuple[int, ...]:
    """The indices of `names` among `columns`, in the order given: a grid's `optional`."""
    return tuple(columns.index(name) for name in names)


def wrap(line: str, width: int) -> str:
    """`line` wrapped at spaces to `width`, its continuation lines indented two
    more than its own indent; no word is broken."""
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    return textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def trimmed(text: str) -> str:
    """`text` without the spaces a wrapped line leaves at its end."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _water_fill(natural: list[int], floors: list[int], room: int) -> list[int]:
    """Widths for columns that wrap: each its natural width if all fit in
    `room`, else equal shares (never below its floor), with what narrow
    columns leave going to the wide."""
    widths = [0] * len(natural)
    open_ = sorted(range(len(natural)), key=lambda i: natural[i])
    while open_:
        share = room // len(open_)
        i = open_.pop(0)
        widths[i] = max(floors[i], min(natural[i], share))
        room -= widths[i]
    return widths


def _records(grid: Grid, width: int) -> str:
    """`grid` as one block per row, for a width its columns cannot share."""
    lines = [grid.title] if grid.title else []
    for row in grid.rows:
        lines.append(row[0])
        lines += [wrap(f"  {name}: {value}", width) for name, value in zip(grid.columns[1:], row[1:], strict=True)]
    return "\n".join(lines) + "\n"


def text_table(grid: Grid, width: int, wrapped: tuple[int, ...] = ()) -> str:
    """`grid` as plain text without rich's layout engine (for quick listings):
    columns at their natural width, except the `wrapped` ones, which share
    what is left of `width` and wrap between words; one block per row when
    even so the columns do not fit (no word is ever broken)."""
    n = len(grid.columns)
    texts = [[name, *(r[i] for r in grid.rows)] for i, name in enumerate(grid.columns)]
    natural = [max(cell_len(c) for c in column) for column in texts]
    floors = [max(cell_len(w) for c in column for w in c.split() or [""]) for column in texts]
    fixed = sum(w for i, w in enumerate(natural) if i not in wrapped) + 2 * (n - 1)
    fill = _water_fill([natural[i] for i in wrapped], [floors[i] for i in wrapped], width - fixed)
    widths = [dict(zip(wrapped, fill, strict=True)).get(i, natural[i]) for i in range(n)]
    if sum(widths) + 2 * (n - 1) > width:
        return _records(grid, width)

    def cell(i: int, text: str) -> str:
        return text.ljust(widths[i]) if i in grid.left or i in wrapped else text.rjust(widths[i])

    def lines_of(cells: list[str]) -> list[str]:
        parts = [
            textwrap.wrap(c, widths[i], break_long_words=False, break_on_hyphens=False) or [""] if i in wrapped else [c]
            for i, c in enumerate(cells)
        ]
        height = max(len(p) for p in parts)
        rows = [[p[k] if k < len(p) else "" for p in parts] for k in range(height)]
        return ["  ".join(cell(i, c) for i, c in enumerate(row)).rstrip() for row in rows]

    lines = [grid.title] if grid.title else []
    lines += lines_of(grid.columns) + ["─" * (sum(widths) + 2 * (n - 1))]
    for row in grid.rows:
        lines += lines_of(row)
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|") or " "


def markdown(grid: Grid) -> str:
    """`grid` as a GitHub-flavoured Markdown table (with its title in bold above)."""
    rule = ["---" if i in grid.left else "---:" for i in range(len(grid.columns))]
    lines = [f"**{_md(grid.title)}**", ""] if grid.title else []
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in (grid.columns, rule, *grid.rows)]
    return "\n".join(lines) + "\n"
