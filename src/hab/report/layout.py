"""Tables as data ([`Grid`]) and the one style they are drawn in: for the
terminal a rule under the header, no outer frame, no padding at the edges
(so plain-text output stays narrow); the same grids become Markdown and HTML."""

from dataclasses import dataclass, field

from rich import box
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

    def add(self, *cells: str, tag: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))
        self.tags.append(tag)

    def drop(self, name: str) -> "Grid":
        """This grid without the column `name`."""
        k = self.columns.index(name)
        left = tuple(i - (i > k) for i in self.left if i != k)
        keep = [i for i in range(len(self.columns)) if i != k]
        return Grid(
            [self.columns[i] for i in keep], left, self.title, [[r[i] for i in keep] for r in self.rows], self.tags
        )


def plain_table(**options) -> Table:
    """A table in the report style; `options` go to rich's Table (title, ...)."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, **options)


def rich_table(grid: Grid) -> Table:
    """`grid` in the terminal style."""
    options = {"title": grid.title, "title_justify": "left"} if grid.title else {}
    table = plain_table(**options)
    for i, name in enumerate(grid.columns):
        table.add_column(name, no_wrap=True, justify="left" if i in grid.left else "right")
    for row in grid.rows:
        table.add_row(*row)
    return table


def _md(text: str) -> str:
    return text.replace("|", "\\|") or " "


def markdown(grid: Grid) -> str:
    """`grid` as a GitHub-flavoured Markdown table (with its title in bold above)."""
    rule = ["---" if i in grid.left else "---:" for i in range(len(grid.columns))]
    lines = [f"**{_md(grid.title)}**", ""] if grid.title else []
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in (grid.columns, rule, *grid.rows)]
    return "\n".join(lines) + "\n"
