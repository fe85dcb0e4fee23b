"""Tables as retrievable units: one passage per row, spelled out with its header.

A customer asks "how much is delivery to Portugal": the answer is one row of a fee table,
but flattened ("Country Parcel delivery … Portugal €11.50 €120 €149 …") a table is a block of
numbers that neither keywords nor embeddings can tie to the question. Each row becomes
"Caption: Country: Portugal; Parcel delivery: €11.50; Boxed bike delivery: €149; …".

Word, HTML and Markdown tables come from unstructured as `Table` elements with an HTML
rendering. A PDF (fast strategy) has no table structure: pdfminer returns one element per
cell, so cells are put back into rows by their position on the page (same line band, left to
right), and a run of such rows is a table whose first row is the header.
"""

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any


class _RowsParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag in ("td", "th"):  # <th/>: an empty cell
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append("")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_rows(html: str) -> list[list[str]]:
    parser = _RowsParser()
    parser.feed(html)
    return [row for row in parser.rows if any(cell for cell in row)]


def row_passages(rows: list[list[str]], caption: str | None) -> list[str]:
    """One passage per data row: "caption: header: cell; header: cell; …".

    A row whose header cell is empty (a Markdown plans table's corner) leads with its first
    cell, which then names the row ("Monthly price: Basic: DKK 69; Plus: …")."""
    if len(rows) < 2:
        return [" ".join(" | ".join(r) for r in rows)] if rows else []
    header, body = rows[0], rows[1:]
    passages = []
    for row in body:
        parts = []
        for i, cell in enumerate(row):
            if not cell:
                continue
            name = header[i] if i < len(header) else ""
            parts.append(f"{name}: {cell}" if name and name != cell else cell)
        if parts:
            lead = f"{caption}: " if caption else ""
            passages.append(lead + "; ".join(parts))
    return passages


# --- PDF: cells back into rows -----------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float


def box(element: Any) -> Box | None:
    coordinates = getattr(element.metadata, "coordinates", None)
    if coordinates is None or not coordinates.points:
        return None
    xs = [p[0] for p in coordinates.points]
    ys = [p[1] for p in coordinates.points]
    return Box(min(xs), min(ys), max(xs), max(ys))


def _same_line(a: Box, b: Box) -> bool:
    """b starts on a's line band (vertical overlap) and to its right."""
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.y1 - a.y0, b.y1 - b.y0) and b.x0 >= a.x1 - 2


def pdf_lines(elements: list[Any]) -> list[list[Any]]:
    """Consecutive elements of one page grouped into lines (left to right)."""
    lines: list[list[Any]] = []
    last: Box | None = None
    for element in elements:
        b = box(element)
        if lines and last is not None and b is not None and _same_line(last, b):
            lines[-1].append(element)
        else:
            lines.append([element])
        last = b if b is not None else None
    return lines


def column_of(columns: list[float], x0: float) -> int:
    """The header column a cell starting at x0 belongs to (the last one starting before it)."""
    index = 0
    for i, start in enumerate(columns):
        if start <= x0 + 5:
            index = i
    return index
