"""The error hierarchy. The CLI prints these as one line (plus a "To fix:" hint) with no traceback."""

from __future__ import annotations

TYPE_CHECKING = False  # collections.abc costs start-up time; the annotations only need it for type checkers
if TYPE_CHECKING:
    from collections.abc import Iterable


class FrugalError(Exception):
    """Base of every error frugaltune raises for bad input. `fix` tells the user what to do."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} To fix: {self.fix}"


class CatalogError(FrugalError):
    """Unknown GPU / model / platform / offer, or a malformed catalog file."""


class ConfigError(FrugalError):
    """A bad training config key or value, or a bad CLI flag value."""


class DataError(FrugalError):
    """A dataset file or row that cannot be used (names the file and line)."""


class InfeasiblePlanError(FrugalError):
    """Nothing in the search space meets the job's constraints (says what would)."""

    exit_code = 3


class CheckpointError(FrugalError):
    """A checkpoint that cannot be read or written."""


class StorageError(CheckpointError):
    """The run's own disk failed it (full, read-only, not writable): the previous checkpoint is intact. Exit 74
    (EX_IOERR): free space or fix permissions, then run the same command to resume."""

    exit_code = 74


class MirrorError(CheckpointError):
    """The checkpoint mirror stayed unreachable: the local checkpoints are complete, the mirror is behind. Exit 69
    (EX_UNAVAILABLE): run the same command when the storage is back to upload the newest checkpoint."""

    exit_code = 69


class DivergedError(FrugalError):
    """The loss or a gradient stopped being finite: training stopped before the bad step touched the weights, and
    the last good checkpoint is kept. Exit 65 (EX_DATAERR): lower the learning rate (or check the data), then run
    the same command to resume from that checkpoint. `at_step` is the step that was not finite (the one the
    message names) and `checkpoint` the name of the last good checkpoint (None when none was written yet)."""

    exit_code = 65

    def __init__(self, message: str, fix: str | None = None, at_step: int | None = None,
                 checkpoint: str | None = None):
        super().__init__(message, fix)
        self.at_step = at_step
        self.checkpoint = checkpoint


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The `choices` closest to `word` (case-insensitive), best first; [] when none is close."""
    import difflib

    lowered = {c.lower(): c for c in choices}
    return [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)]


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' Did you mean: a, b?' for the closest `choices` to `word`, or '' when none is close."""
    close = closest(word, choices, n)
    return " Did you mean: " + ", ".join(close) + "?" if close else ""


def yaml_syntax_error(path: object, err: Exception) -> ConfigError:
    """One line for a YAML parse error: 'FILE:LINE:COLUMN: not valid YAML (what the parser expected).'"""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    fix = ("keep one of the two lines (delete the one you do not mean)." if "appears twice" in str(problem)
           else "fix the YAML syntax at that line.")
    return ConfigError(f"{where}: not valid YAML ({problem}).", fix=fix)
