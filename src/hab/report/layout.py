"""The one table style every report uses: a rule under the header, no
outer frame, no padding at the edges (so plain-text output stays narrow)."""

from rich import box
from rich.table import Table


def plain_table(**options) -> Table:
    """A table in the report style; `options` go to rich's Table (title, ...)."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, **options)
