"""frugaltune.console: tables fit the width without cutting a cell or breaking a word, markup, colour only on
terminals."""

from __future__ import annotations

import io
import random

import pytest

from frugaltune.console import Console, Table, cell_width, parse_markup, wrap

WORDS = ["gpu_1x_a10", "on-demand", "$1,234.56", "A100-80GB", "lambda", "►", "⚡", "no", "Community", "Cloud",
         "pod", "(cheapest", "platform)", "2026-09-25", "x"]


def _render(table: Table, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width).print(table)
    return out.getvalue()


def _random_table(rng: random.Random) -> tuple[Table, list[str]]:
    columns = rng.randint(1, 9)
    t = Table(title="a title " * rng.randint(0, 12), caption=rng.choice([None, "caption words " * 5]))
    for i in range(columns):
        t.add_column(f"col {i}" + " long header" * rng.randint(0, 1), justify=rng.choice(["left", "right"]))
    words = []
    for _ in range(rng.randint(0, 6)):
        cells = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6))) for _ in range(columns)]
        words += [w for c in cells for w in c.split()]
        t.add_row(*cells, style=rng.choice([None, "bold green"]))
    return t, words


@pytest.mark.parametrize("seed", range(40))
def test_tables_fit_the_width_and_keep_every_word_whole(seed):
    rng = random.Random(seed)
    table, words = _random_table(rng)
    width = rng.choice([40, 60, 80, 100, 200])
    text = _render(table, width)
    assert max(cell_width(line) for line in text.splitlines()) <= width, text
    tokens = set(text.replace("│", " ").replace("┃", " ").split())
    assert set(words) <= tokens, set(words) - tokens  # no word cut, wrapped or truncated ("…")


def test_wide_tables_are_a_grid_and_narrow_ones_become_cards():
    t = Table(title="offers", title_justify="left")
    for c in ("GPU", "platform", "instance", "$ / h"):
        t.add_column(c, justify="right" if c.startswith("$") else "left")
    t.add_row("A10", "lambda", "gpu_1x_a10", "$0.75")
    grid = _render(t, 80).splitlines()
    assert grid[0] == "offers" and grid[1].startswith("┏") and "│ A10 │ lambda   │ gpu_1x_a10 │ $0.75 │" in grid
    cards = _render(t, 20).splitlines()
    assert "     GPU: A10" in cards and "instance: gpu_1x_a10" in cards and not any("│" in c for c in cards)


def test_headers_wrap_before_cells_do_not_fit():
    t = Table()
    t.add_column("a long header name")
    t.add_row("short")
    lines = _render(t, 12).splitlines()
    assert max(len(line) for line in lines) <= 12 and "┃ header   ┃" in lines and "│ short    │" in lines


def test_markup_is_parsed_and_unknown_brackets_stay_text():
    assert parse_markup("[red]no[/] and [bold green]yes[/]") == ("no and yes", [(0, 2, "red"), (7, 10, "bold green")])
    assert parse_markup("[default: 3] x[1]")[0] == "[default: 3] x[1]"
    assert parse_markup("[yellow]note (train):[/] text")[0] == "note (train): text"


def test_colour_only_on_a_terminal(monkeypatch):
    out = io.StringIO()
    Console(file=out, width=80).print("[red]no[/]")
    assert out.getvalue() == "no\n"
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    Console(file=out, width=80).print("[red]no[/]")
    assert out.getvalue() == "\x1b[31mno\x1b[0m\n"
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    Console(file=out, width=80).print("[red]no[/]")
    assert out.getvalue() == "no\n"


def test_width_from_columns_then_80(monkeypatch):
    monkeypatch.setenv("COLUMNS", "123")
    assert Console(file=io.StringIO()).width == 123
    monkeypatch.delenv("COLUMNS")
    assert Console(file=io.StringIO()).width == 80


def test_wrap_keeps_words_and_lines():
    text = "one two three\nfour  five"
    lines = [text[a:b] for a, b in wrap(text, 7)]
    assert lines == ["one two", "three", "four ", "five"] or lines == ["one two", "three", "four", " five"]
    long = "abcdefghij"
    assert [long[a:b] for a, b in wrap(long, 4)] == ["abcd", "efgh", "ij"]  # only a too-long word is cut
    assert cell_width("⚡x") == 3 and cell_width("►") == 1


def test_long_text_is_printed_wrapped_at_word_boundaries():
    out = io.StringIO()
    Console(file=out, width=20).print("[yellow]warning:[/] no storage price known for lambda")
    assert out.getvalue() == "warning: no storage\nprice known for\nlambda\n"


def test_fill_wraps_as_textwrap_does():
    # console.fill replaces textwrap.fill(break_long_words=False, break_on_hyphens=False) on the planners' output
    import random
    import textwrap

    from frugaltune.console import fill

    rng = random.Random(0)
    words = ["a", "LoRA", "needs", "12.5", "GB", "per-GPU;", "x" * 30, "", " ", "\t", "\n", "·", "$1,234.56",
             "--method", "qlora", "->", "tight", "budget"]
    for _ in range(2000):
        text = "".join(rng.choice(words) + rng.choice([" ", " ", "  ", "\n", ""]) for _ in range(rng.randint(0, 25)))
        width = rng.randint(8, 60)
        first, rest = rng.choice([("", ""), ("  · ", "    "), ("- ", "  ")])
        expected = textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                                 break_on_hyphens=False)
        assert fill(text, width, first, rest) == expected, (text, width, first, rest)
