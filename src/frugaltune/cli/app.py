"""The dispatcher: argv -> the command's handler, and every error -> one line and its exit code.

`run(argv)` returns the exit code (tests call it in-process). Only the module serving the command is imported
(cli/commands.py); help text is built only for --help (cli/help.py). With `--json` an error is also printed on stdout
as `{"error": ..., "fix": ..., "exit_code": ...}`, so scripts that parse stdout see why the command failed.
"""

from __future__ import annotations

import sys

from frugaltune.cli import commands
from frugaltune.cli.parse import HelpRequested, parse
from frugaltune.errors import FrugalError


def print_error(err: FrugalError, json_out: bool = False) -> None:
    """One line (plus a 'To fix:' line) on stderr, no traceback; with --json the same as a JSON object on stdout."""
    print(f"error: {err.message}", file=sys.stderr)
    if err.fix:
        print(f"To fix: {err.fix}", file=sys.stderr)
    if json_out:
        from frugaltune.jsonout import dumps

        print(dumps({"error": err.message, "fix": err.fix, "exit_code": err.exit_code}))


def _help(name: str | None) -> str:
    from frugaltune.cli import help

    if name is None:
        return help.top_help(commands.COMMANDS, commands.GROUPS, commands.load)
    if name in commands.GROUPS:
        return help.group_help(name, commands.COMMANDS, commands.GROUPS, commands.load)
    return help.command_help(commands.load(name))


def dispatch(argv: list[str]) -> int:
    """Parse `argv` and call the command's handler; return its exit code."""
    if argv[:1] == ["--version"]:
        from frugaltune import __version__

        print(f"frugaltune {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print(_help(None))
        return 0
    name, rest = commands.split(argv)
    if name in commands.GROUPS:
        if rest and rest[0] not in ("-h", "--help"):
            from frugaltune.cli.parse import UsageError

            raise UsageError(f"no such command: '{name} {rest[0]}'.", fix=f"see `frugaltune {name} --help`.")
        print(_help(name))
        return 0
    cmd = commands.load(name)
    try:
        values = parse(rest, cmd.options, prog=f"frugaltune {name}")
    except HelpRequested:
        print(_help(name))
        return 0
    result = cmd.handler(**values)
    return result if isinstance(result, int) else 0


def _wants_json(argv: list[str]) -> bool:
    """--json, or --format json (either spelling): errors then come as a JSON object on stdout too."""
    return "--json" in argv or "--format=json" in argv or any(
        a == "--format" and b == "json" for a, b in zip(argv, argv[1:]))


def run(argv: list[str]) -> int:
    """Run frugaltune on `argv`: the exit code; FrugalError -> its message and exit code, never a traceback."""
    try:
        return dispatch(list(argv))
    except FrugalError as err:
        print_error(err, json_out=_wants_json(argv))
        return err.exit_code
    except BrokenPipeError:  # `frugaltune ... | head`: the reader left; not an error
        return 0
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
