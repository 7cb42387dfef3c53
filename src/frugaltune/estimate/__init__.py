"""The estimator: pure functions (no torch), memory.py / flops.py / throughput.py / cost.py, and `estimate()`."""

from frugaltune.estimate.estimator import estimate
from frugaltune.estimate.records import Estimate, Hardware, Job

__all__ = ["estimate", "Estimate", "Hardware", "Job"]
