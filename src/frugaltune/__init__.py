"""frugaltune: what will fine-tuning cost, run it cheaply, and did it really cost that.

The public Python API lives in `frugaltune.api`; `estimate` is re-exported lazily so that
`import frugaltune` stays cheap (no torch, no pandas).
"""

__version__ = "0.1.0"

__all__ = ["estimate", "compare", "impact", "recommend", "plan", "budget", "buy_vs_rent", "__version__"]


def __getattr__(name: str):
    if name in ("estimate", "compare", "impact", "recommend", "plan", "budget", "buy_vs_rent", "train", "report"):
        from frugaltune import api

        return getattr(api, name)
    raise AttributeError(f"module 'frugaltune' has no attribute {name!r}")
