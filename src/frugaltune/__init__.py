"""frugaltune: what will fine-tuning cost, run it cheaply, and did it really cost that.

The public Python API is `frugaltune.api` (a façade); these names are re-exported lazily from where they live so
that `import frugaltune` stays cheap (no torch, no pandas).
"""

__version__ = "0.1.0"

__all__ = ["estimate", "compare", "impact", "recommend", "plan", "budget", "buy_vs_rent", "__version__"]

# public name -> (module, attribute)
_LAZY = {"estimate": ("frugaltune.estimate.build", "estimate"), "train": ("frugaltune.train.recipe", "train"),
         "report": ("frugaltune.report.render", "load_report"),
         **{n: ("frugaltune.plan.api", n) for n in ("compare", "impact", "recommend", "plan", "budget", "buy_vs_rent")}}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'frugaltune' has no attribute {name!r}")
