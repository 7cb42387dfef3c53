"""Figures of a dataset from the histogram of its rows' token counts ({tokens: rows}): memory is the number of
distinct lengths, not the number of rows, so a file of any size is summarised in constant memory.
"""

from __future__ import annotations

import math

Z95 = 1.959964  # two-sided 95 % normal quantile


def truncated(hist: dict[int, int], seq_len: int) -> dict[int, int]:
    """The histogram after truncation to `seq_len` tokens (longer rows count as seq_len)."""
    out: dict[int, int] = {}
    for tokens, rows in hist.items():
        key = min(tokens, seq_len)
        out[key] = out.get(key, 0) + rows
    return out


def quantile(hist: dict[int, int], q: float) -> int:
    """The smallest length L with at least a fraction q of the rows at or below L (nearest-rank quantile)."""
    n = sum(hist.values())
    need, seen = math.ceil(q * n), 0
    for tokens in sorted(hist):
        seen += hist[tokens]
        if seen >= need:
            return tokens
    return max(hist)


def mean_and_var(hist: dict[int, int]) -> tuple[float, float]:
    """Mean and sample variance of the lengths."""
    n = sum(hist.values())
    mean = sum(t * c for t, c in hist.items()) / n
    var = sum(c * (t - mean) ** 2 for t, c in hist.items()) / (n - 1) if n > 1 else 0.0
    return mean, var


def attended_length(hist: dict[int, int]) -> float:
    """E[L^2] / E[L] of the lengths: the sequence length whose causal attention costs, per token, what the rows
    attended one by one cost (flops.packed_attention_length has the derivation)."""
    tokens = sum(t * c for t, c in hist.items())
    return sum(t * t * c for t, c in hist.items()) / tokens if tokens else 0.0


def expected_padded(hist: dict[int, int], micro_batch: int) -> float:
    """Mean tokens per row once rows are shuffled into micro-batches and each is padded to its longest row, as a
    padding collator does: the expected maximum of `micro_batch` rows drawn without replacement,
    E[max] = sum_v v * (P(max <= v) - P(max < v)), with P(max <= v) = C(F(v), b) / C(n, b) and F(v) the rows of
    length <= v (the hypergeometric order statistic). Exact for the expectation over shuffles."""
    n = sum(hist.values())
    b = max(1, min(micro_batch, n))
    if b == 1:
        return mean_and_var(hist)[0]
    log_total = _log_comb(n, b)
    expected, below, p_below = 0.0, 0, 0.0
    for v in sorted(hist):
        below += hist[v]
        p_at_most = math.exp(_log_comb(below, b) - log_total) if below >= b else 0.0
        expected += v * (p_at_most - p_below)
        p_below = p_at_most
    return expected


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def mean_error(hist: dict[int, int], population: int) -> float:
    """95 % half-width of the mean of a simple random sample (histogram `hist`) of a population of `population` rows:
    z * s / sqrt(n) * sqrt(1 - n / N) (finite population correction); 0 when the sample is the whole population."""
    n = sum(hist.values())
    if n >= population or n < 2:
        return 0.0
    _, var = mean_and_var(hist)
    return Z95 * math.sqrt(var / n * (1 - n / population))


def share_error(hits: int, n: int, population: int) -> float:
    """95 % half-width of a proportion hits/n estimated from a simple random sample."""
    if n >= population or n < 2:
        return 0.0
    p = hits / n
    return Z95 * math.sqrt(max(p * (1 - p), 1.0 / n) / n * (1 - n / population))
