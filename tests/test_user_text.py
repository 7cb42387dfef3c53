"""What users read speaks of the product only: no file outside the repository, no word from our internal notes.

Checked: every cell of the shipped catalog (what `frugaltune catalog ... --json` and the tables show), every
command's `--help`, the original script's `--help`, and the README and docs pages.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from frugaltune.cli.app import run
from frugaltune.cli.commands import COMMANDS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "frugaltune" / "catalog" / "data"
# internal words: the notes directory, and the documents the product grew from (the RNG "seed" is a real word)
INTERNAL = re.compile(r"shared/|\bseeds\b|\bseed's\b|\bseeds'|seed-compatible|seed example|seed scenario", re.I)


def _internal(text: str) -> list[str]:
    return [text[max(0, m.start() - 40):m.end() + 40] for m in INTERNAL.finditer(text)]


@pytest.mark.parametrize("path", sorted(DATA.glob("*.csv")), ids=lambda p: p.name)
def test_catalog_cells_cite_public_sources_only(path):
    with path.open(newline="", encoding="utf-8") as fh:
        bad = [(i, c, _internal(v)) for i, row in enumerate(csv.DictReader(fh), start=2)
               for c, v in row.items() if v and _internal(v)]
    assert not bad, f"{path.name}: {bad[:3]}"


def test_help_texts(capsys):
    for name in [None, *COMMANDS]:
        argv = (name.split() if name else []) + ["--help"]
        assert run(argv) == 0
        out = capsys.readouterr().out
        assert not _internal(out), (name, _internal(out))
    script = subprocess.run(["bash", str(REPO / "scripts" / "estimate-training-cost.sh"), "--help"],
                            capture_output=True, text=True, check=True, timeout=60,
                            env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert not _internal(script.stdout)


@pytest.mark.parametrize("page", ["README.md", "docs/api.md", "docs/cli.md", "examples/trade-classifier/README.md"])
def test_readme_and_docs(page):
    assert not _internal((REPO / page).read_text(encoding="utf-8"))
