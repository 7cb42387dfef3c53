"""The estimator on published runs it was never fit on (bench/data/measurements_heldout.csv, whole sources kept out
of bench/fit_calibration.py), with the shipped coefficients and bands: the issue's error bars and the 80 % band's
coverage. A refit or a model change that over-fits the fit rows fails here."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

BARS = {"memory": 18.0, "tokens/s": 20.0}  # median absolute % error out of sample (issue 9, "Done when")


@pytest.fixture(scope="module")
def held_out(catalog):
    from scoring import all_cases, residuals

    return residuals(all_cases(catalog)["heldout"])


@pytest.mark.parametrize("metric", sorted(BARS))
def test_held_out_median_error_within_the_bar(held_out, metric):
    from scoring import abs_pct

    errors = [abs_pct(x["r"]) for x in held_out if x["metric"] == metric]
    assert len(errors) >= 20, f"too few held-out {metric} rows to judge: {len(errors)}"
    assert statistics.median(errors) <= BARS[metric], sorted(errors)


@pytest.mark.parametrize("metric", sorted(BARS))
def test_the_80_percent_band_covers_most_held_out_measurements(held_out, metric):
    from scoring import coverage

    rows = [x for x in held_out if x["metric"] == metric]
    share = coverage(rows)
    assert share is not None, "no bands shipped (catalog/data/estimator_bands.json)"
    # an 80 % band from leave-one-source-out residuals, on sources it never saw (bench/README.md: measured 85 %
    # memory, 100 % tokens/s): most measurements inside, and the band is not a blanket (next test)
    assert share >= 0.7, f"{metric}: {share:.0%} of held-out measurements inside the band"
    # not a blanket: the median band spans less than a factor 2.5 between its ends (measured: 1.5 memory, 2.3
    # tokens/s, the held-out GPUs' classes borrowing a wider band)
    assert statistics.median(x["band"][1] / x["band"][0] for x in rows) < 2.5


def test_every_scored_held_out_row_has_its_band(held_out):
    assert all(x["band"] and 0 < x["band"][0] < x["band"][1] for x in held_out if x["metric"] in BARS)
