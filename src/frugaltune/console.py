"""Tables and styled text for the terminal: the part of rich's `Console`/`Table` API frugaltune uses, in one module.

Why not rich here: importing rich's console and table costs ~50 ms and laying out a table of a few dozen rows ~40 ms
more, most of a planner command's start-up budget (10x a bare interpreter, bench/cli_startup.py). Training progress
bars still use rich (training imports torch anyway).

Tables fit the console width without cutting a cell or breaking a word: columns shrink to their longest word and
wrap at spaces; when even that does not fit, each row is printed as a card ("header: value" lines). Markup is rich's
subset `[bold]`, `[red]`, `[bold green]`, ... `[/]`; styles are ANSI codes on a terminal and dropped elsewhere
(pipes, files, NO_COLOR).
"""

from __future__ import annotations

import os
import sys

STYLES = {"bold": "1", "dim": "2", "italic": "3", "underline": "4", "red": "31", "green": "32", "yellow": "33",
          "blue": "34", "magenta": "35", "cyan": "36"}
HEAVY_HEAD = ("┏━┳┓", "┃┃┃", "┡━╇┩", "│││", "└─┴┘")  # rich's default box: top, header, header rule, rows, bottom
LIGHT_TOP = "┌─┬┐"


def cell_width(text: str) -> int:
    """Terminal columns `text` takes: wide (East Asian, most emoji) characters count 2."""
    if text.isascii():
        return len(text)
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(c) in "WF" else 1 for c in text)


