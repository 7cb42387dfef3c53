"""Stdlib-only fast path for `frugaltune estimate ... --json` (no Typer/rich import: starts in tens of ms)."""

from __future__ import annotations

import sys

from frugaltune.cli.options import ESTIMATE_OPTIONS, add_to_argparse, check_choices, parse_simple


def handles(argv: list[str]) -> bool:
    return bool(argv) and argv[0] == "estimate" and "--json" in argv and not {"-h", "--help"} & set(argv)


def estimate_from_options(kwargs: dict):
    """Call frugaltune.api.estimate with the parsed flags (shared by the Typer command and this fast path)."""
    from frugaltune import api

    kwargs = dict(kwargs)
    kwargs.pop("json_out", None)
    catalog = kwargs.pop("catalog", None)
    check_choices(kwargs, ESTIMATE_OPTIONS)
    return api.estimate(catalog_dirs=[catalog] if catalog else None, **kwargs)


def parse(argv: list[str]) -> dict:
    """The flags as a dict: a plain scan over the option table, or argparse (usage errors) when that gives up."""
    values = parse_simple(argv, ESTIMATE_OPTIONS)
    if values is not None:
        return values
    import argparse

    parser = argparse.ArgumentParser(prog="frugaltune estimate")
    add_to_argparse(parser, ESTIMATE_OPTIONS)
    return vars(parser.parse_args(argv))


def run(argv: list[str]) -> int:
    from frugaltune.errors import FrugalError

    try:
        result = estimate_from_options(parse(argv[1:]))
    except FrugalError as err:
        print(f"error: {err.message}", file=sys.stderr)
        if err.fix:
            print(f"To fix: {err.fix}", file=sys.stderr)
        return err.exit_code
    except SystemExit as ex:  # argparse usage error: it already printed a one-line message
        return int(ex.code or 0)
    try:
        from frugaltune.jsonout import dumps  # json.dumps(indent=2)'s text without importing json (start-up)

        print(dumps(result.to_json()))
    except BrokenPipeError:
        pass
    return 0
