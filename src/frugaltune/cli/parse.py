"""The command-line parser: argv + an option table (cli/options.py) -> {dest: value}.

Why not argparse: importing and building an argparse parser costs ~10 ms, a third of `frugaltune estimate --json`'s
start-up, and its usage errors print several lines. This parser knows only what our tables declare: `--flag value`,
`--flag=value`, short spellings (`-o FILE`), switches and their `--no-` forms, tri-state switches, repeatable
options, positional arguments and `--`. Every mistake is a one-line UsageError (exit 2) naming the flag.
"""

from __future__ import annotations

from frugaltune.errors import FrugalError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from frugaltune.cli.options import Opt

TYPE_WORDS = {int: "an integer", float: "a number"}


class UsageError(FrugalError):
    """A command line that does not match the command's options."""


class HelpRequested(Exception):
    """-h/--help was given: the caller prints the command's help."""


def _lookup(options: list[Opt]) -> dict[str, tuple[Opt, bool]]:
    """Every spelling -> (option, negated)."""
    table = {}
    for o in options:
        if o.positional:
            continue
        for spelling in o.spellings:
            table[spelling] = (o, False)
        if o.type is bool and o.negatable:
            table["--no-" + o.flag[2:]] = (o, True)
    return table


def _convert(o: Opt, raw: str) -> object:
    """The raw text as the option's type, within its choices and minimum."""
    name = o.flag if not o.positional else o.metavar
    if o.type in TYPE_WORDS:
        try:
            value = o.type(raw)
        except ValueError:
            raise UsageError(f"{name}: {raw!r} is not {TYPE_WORDS[o.type]}.", fix=f"give {name} a number.") from None
        if o.min is not None and value < o.min:
            raise UsageError(f"{name} must be >= {o.min:g} (got {raw}).", fix=f"give {name} at least {o.min:g}.")
        return value
    if o.choices and raw not in o.choices:
        from frugaltune.cli.options import not_a_choice

        raise not_a_choice(o, raw)
    return raw


def did_you_mean(word: str, known) -> str:
    """' Did you mean: --steps?' for the names in `known` close to `word` (compared without dashes), or ''."""
    import difflib

    names = {name.lstrip("-"): name for name in known}
    close = difflib.get_close_matches(word.lstrip("-"), list(names), n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(names[c] for c in close)}?" if close else ""


def _unknown(token: str, table: dict, hint: str) -> UsageError:
    return UsageError(f"no such option: {token}.{did_you_mean(token, table)}", fix=f"see `{hint} --help`.")


def parse(argv: list[str], options: list[Opt], prog: str = "frugaltune") -> dict:
    """Parse `argv` against `options`; raise HelpRequested on -h/--help, UsageError on anything else wrong."""
    if {"-h", "--help"} & set(argv[:argv.index("--")] if "--" in argv else argv):
        raise HelpRequested
    table = _lookup(options)
    values = {o.dest: (None if o.multiple else o.default) for o in options}
    positionals = [o for o in options if o.positional]
    extra: list[str] = []
    i, only_positional = 0, False
    while i < len(argv):
        token = argv[i]
        i += 1
        if only_positional or token == "-" or not token.startswith("-") or _is_number(token):
            extra.append(token)
            continue
        if token == "--":
            only_positional = True
            continue
        flag, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if flag not in table:
            raise _unknown(flag, table, prog)
        o, negated = table[flag]
        if o.type is bool:
            if eq:
                raise UsageError(f"{flag} takes no value (got {token!r}).", fix=f"write {flag} alone.")
            values[o.dest] = not negated
            continue
        if not eq:
            if i >= len(argv) or argv[i] in table:
                raise UsageError(f"{flag} needs a value.", fix=f"write {flag} VALUE (see `{prog} --help`).")
            inline, i = argv[i], i + 1
        value = _convert(o, inline)
        values[o.dest] = (values[o.dest] or []) + [value] if o.multiple else value
    _assign_positionals(values, positionals, extra, prog)
    _check_required(values, options, prog)
    return values


def _is_number(token: str) -> bool:
    """'-1', '-0.5', '-1e3': a negative number is a value, not a flag."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def _assign_positionals(values: dict, positionals: list[Opt], extra: list[str], prog: str) -> None:
    rest = positionals[-1] if positionals and positionals[-1].multiple else None  # the last one takes the rest
    fixed = positionals[:-1] if rest else positionals
    if len(extra) > len(fixed) and rest is None:
        raise UsageError(f"unexpected argument {extra[len(fixed)]!r}.", fix=f"see `{prog} --help`.")
    for o, raw in zip(fixed, extra):
        values[o.dest] = _convert(o, raw)
    if rest is not None and len(extra) > len(fixed):
        values[rest.dest] = [_convert(rest, raw) for raw in extra[len(fixed):]]


def _check_required(values: dict, options: list[Opt], prog: str) -> None:
    for o in options:
        if o.required and values[o.dest] is None:
            what = f"argument {o.metavar}" if o.positional else f"option {o.flag}"
            raise UsageError(f"missing {what}: {o.help}", fix=f"see `{prog} --help`.")
