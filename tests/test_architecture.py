"""Issue 9 item 8: `frugaltune/api.py` is a thin façade that nothing inside the package imports; plan/, report/,
train/ and cli/ reach the job builder and estimator through `frugaltune.estimate` (or below)."""

from __future__ import annotations

import ast
from pathlib import Path

import frugaltune

PACKAGE = Path(frugaltune.__file__).parent


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_nothing_inside_the_package_imports_the_api_facade():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "api.py" or p.parent != PACKAGE
                 if "frugaltune.api" in _imports_of(p)]
    assert offenders == []


def test_the_facade_re_exports_the_builders_from_estimate():
    from frugaltune import api
    from frugaltune.estimate import build

    assert api.build_job is build.build_job and api.build_hardware is build.build_hardware
    assert api.estimate is build.estimate and api.get_catalog is build.get_catalog
    from frugaltune.plan import api as plan_api

    assert api.compare is plan_api.compare


def test_from_frugaltune_import_estimate_is_callable_with_names():
    from frugaltune import estimate

    result = estimate(model="llama-2-7b", gpu="a10", platform="lambda")
    assert result.to_json()["hardware"]["platform"] == "lambda"
