"""The team's ledger of measurements: `frugaltune calibration list | export | import`.

Every finished GPU run and every probe appends one row to the user's measurements file (estimate/measured.py);
later estimates for that GPU x method are scaled by them. Sharing that file makes one person's measured run improve
everyone's estimates: `export URL` merges the local rows into one JSONL per team at any fsspec URL (a local or
mounted directory, s3://, gs://, ...), `import URL` merges the team's rows into the local file. Rows are never
duplicated: each carries an `id` (rows written before ids existed are keyed by their content).
"""

from __future__ import annotations

import hashlib
import json
import os

from frugaltune.errors import ConfigError

DEFAULT_TEAM = "team"


def row_key(row: dict) -> str:
    """What makes a row the same row: its id, else a hash of its content (older rows had no id)."""
    if row.get("id"):
        return str(row["id"])
    return "sha256:" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:32]


def local_rows(path: str | None = None) -> list[dict]:
    from frugaltune.estimate.measured import load_measurements, measurements_path

    if path is None or os.path.abspath(path) == os.path.abspath(measurements_path()):
        return list(load_measurements())
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:  # a damaged line is skipped, not a crash
        return list(_parse(fh.read()))


def team_file(url: str, team: str | None) -> str:
    """The team's JSONL under `url` (`url` itself when it already names a .jsonl file)."""
    if url.endswith(".jsonl"):
        return url
    name = team or DEFAULT_TEAM
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"--team {name!r}: use letters, digits, '-' or '_' (it names a file).",
                          fix="e.g. --team nlp-lab")
    return url.rstrip("/") + f"/{name}.jsonl"


def _parse(text: str):
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn line from a killed writer
        if isinstance(row, dict):
            yield row


def _open_fs(url: str, storage_options: dict | None):
    try:
        import fsspec
    except ImportError as err:
        raise ConfigError("sharing measurements needs fsspec (pip install 'frugaltune[train]').",
                          fix="install the training extra, or copy the file yourself") from err
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ValueError, ImportError) as err:
        raise ConfigError(f"{url}: not a usable storage URL ({err}).",
                          fix="use a directory, s3://bucket/prefix or gs://bucket/prefix (with s3fs/gcsfs)") from None
    return fs, path


def _exists(fs, path: str) -> bool:
    try:
        return bool(fs.exists(path))
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err}).", fix="check the URL and your credentials") from None


def read_team(url: str, team: str | None = None, storage_options: dict | None = None) -> list[dict]:
    """The team's rows at `url` ([] when there are none yet)."""
    fs, path = _open_fs(team_file(url, team), storage_options)
    try:
        with fs.open(path, "r", encoding="utf-8", errors="replace") as fh:  # damaged lines are skipped
            return list(_parse(fh.read()))
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ConfigError(f"{team_file(url, team)}: cannot be read ({err}).",
                          fix="check the URL and your credentials") from None


def merge(existing: list[dict], incoming: list[dict]) -> tuple[list[dict], int]:
    """existing + the incoming rows it does not hold yet (in their order); (merged, how many were new)."""
    seen = {row_key(r) for r in existing}
    new = []
    for row in incoming:
        key = row_key(row)
        if key not in seen:
            seen.add(key)
            new.append(row)
    return existing + new, len(new)


def export_rows(url: str, team: str | None = None, storage_options: dict | None = None,
                path: str | None = None) -> dict:
    """Merge the local rows into the team's file at `url`; {"file", "exported", "already_there", "total"}."""
    mine = local_rows(path)
    theirs = read_team(url, team, storage_options)
    merged, added = merge(theirs, mine)
    target = team_file(url, team)
    fs, remote = _open_fs(target, storage_options)
    parent = remote.rsplit("/", 1)[0] if "/" in remote else ""
    try:
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(remote, "w", encoding="utf-8") as fh:  # one object write: readers see old or new, whole
            fh.write("".join(json.dumps(r) + "\n" for r in merged))
    except OSError as err:
        raise ConfigError(f"{target}: cannot be written ({err}).", fix="check the URL and your credentials") from None
    return {"file": target, "exported": added, "already_there": len(mine) - added, "total": len(merged)}


def import_rows(url: str, team: str | None = None, storage_options: dict | None = None,
                path: str | None = None) -> dict:
    """Append the team's rows that the local file lacks; {"file", "imported", "already_here", "total"}."""
    from frugaltune.estimate.measured import measurements_path

    local = path or measurements_path()
    mine = local_rows(local)
    fs, remote = _open_fs(team_file(url, team), storage_options)
    if not _exists(fs, remote):  # a mistyped URL or team name imports nothing: say so instead of "0 imported"
        raise ConfigError(f"{team_file(url, team)} does not exist: there is nothing to import.",
                          fix="check the URL and --team (`frugaltune calibration export URL` writes the file).")
    from frugaltune.estimate.measured import is_measurement

    rows = read_team(url, team, storage_options)
    theirs = [r for r in rows if is_measurement(r)]  # nonsense (NaN tokens/s, no method) never reaches estimates
    merged, added = merge(mine, theirs)
    if added:
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        torn = os.path.isfile(local) and os.path.getsize(local) and not open(local, "rb").read().endswith(b"\n")
        with open(local, "a", encoding="utf-8") as fh:
            fh.write("\n" if torn else "")  # a killed writer's last line stays its own line
            fh.write("".join(json.dumps(r) + "\n" for r in merged[len(mine):]))
    return {"file": local, "source": team_file(url, team), "imported": added, "already_here": len(theirs) - added,
            "skipped": len(rows) - len(theirs), "total": len(merged)}
