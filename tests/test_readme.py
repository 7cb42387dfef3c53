"""The README (and the API page) are executable: every shell and Python block runs as written, in order, in a scratch
copy of the repository's examples, offline, on a CPU, in an 80-column terminal (every table it prints fits, no cell
cut to '…').

A block is not run only when it says so, on the line before it:

    <!-- readme-test: skip: why (e.g. make test is this suite) -->
    <!-- readme-test: placeholder: what the reader replaces -->

A block that does not say so and fails fails the test, with its page and line. YAML, plain text and layout blocks
are shown, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from frugaltune.console import cell_width

REPO = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/api.md")
LANGS = {"bash": "shell", "sh": "shell", "shell": "shell", "console": "shell", "python": "python", "py": "python"}
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*(?P<kind>skip|placeholder)\s*:?\s*(?P<why>.*?)\s*-->", re.S)
BLOCK_TIMEOUT_S = 900
TABLE_RULE = re.compile(r"[┃│┏┗┌└]")  # a line of a table drawn for people


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str  # "shell" | "python" | anything else (not run)
    body: str
    directive: str | None  # "skip" / "placeholder" when the block says so
    why: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: str, text: str | None = None) -> list[Block]:
    """Every fenced block of `page`, with the directive written on the line before it (if any)."""
    text = (REPO / page).read_text(encoding="utf-8") if text is None else text
    out = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip().splitlines()[-1:] or [""]
        d = DIRECTIVE.search(before[0])
        out.append(Block(page, text.count("\n", 0, m.start()) + 1, LANGS.get(m.group("lang").lower(), "shown"),
                         m.group("body"), d.group("kind") if d else None, d.group("why") if d else ""))
    return out


RUNNABLE = [b for page in PAGES for b in blocks(page) if b.lang != "shown"]


def test_the_extractor_reads_directives_and_languages():
    page = ("# t\n\n```bash\necho hi\n```\n\n<!-- readme-test: placeholder: your model dir -->\n```sh\nls x\n```\n"
            "```yaml\na: 1\n```\n<!-- readme-test: skip -->\n```python\nprint(1)\n```\n")
    got = [(b.lang, b.directive, b.why, b.line) for b in blocks("x.md", page)]
    assert got == [("shell", None, "", 3), ("shell", "placeholder", "your model dir", 8), ("shown", None, "", 11),
                   ("python", "skip", "", 15)]


def test_every_exempt_block_says_why():
    exempt = [b for b in RUNNABLE if b.directive]
    assert all(b.why for b in exempt), [b.where for b in exempt if not b.why]
    assert len(exempt) <= 3, [b.where for b in exempt]  # placeholders stay the exception


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict:
    """A scratch directory holding copies of what the README's commands read (examples, scripts, docs), the
    package sources and the virtualenv linked, a private HOME; commands run there in page order."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("examples", "scripts", "docs"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("src", ".venv", "Makefile", "pyproject.toml", "constraints.txt", "bench"):
        if (REPO / name).exists():
            (root / name).symlink_to(REPO / name)
    home = root / ".home"
    home.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1", "COLUMNS": "80",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env.pop("FRUGALTUNE_CATALOG_DIR", None)
    return {"root": root, "env": env}


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_block_runs_as_written(block: Block, sandbox):
    if block.directive:
        pytest.skip(f"{block.where} says: {block.directive}: {block.why}")
    argv = (["bash", "-e", "-o", "pipefail", "-c", block.body] if block.lang == "shell" else
            [sys.executable, "-c", block.body])
    proc = subprocess.run(argv, cwd=sandbox["root"], env=sandbox["env"], capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S, check=False)
    assert proc.returncode == 0, (f"{block.where} failed (exit {proc.returncode}):\n{block.body}\n--- stdout\n"
                                  f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    # in an 80-column terminal, the tables people read fit and no cell is cut short
    tables = [line for line in proc.stdout.splitlines() if TABLE_RULE.search(line)]
    assert [line for line in tables if cell_width(line) > 80 or "…" in line] == [], block.where
