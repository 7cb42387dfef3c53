"""Fast path for `frugaltune estimate` (no Typer): `--json` is stdlib only and starts in tens of ms; the table adds
only rich."""

from __future__ import annotations

import sys

from frugaltune.cli.options import ESTIMATE_OPTIONS, add_to_argparse, check_choices, parse_simple


def handles(argv: list[str]) -> bool:
    """`estimate` runs here, JSON or table; its --help (Typer's, with every option's text) goes through the app."""
    return bool(argv) and argv[0] == "estimate" and not {"-h", "--help"} & set(argv)


def estimate_from_options(kwargs: dict):
    """Call frugaltune.estimate.build.estimate with the parsed flags (shared by the Typer command and this fast path)."""
    from frugaltune.estimate import build as api

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
        options = parse(argv[1:])
        result = estimate_from_options(options)
    except FrugalError as err:
        print(f"error: {err.message}", file=sys.stderr)
        if err.fix:
            print(f"To fix: {err.fix}", file=sys.stderr)
        return err.exit_code
    except SystemExit as ex:  # argparse usage error: it already printed a one-line message
        return int(ex.code or 0)
    try:
        if options.get("json_out"):
            from frugaltune.jsonout import dumps  # json.dumps(indent=2)'s text without importing json (start-up)

            print(dumps(result.to_json()))
        else:
            from frugaltune.cli.estimate_table import render_estimate

            render_estimate(result)
    except BrokenPipeError:
        pass
    return 0
