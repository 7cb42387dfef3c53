"""Library chatter a user cannot act on, silenced at one seam before the training stack is imported.

What it silences, and why each is noise here:
- transformers' info/warning logs, advisory warnings and its own progress bars: frugaltune reports loading, data and
  progress itself;
- FutureWarnings raised inside transformers about its own deprecations (our calls use the current names);
- bitsandbytes' import-time warning that the optional `kernels` package is missing: that package only speeds up
  its CPU inference kernel (`gemv_4bit`), which training never uses (it has no backward; train/model.py
  `keep_4bit_differentiable` keeps 4-bit layers off it);
- tqdm bars written into a file or pipe (GGUF de-quantisation, Hub downloads): on a terminal they stay;
- accelerate's and huggingface_hub's info logs.
Warnings about the user's own data or config (truncated rows, resumed with another process count) are ours and stay.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

LIBRARY_LOGGERS = ("transformers", "accelerate", "bitsandbytes", "peft", "huggingface_hub", "datasets",
                   "torch.distributed.elastic")


def quiet_libraries() -> None:
    """Silence the chatter listed in the module docstring; idempotent, safe before or after the imports."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not _is_terminal(sys.stderr):
        os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm when it is imported
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        _disable_imported_tqdm()
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|accelerate)(\.|$)")
    warnings.filterwarnings("ignore", message=r".*`past_key_values` is deprecated.*", category=FutureWarning)
    if "transformers" in sys.modules:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _disable_imported_tqdm() -> None:
    """tqdm read TQDM_DISABLE when it was imported; a bar created later in a non-terminal still gets disabled."""
    tqdm_std = sys.modules.get("tqdm.std")
    if tqdm_std is None or getattr(tqdm_std.tqdm, "_frugaltune_quiet", False):
        return
    original = tqdm_std.tqdm.__init__

    def init(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    tqdm_std.tqdm.__init__ = init
    tqdm_std.tqdm._frugaltune_quiet = True