def parse_markup(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """(plain text, [(start, end, style)]) of rich-style markup; brackets that are not a known style stay text."""
    plain, spans, open_tags = [], [], []
    pos = i = 0
    while True:
        j = text.find("[", i)
        k = text.find("]", j + 1) if j >= 0 else -1
        if j < 0 or k < 0:
            plain.append(text[i:])
            break
        tag = text[j + 1:k]
        closing = tag.startswith("/")
        if not closing and not (tag and all(word in STYLES for word in tag.split())):
            plain.append(text[i:j + 1])
            pos += j + 1 - i
            i = j + 1
            continue
        plain.append(text[i:j])
        pos += j - i
        if closing and open_tags:
            start, style = open_tags.pop()
            spans.append((start, pos, style))
        elif not closing:
            open_tags.append((pos, tag))
        i = k + 1
    out = "".join(plain)
    spans += [(start, len(out), style) for start, style in open_tags]
    return out, spans


def wrap(text: str, width: int) -> list[tuple[int, int]]:
    """Line slices (start, end) of `text` wrapped at spaces to `width` columns; newlines are kept. A word wider than
    the width is cut (tables avoid that by never making a column narrower than its longest word)."""
    lines, offset = [], 0
    for para in text.split("\n"):
        start = end = None
        i = offset
        for word in para.split(" "):
            s, e = i, i + len(word)
            i = e + 1
            if start is None:
                start, end = s, e
            elif cell_width(text[start:e]) <= width:
                end = e
            else:
                lines.append((start, end))
                start, end = s, e
            while end - start > max(width, 1) and cell_width(text[start:end]) > width:
                lines.append((start, start + max(width, 1)))
                start += max(width, 1)
        lines.append((start, end))
        offset += len(para) + 1
    return lines


def fill(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """`textwrap.fill(text, width, initial_indent=..., subsequent_indent=..., break_long_words=False,
    break_on_hyphens=False)`, line for line, without importing textwrap (it imports re and enum: ~4 ms of a
    command's start-up). Whitespace becomes spaces, lines break between words only, a word wider than the line
    keeps a line of its own, and spaces at the ends of lines are dropped."""
    text = text.expandtabs()
    for ch in "\t\n\x0b\x0c\r":
        text = text.replace(ch, " ")
    chunks = [c for c in _space_runs(text) if c]
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        indent = subsequent_indent if lines else initial_indent
        room = width - len(indent)
        if lines and not chunks[-1].strip():
            del chunks[-1]
        line, used = [], 0
        while chunks and used + len(chunks[-1]) <= room:
            used += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and len(chunks[-1]) > room and not line:
            line.append(chunks.pop())  # a word wider than the line: not broken
        if line and not line[-1].strip():
            del line[-1]
        if line:
            lines.append(indent + "".join(line))
    return "\n".join(lines)


def _space_runs(text: str) -> list[str]:
    """`text` cut into alternating runs of spaces and of other characters (textwrap's chunks)."""
    out, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or (text[i] == " ") != (text[start] == " "):
            out.append(text[start:i])
            start = i
    return out


class Text:
    """A styled string: plain text plus style spans (and a style for all of it)."""

    def __init__(self, markup: str, style: str | None = None):
        self.plain, self.spans = parse_markup(str(markup))
        self.style = style

    def width(self) -> int:
        return max((cell_width(line) for line in self.plain.split("\n")), default=0)

    def min_width(self) -> int:
        return max((cell_width(word) for word in self.plain.replace("\n", " ").split(" ")), default=0)

    def render(self, start: int, end: int, color: bool) -> str:
        """The slice [start, end) with ANSI codes for its styles (none without color)."""
        piece = self.plain[start:end]
        if not color or not (self.style or self.spans):
            return piece
        cuts = sorted({start, end, *(p for s, e, _ in self.spans for p in (s, e) if start < p < end)})
        out = []
        for a, b in zip(cuts, cuts[1:]):
            styles = ([self.style] if self.style else []) + [st for s, e, st in self.spans if s <= a and b <= e]
            codes = ";".join(STYLES[w] for st in styles for w in st.split() if w in STYLES)
            out.append(f"\x1b[{codes}m{self.plain[a:b]}\x1b[0m" if codes else self.plain[a:b])
        return "".join(out)


class Column:
    def __init__(self, header: str, justify: str = "left", style: str | None = None):
        self.header, self.justify, self.style = header, justify, style


class Table:
    """Rows of cells under headers; `Console.print(table)` lays it out to the console's width."""

    def __init__(self, title: str | None = None, caption: str | None = None, show_header: bool = True,
                 title_justify: str = "center", caption_justify: str = "left", **_ignored):
        self.title, self.caption, self.show_header = title, caption, show_header
        self.title_justify, self.caption_justify = title_justify, caption_justify
        self.columns: list[Column] = []
        self.rows: list[tuple[list[str], str | None]] = []

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def add_column(self, header: str = "", justify: str = "left", style: str | None = None, **_ignored) -> None:
        self.columns.append(Column(header, justify, style))

    def add_row(self, *cells, style: str | None = None) -> None:
        self.rows.append(([("" if c is None else str(c)) for c in cells], style))

    def render(self, width: int, color: bool) -> list[str]:
        """The table's lines, at most `width` columns wide: a boxed grid, or cards when the columns cannot fit."""
        n = len(self.columns)
        header = [Text(c.header, "bold") for c in self.columns]
        body = [[Text(cell, style or col.style) for cell, col in zip(cells + [""] * (n - len(cells)), self.columns)]
                for cells, style in self.rows]
        widths = _column_widths(header if self.show_header else [], body, n, width - (3 * n + 1))
        if widths is None:
            return _cards(self, header, body, width, color)
        grid = sum(widths) + 3 * n + 1  # a left-aligned title or caption may run past a narrow grid, up to `width`
        lines = _framed(self.title, self.title_justify, width if self.title_justify == "left" else grid, color,
                        "italic")
        top = HEAVY_HEAD[0] if self.show_header else LIGHT_TOP
        lines.append(_rule(top, widths))
        if self.show_header:
            lines += _row_lines(header, widths, [c.justify for c in self.columns], HEAVY_HEAD[1], color)
            lines.append(_rule(HEAVY_HEAD[2], widths))
        for cells in body:
            lines += _row_lines(cells, widths, [c.justify for c in self.columns], HEAVY_HEAD[3], color)
        lines.append(_rule(HEAVY_HEAD[4], widths))
        return lines + _framed(self.caption, self.caption_justify, width if self.caption_justify == "left" else grid,
                               color, "dim")


class Console:
    """print() for strings with markup and for Tables; width from $COLUMNS, the terminal, or 80."""

    def __init__(self, file=None, width: int | None = None, stderr: bool = False, **_ignored):
        self._file = file if file is not None else (sys.stderr if stderr else None)
        self._width = width

    @property
    def file(self):
        return self._file if self._file is not None else sys.stdout

    @property
    def width(self) -> int:
        if self._width:
            return self._width
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(self.file.fileno()).columns if self.file.isatty() else 80
        except (AttributeError, OSError, ValueError):
            return 80

    @property
    def color(self) -> bool:
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return False
        if os.environ.get("FORCE_COLOR"):
            return True
        isatty = getattr(self.file, "isatty", None)
        return bool(isatty and isatty())

    def print(self, *objects, style: str | None = None, end: str = "\n", highlight: bool = False,
              **_ignored) -> None:
        width, color, lines = self.width, self.color, []
        texts = []
        for obj in objects:
            if isinstance(obj, Table):
                lines += obj.render(width, color)
            else:
                texts.append(str(obj))
        if texts:
            text = Text(" ".join(texts), style)
            lines += [text.render(a, b, color) for a, b in wrap(text.plain, width)]
        self.file.write("\n".join(lines) + end)


def _column_widths(header: list[Text], body: list[list[Text]], n: int, avail: int) -> list[int] | None:
    """Natural widths when they fit `avail`; else the widest columns give way first (every column is capped at one
    width C, never below its longest word, with C as large as fits); None when even the longest words do not fit."""
    columns = [[row[i] for row in body] + header[i:i + 1] for i in range(n)]
    natural = [max((t.width() for t in col), default=0) for col in columns]
    if sum(natural) <= avail:
        return natural
    minimum = [max((t.min_width() for t in col), default=0) for col in columns]
    if sum(minimum) > avail:
        return None

    def capped(cap: int) -> list[int]:
        return [min(nat, max(cap, mn)) for nat, mn in zip(natural, minimum)]

    lo, hi = 0, max(natural)  # the largest cap whose widths fit: sum(capped(cap)) grows with cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sum(capped(mid)) <= avail else (lo, mid - 1)
    widths = capped(lo)
    for i in sorted(range(n), key=lambda i: -natural[i]):  # hand the last few columns to the widest that want them
        if sum(widths) < avail and widths[i] < natural[i]:
            widths[i] += 1
    return widths


def _rule(box: str, widths: list[int]) -> str:
    return box[0] + box[2].join(box[1] * (w + 2) for w in widths) + box[3]


def _pad(text: str, visible: int, width: int, justify: str) -> str:
    gap = max(width - visible, 0)
    if justify == "right":
        return " " * gap + text
    if justify == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def _row_lines(cells: list[Text], widths: list[int], justify: list[str], box: str, color: bool) -> list[str]:
    wrapped = [wrap(cell.plain, w) for cell, w in zip(cells, widths)]
    lines = []
    for k in range(max((len(w) for w in wrapped), default=1)):
        parts = []
        for cell, slices, w, just in zip(cells, wrapped, widths, justify):
            a, b = slices[k] if k < len(slices) else (0, 0)
            parts.append(_pad(cell.render(a, b, color), cell_width(cell.plain[a:b]), w, just))
        lines.append(f"{box[0]} " + f" {box[1]} ".join(parts) + f" {box[2]}")
    return lines


def _framed(text: str | None, justify: str, width: int, color: bool, style: str) -> list[str]:
    """A title or caption wrapped to the table's width."""
    if not text:
        return []
    t = Text(text, style)
    return [_pad(t.render(a, b, color), cell_width(t.plain[a:b]), width, justify).rstrip() for a, b in
            wrap(t.plain, width)]


def _cards(table: Table, header: list[Text], body: list[list[Text]], width: int, color: bool) -> list[str]:
    """Each row as 'header: value' lines (values wrapped under themselves), rows apart by a blank line."""
    label_width = min(max((h.width() for h in header), default=0), width // 2)
    indent = " " * (label_width + 2)
    lines = _framed(table.title, "left", width, color, "italic")
    for cells in body:
        lines.append("")
        for head, cell in zip(header, cells):
            label = head.plain.rjust(label_width) + (": " if head.plain else "  ")
            if head.width() > label_width:  # a long header gets a line of its own
                lines.append(head.plain + ":")
                label = indent
            for k, (a, b) in enumerate(wrap(cell.plain, max(width - label_width - 2, 10))):
                lines.append(((label if k == 0 else indent) + cell.render(a, b, color)).rstrip())
    return lines + [""] + _framed(table.caption, "left", width, color, "dim")
