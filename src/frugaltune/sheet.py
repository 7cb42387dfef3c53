"""One table, four ways out: `--format table` (for people: fitted to the terminal), `csv`, `md` (Markdown) or `json`.

A `Sheet` holds rows under columns. Each column says where it shows: in the full set (`csv`, `md`, `json`, and tables
at least WIDE_COLUMNS wide), in the narrow set a table uses below that width, or in both. The narrow set is a few
combined columns (SkyPilot's `sky status` drops columns the same way) so that 80 columns read as a table, not cards;
no cell is ever cut (frugaltune.console wraps at spaces). Cells may carry console markup (`[red]no[/]`): files get
the plain text.
"""

from __future__ import annotations

import sys
from frugaltune.record import field, record

FORMATS = ("table", "csv", "md", "json")
WIDE_COLUMNS = 120  # below this many terminal columns, tables switch to their narrow column set


@record(frozen=True)
class Col:
    header: str
    justify: str = "left"
    show: str = "both"  # "both" | "wide" (full set only) | "narrow" (narrow tables only)
    key: str | None = None  # JSON key (default: the header)


@record
class Sheet:
    title: str
    columns: list[Col]
    rows: list[list[str]] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)
    caption: str | None = None

    def add(self, cells: list, style: str | None = None) -> None:
        """A row: one cell per column, in column order (None prints as '-')."""
        self.rows.append(["-" if c is None else str(c) for c in cells])
        self.styles.append(style)

    def full(self) -> tuple[list[Col], list[list[str]]]:
        """The full column set and the rows' cells in it, markup removed (what files get)."""
        keep = [i for i, c in enumerate(self.columns) if c.show != "narrow"]
        return [self.columns[i] for i in keep], [[_plain(r[i]) for i in keep] for r in self.rows]

    def table(self, width: int):
        """A frugaltune.console Table for `width` terminal columns (the narrow set below WIDE_COLUMNS)."""
        from frugaltune.console import Table

        drop = "wide" if width < WIDE_COLUMNS else "narrow"
        keep = [i for i, c in enumerate(self.columns) if c.show != drop]
        t = Table(title=self.title, caption=self.caption, title_justify="left", caption_justify="left")
        for i in keep:
            t.add_column(self.columns[i].header, justify=self.columns[i].justify)
        for cells, style in zip(self.rows, self.styles):
            t.add_row(*[cells[i] for i in keep], style=style)
        return t

    def to_json(self) -> list[dict]:
        cols, rows = self.full()
        return [{c.key or c.header: v for c, v in zip(cols, r)} for r in rows]


def emit(sheets: list[Sheet], fmt: str, notes: list[str] = (), file=None) -> None:
    """Print `sheets` in `fmt`; `notes` follow a table (files carry data only: notes go to stderr there)."""
    out = file or sys.stdout
    if fmt == "table":
        from frugaltune.console import Console

        console = Console(file=out)
        for sheet in sheets:
            console.print(sheet.table(console.width))
        for note in notes:
            console.print(note)
        return
    if fmt == "json":
        import json

        payload = {_slug(s.title, i): s.to_json() for i, s in enumerate(sheets)}
        print(json.dumps(payload, indent=2), file=out)
    else:
        for i, sheet in enumerate(sheets):
            print(("\n" if i else "") + (_csv(sheet) if fmt == "csv" else _markdown(sheet)), end="", file=out)
    out.flush()
    for note in notes:
        print(_plain(note), file=sys.stderr)


def _csv(sheet: Sheet) -> str:
    import csv
    import io

    cols, rows = sheet.full()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.header for c in cols])
    writer.writerows([[_number(cell) for cell in row] for row in rows])
    return buf.getvalue()


def _number(cell: str) -> str:
    """'$1,234.50' -> '1234.50', '4,984' -> '4984' (a spreadsheet reads them as numbers); other text as it is."""
    bare = cell.replace(",", "").replace("$", "", 1)
    try:
        float(bare)
    except ValueError:
        return cell
    return bare


def _markdown(sheet: Sheet) -> str:
    cols, rows = sheet.full()

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    rule = "|" + "|".join("---:" if c.justify == "right" else "---" for c in cols) + "|"
    head = [f"**{_plain(sheet.title)}**", ""] if sheet.title else []
    tail = ["", _plain(sheet.caption)] if sheet.caption else []
    return "\n".join(head + [line([c.header for c in cols]), rule] + [line(r) for r in rows] + tail) + "\n"


def _plain(text: str | None) -> str:
    from frugaltune.console import parse_markup

    return "" if text is None else parse_markup(text)[0]


def _slug(title: str, i: int) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in _plain(title).split("(")[0].lower()).split()
    return "_".join(words[:4]) or f"table_{i + 1}"
