"""The estimator: pure functions (no torch), memory.py / flops.py / throughput.py / cost.py, and `estimate()`.

This package is also what `from frugaltune import estimate` finds once it is imported (a subpackage shadows the
lazy re-export of the same name), so calling the package calls `frugaltune.estimate.build.estimate(model=..., ...)`.
"""

import sys
import types

from frugaltune.estimate.estimator import estimate
from frugaltune.estimate.records import Estimate, Hardware, Job

__all__ = ["estimate", "Estimate", "Hardware", "Job"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """`frugaltune.estimate(model=..., gpu=..., ...)`: the public keyword API (frugaltune.estimate.build)."""
        from frugaltune.estimate.build import estimate as estimate_by_name

        return estimate_by_name(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
