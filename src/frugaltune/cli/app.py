"""The Typer app. Each command group lives in its own module and registers itself on `app`."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="frugaltune",
    help="Estimate, run and verify cheap LLM fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Estimate, run and verify cheap LLM fine-tuning.

    estimate / compare / impact / recommend / plan / budget / buy-vs-rent answer "what will it cost";
    train runs a config that survives spot interruptions; report shows measured vs estimated.
    """


def _register_commands() -> None:
    # Importing a module registers its commands on `app`. Modules missing while work is in progress are skipped.
    import importlib

    for name in ("estimate", "catalog", "plan", "train"):
        try:
            importlib.import_module(f"frugaltune.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"frugaltune.cli.{name}":
                raise


def print_error(err: Exception) -> None:
    """One line (plus a 'To fix:' line), no traceback."""
    from frugaltune.errors import FrugalError

    msg = err.message if isinstance(err, FrugalError) else str(err)
    print(f"error: {msg}", file=sys.stderr)
    fix = getattr(err, "fix", None)
    if fix:
        print(f"To fix: {fix}", file=sys.stderr)


def run(argv: list[str]) -> int:
    """Run the app on `argv`; map FrugalError to its exit code and a clean message."""
    from frugaltune.errors import FrugalError

    _register_commands()
    try:
        result = app(args=argv, prog_name="frugaltune", standalone_mode=False)
    except FrugalError as err:
        print_error(err)
        return err.exit_code
    except BrokenPipeError:
        return 0
    except Exception as err:  # Typer vendors click: match its exceptions by shape, not by import path
        kind = type(err).__name__
        if kind == "Abort":
            print("aborted", file=sys.stderr)
            return 130
        if kind == "Exit":
            return int(getattr(err, "exit_code", 0))
        if hasattr(err, "show") and hasattr(err, "exit_code"):
            err.show()
            return int(err.exit_code)
        raise
    return result if isinstance(result, int) else 0
