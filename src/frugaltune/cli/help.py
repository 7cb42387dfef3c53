"""Help text generated from the command registry and the option tables (imported only for --help)."""

from __future__ import annotations

import shutil
import textwrap

METAVARS = {int: "N", float: "X", str: "TEXT"}
LEFT_MAX = 30  # option spellings longer than this put their help on the next line


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def _fill(text: str, width: int, indent: str = "") -> str:
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


def _paragraphs(doc: str, width: int) -> list[str]:
    """Re-flow prose paragraphs to `width`; keep paragraphs with indented lines (lists, examples) as written."""
    first, _, rest = doc.strip().partition("\n")
    out = []
    for block in (first + "\n" + textwrap.dedent(rest)).strip().split("\n\n"):
        lines = [ln for ln in block.split("\n") if ln.strip() != "\b"]
        if any(ln.startswith(" ") for ln in lines[1:]) or any(ln.rstrip().endswith(":") for ln in lines[:1]):
            out.append("\n".join(lines))
        else:
            out.append(_fill(" ".join(" ".join(lines).split()), width))
    return out


def _spelling(o) -> str:
    if o.positional:
        return o.metavar
    names = ", ".join(o.spellings)
    if o.type is bool:
        return f"{names} / --no-{o.flag[2:]}" if o.negatable else names
    return f"{names} {o.metavar or METAVARS.get(o.type, 'VALUE')}"


def _option_help(o) -> str:
    text = o.help
    if o.choices:
        text += f" One of: {', '.join(o.choices)}."
    if o.multiple and "repeat" not in text.lower():
        text += " Repeatable."
    if o.required and not o.positional:
        text += " [required]"
    elif o.type is bool and o.default is None and o.negatable:
        text += " [default: neither]"
    elif o.type is bool and o.negatable:
        text += f" [default: {o.flag if o.default else '--no-' + o.flag[2:]}]"
    elif o.default is not None and o.type is not bool:
        text += f" [default: {o.default:g}]" if isinstance(o.default, float) else f" [default: {o.default}]"
    return text


def _rows(rows: list[tuple[str, str]], width: int) -> list[str]:
    """Two columns: the name, then its wrapped help (on the next line when the name is long)."""
    left = min(max((len(name) for name, _ in rows), default=0), LEFT_MAX) + 4
    lines = []
    for name, text in rows:
        wrapped = textwrap.wrap(text, max(width - left, 30), break_on_hyphens=False) or [""]
        if len(name) + 4 > left:
            lines.append(f"  {name}")
        else:
            lines.append(f"  {name.ljust(left - 2)}{wrapped.pop(0)}")
        lines += [" " * left + more for more in wrapped]
    return lines


def command_help(cmd) -> str:
    """`frugaltune NAME --help`: usage, the help text, arguments and options."""
    width = _width()
    positionals = [o for o in cmd.options if o.positional]
    usage = " ".join([f"Usage: frugaltune {cmd.name} [OPTIONS]", *(o.metavar for o in positionals)])
    parts = [usage, *_paragraphs(cmd.doc, width)]
    if positionals:
        parts.append("\n".join(["Arguments:", *_rows([(o.metavar, _option_help(o)) for o in positionals], width)]))
    rows = [(_spelling(o), _option_help(o)) for o in cmd.options if not o.positional]
    rows.append(("-h, --help", "Show this message and exit."))
    parts.append("\n".join(["Options:", *_rows(rows, width)]))
    return "\n\n".join(parts)


def top_help(commands: dict, groups: dict, load) -> str:
    """`frugaltune --help`: every command and group with its one-line summary."""
    width = _width()
    rows, seen = [], set()
    for name in commands:
        group = name.split(" ")[0]
        if " " in name:
            if group not in seen:
                rows.append((group, groups[group]))
                seen.add(group)
            continue
        rows.append((name, load(name).summary))
    intro = ("Estimate, run and verify cheap LLM fine-tuning. estimate / compare / impact / recommend / plan / budget /"
             " buy-vs-rent answer \"what will it cost\" (afford: \"what does my budget buy\"); train runs a config that"
             " survives spot interruptions; "
             "report shows measured vs estimated.")
    return "\n\n".join(["Usage: frugaltune [--version] [--help] COMMAND [ARGS]...", _fill(intro, width),
                        "\n".join(["Commands:", *_rows(rows, width)]),
                        "Run `frugaltune COMMAND --help` for a command's options."])


def group_help(group: str, commands: dict, groups: dict, load) -> str:
    """`frugaltune GROUP --help`: its subcommands."""
    width = _width()
    rows = [(name.split(" ", 1)[1], load(name).summary) for name in commands if name.startswith(group + " ")]
    return "\n\n".join([f"Usage: frugaltune {group} COMMAND [ARGS]...", _fill(groups[group], width),
                        "\n".join(["Commands:", *_rows(rows, width)])])
