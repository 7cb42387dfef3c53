"""The command registry: which module serves each command, so a command imports only its own module.

To add a command: write a handler in a module under cli/ (or any module), decorate it with
`@command("name", OPTIONS)` where OPTIONS is a list of `Opt` (cli/options.py), and add one line to COMMANDS below.
Subcommands are spelled "group sub" (e.g. "catalog gpus"); name the group in GROUPS with its one-line summary.
See docs/cli.md.
"""

from __future__ import annotations

from frugaltune.record import record

# command -> the module whose @command handler serves it. Order = order in `frugaltune --help`.
COMMANDS = {
    "estimate": "frugaltune.cli.estimate",
    "compare": "frugaltune.cli.plan",
    "impact": "frugaltune.cli.plan",
    "recommend": "frugaltune.cli.plan",
    "plan": "frugaltune.cli.plan",
    "budget": "frugaltune.cli.plan",
    "buy-vs-rent": "frugaltune.cli.plan",
    "afford": "frugaltune.cli.afford",
    "train": "frugaltune.cli.train",
    "launch": "frugaltune.cli.launch",
    "report": "frugaltune.cli.report",
    "probe": "frugaltune.cli.report",
    "schema": "frugaltune.cli.train",
    "catalog gpus": "frugaltune.cli.catalog",
    "catalog prices": "frugaltune.cli.catalog",
    "catalog models": "frugaltune.cli.catalog",
    "catalog storage": "frugaltune.cli.catalog",
    "calibration list": "frugaltune.cli.report",
    "calibration export": "frugaltune.cli.report",
    "calibration import": "frugaltune.cli.report",
}
GROUPS = {
    "catalog": "List GPUs, prices, models and storage prices of the catalog.",
    "calibration": "List, export or import the measurements that calibrate estimates (a team's shared ledger).",
}


@record(frozen=True)
class Command:
    name: str
    options: tuple  # of Opt
    handler: object  # handler(**values) -> exit code or None (0)
    doc: str  # first line: the summary in `frugaltune --help`; the rest: the command's help text

    @property
    def summary(self) -> str:
        """The help text's first sentence, cut at its first colon when long (the line in `frugaltune --help`)."""
        sentence = " ".join(self.doc.strip().split("\n\n")[0].split()).split(". ")[0]
        return (sentence if len(sentence) <= 80 else sentence.split(": ")[0]).rstrip(".") + "."


_LOADED: dict[str, Command] = {}


def command(name: str, options: list, doc: str | None = None):
    """Decorator: register `func` as the handler of command `name` with the option table `options`.
    The help text is `doc`, or the function's docstring."""

    def register(func):
        _LOADED[name] = Command(name, tuple(options), func, doc or func.__doc__ or "")
        return func

    return register


def load(name: str) -> Command:
    """The Command named `name`, importing only the module that serves it."""
    if name not in _LOADED:
        import importlib

        importlib.import_module(COMMANDS[name])
    return _LOADED[name]


def split(argv: list[str]) -> tuple[str | None, list[str]]:
    """(command name, its arguments). The name is a group name when a group is given without a valid subcommand."""
    if not argv:
        return None, []
    head = argv[0]
    if head in GROUPS:
        sub = f"{head} {argv[1]}" if len(argv) > 1 else ""
        return (sub, argv[2:]) if sub in COMMANDS else (head, argv[1:])
    if head in COMMANDS:
        return head, argv[1:]
    from frugaltune.cli.parse import UsageError, did_you_mean

    known = [n for n in COMMANDS if " " not in n] + list(GROUPS)
    raise UsageError(f"no such command: {head!r}.{did_you_mean(head, known)}", fix="see `frugaltune --help`.")
