"""Where the thumbnail grid's cells lie: rows of `columns` cells, `cell_height`
lines each, and, when the images come in sections (a listing grouped by a
property), each section starting on a new row under a one-line header.

Pure arithmetic over a few arrays (one entry per section, found by bisection),
so a million images in a thousand sections lay out at once and every lookup
the grid makes per line or per key is O(log sections).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Header:
    """A section's header line."""

    label: str
    size: int


@dataclass(frozen=True)
class CellLine:
    """Line `sub` of the cells `first` to `last` (exclusive) of one row."""

    first: int
    last: int
    sub: int


class GridLayout:
    def __init__(self, count: int, columns: int, cell_height: int,
                 sections: Sequence[tuple[str, int]] | None = None) -> None:  # fmt: skip
        self.count = count
        self.columns = max(1, columns)
        self.cell_height = cell_height
        self.header_lines = 1 if sections is not None else 0
        if sections is None:
            sections = [("", count)]
        if sum(size for _, size in sections) != count:
            raise ValueError("the sections' sizes do not add up to the images shown")
        self.labels = [label for label, _ in sections]
        self.sizes = [size for _, size in sections]
        self.first_index: list[int] = []  # of each section
        self.first_row: list[int] = []  # its first row among all rows
        self.first_line: list[int] = []  # its header's line (or first row's, without headers)
        index = row = line = 0
        for size in self.sizes:
            rows = -(-size // self.columns)
            self.first_index.append(index)
            self.first_row.append(row)
            self.first_line.append(line)
            index, row = index + size, row + rows
            line += self.header_lines + rows * cell_height
        self.rows = row
        self.height = line

    # -- where things are ----------------------------------------------------------

    def _section_of_index(self, index: int) -> int:
        return bisect_right(self.first_index, index) - 1 if self.sizes else 0

    def position(self, index: int) -> tuple[int, int]:
        """(row among all rows, column) of an image's cell."""
        section = self._section_of_index(index)
        row, col = divmod(index - self.first_index[section], self.columns)
        return self.first_row[section] + row, col

    def row_top(self, row: int) -> int:
        """The first line of a row."""
        section = bisect_right(self.first_row, row) - 1
        return (self.first_line[section] + self.header_lines
                + (row - self.first_row[section]) * self.cell_height)  # fmt: skip

    def row_span(self, row: int) -> range:
        """The indices of a row's cells."""
        if not 0 <= row < self.rows:
            return range(0)
        section = self._section_of_row(row)
        first = self.first_index[section] + (row - self.first_row[section]) * self.columns
        end = self.first_index[section] + self.sizes[section]
        return range(first, min(first + self.columns, end))

    def _section_of_row(self, row: int) -> int:
        # sections without images have no rows: take the last section starting at or before
        return bisect_right(self.first_row, row) - 1

    def cell_top(self, index: int) -> tuple[int, int]:
        """(column, first line) of an image's cell."""
        row, col = self.position(index)
        return col, self.row_top(row)

    def line(self, y: int) -> Header | CellLine | None:
        """What line `y` shows: a section's header, a line of a row of cells, or nothing."""
        if not 0 <= y < self.height:
            return None
        section = bisect_right(self.first_line, y) - 1
        offset = y - self.first_line[section] - self.header_lines
        if offset < 0:
            return Header(self.labels[section], self.sizes[section])
        row, sub = divmod(offset, self.cell_height)
        span = self.row_span(self.first_row[section] + row)
        return CellLine(span.start, span.stop, sub) if span else None

    def rows_between(self, top: int, bottom: int) -> range:
        """The rows with a line in [top, bottom)."""
        if self.rows == 0 or bottom <= top:
            return range(0)
        return range(self._row_at_or_after(top, upward=True),
                     self._row_at_or_after(bottom - 1, upward=False) + 1)  # fmt: skip

    def _row_at_or_after(self, y: int, upward: bool) -> int:
        y = max(0, min(y, self.height - 1))
        section = bisect_right(self.first_line, y) - 1
        offset = y - self.first_line[section] - self.header_lines
        rows_here = -(-self.sizes[section] // self.columns)
        if offset < 0:  # on a header: its section's first row, or the previous section's last
            row = self.first_row[section] if upward else self.first_row[section] - 1
        else:
            row = self.first_row[section] + min(offset // self.cell_height, max(rows_here - 1, 0))
        return max(0, min(row, self.rows - 1))

    def index_at(self, col: int, y: int) -> int | None:
        """The image whose cell holds column `col` (in cells) of line `y`."""
        found = self.line(y)
        if not isinstance(found, CellLine) or not 0 <= col < found.last - found.first:
            return None
        return found.first + col

    # -- moving --------------------------------------------------------------------

    def moved(self, index: int, rows: int) -> int:
        """The index `rows` rows below (above, when negative) in the same column, or
        the row's last cell when that row is shorter; stays inside the images."""
        row, col = self.position(index)
        target = max(0, min(row + rows, self.rows - 1))
        span = self.row_span(target)
        return min(span.start + col, span.stop - 1) if span else index
