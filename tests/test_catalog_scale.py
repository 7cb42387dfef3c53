"""Catalog lookups that scale: user files merged once per version (data cache), offers indexed by GPU so an estimate
types only the offers of the GPU it asks about, in catalog order when all are needed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from frugaltune.catalog.csvio import read_rows
from frugaltune.catalog.load import DATA_DIR, load_catalog
from frugaltune.catalog.types import Offer


def _user_offers(directory, copies: int) -> int:
    with open(os.path.join(DATA_DIR, "offers.csv"), newline="") as fh:
        reader = csv.DictReader(fh)
        columns, shipped = reader.fieldnames, list(reader)
    directory.mkdir()
    with (directory / "offers.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for k in range(copies):
            writer.writerows(dict(row, instance=f"{row['instance']}-copy{k}") for row in shipped)
    return copies * len(shipped)


def test_offers_keep_the_catalog_order():
    shipped = [Offer(**values) for _, values in read_rows(os.path.join(DATA_DIR, "offers.csv"), Offer,
                                                                            keep_empty=True)]
    cat = load_catalog()
    assert [(o.platform, o.instance, o.gpu, o.region) for o in cat.offers] == \
        [(o.platform, o.instance, o.gpu, o.region) for o in shipped]
    assert cat.gpu_offers("A10") == [o for o in cat.offers if o.gpu == "A10"]


def test_an_estimate_types_only_its_gpus_offers(tmp_path):
    added = _user_offers(tmp_path / "user", 20)
    cat = load_catalog([tmp_path / "user"])
    assert cat.find_offer("a10", "lambda").instance == "gpu_1x_a10"
    assert list(cat._by_gpu) == ["A10"]  # the other GPUs' offers are still marshalled bytes
    assert len(cat.offers) == added + len(load_catalog().offers) and len(cat._by_gpu) > 10


with open(os.path.join(DATA_DIR, "offers.csv"), newline="") as _fh:
    FIELDS = csv.DictReader(_fh).fieldnames
PROBE = """
import sys
from frugaltune.catalog.load import load_catalog
cat = load_catalog([sys.argv[1]])
print(cat.find_offer("a10", "lambda").instance, "csv" in sys.modules, "frugaltune.catalog.merge" in sys.modules)
"""


def test_a_user_catalog_is_merged_once_then_read_from_the_cache(tmp_path):
    _user_offers(tmp_path / "user", 3)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "user")], capture_output=True, text=True,
                           env=env, timeout=60, check=True).stdout.split() for _ in range(2)]
    assert runs == [["gpu_1x_a10", "True", "True"], ["gpu_1x_a10", "False", "False"]]
    with (tmp_path / "user" / "offers.csv").open("a", newline="") as fh:  # an edited file is merged again
        csv.DictWriter(fh, fieldnames=FIELDS).writerow({"platform": "lambda", "instance": "mine", "gpu": "A10",
                                                         "on_demand_usd_per_gpu_hour": "0.11"})
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "user")], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout.split()
    assert out[1:] == ["True", "True"]


def test_compare_on_named_gpus_reads_only_their_offers(tmp_path):
    from frugaltune.plan.api import compare

    _user_offers(tmp_path / "user", 5)
    cmp = compare(model="7B", gpu=["a10", "l4"], max_gpus=1, catalog_dirs=[str(tmp_path / "user")])
    cat = load_catalog([tmp_path / "user"])
    assert sorted(cat._by_gpu) == ["A10", "L4"] and {c.offer.gpu for c, _ in cmp.ranked} == {"A10", "L4"}
