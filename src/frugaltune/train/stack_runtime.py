"""The training-stack options the runner implements itself (training.loss, activation_offload,
optimizer_in_backward, compile), each a small wrapper the recipe calls at one point. The estimator models the same
options (estimate/stack.py), so a run and its estimate describe one stack.

- loss `chunked` / `fused`: the decoder's hidden states at the trained positions go through the LM head a chunk of
  tokens at a time; each chunk's logits and cross-entropy run under activation checkpointing, so backward recomputes
  them and the full logits never exist (TRL's chunked_nll does the same). `fused` uses Liger's fused linear
  cross-entropy kernel when `liger_kernel` is installed (CUDA), else this chunked path.
- activation_offload: tensors saved for backward live in (pinned) CPU memory, `torch.autograd.graph.save_on_cpu`.
- optimizer_in_backward: one optimizer per parameter, stepped from a post-accumulate-grad hook as soon as its
  gradient exists, then the gradient is freed (PyTorch tutorial "How to save memory by fusing the optimizer step
  into the backward pass"). Needs grad_accum 1, no gradient clipping and one process.
- compile: `torch.compile(model)`.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from frugaltune.errors import ConfigError

IGNORE_INDEX = -100
CHUNK_TOKENS = 1024  # trained positions per LM-head chunk


def check_stack(training, num_processes: int) -> None:
    """The combinations the runner cannot do, as one-line errors naming the key."""
    if not training.optimizer_in_backward:
        return
    if training.grad_accum > 1:
        raise ConfigError("training.optimizer_in_backward needs training.grad_accum 1 (each gradient is applied as "
                          "soon as backward produces it).", fix="set training.grad_accum: 1 or turn it off.")
    if training.max_grad_norm:
        raise ConfigError("training.optimizer_in_backward cannot clip gradients (they are applied one by one).",
                          fix="set training.max_grad_norm: null or turn optimizer_in_backward off.")
    if training.precision == "fp16":
        raise ConfigError("training.optimizer_in_backward cannot run fp16 loss scaling (the scaler needs every "
                          "gradient before the step).", fix="use bf16 or bf16-true, or turn it off.")
    if num_processes > 1:
        raise ConfigError("training.optimizer_in_backward runs on one process only (each rank would step before "
                          "gradients are averaged).", fix="turn it off for multi-GPU runs.")


def maybe_compile(model: Any, training) -> Any:
    if not training.compile:
        return model
    import torch

    return torch.compile(model)


def offload_context(training, cuda: bool):
    """Saved activations on CPU memory for the forward + loss, else nothing."""
    if not training.activation_offload:
        return nullcontext()
    import torch

    return torch.autograd.graph.save_on_cpu(pin_memory=cuda)


def _unwrap(model: Any) -> Any:
    """The causal LM under DDP / compile / peft wrappers."""
    inner = model
    for attr in ("module", "_orig_mod"):
        inner = getattr(inner, attr, inner)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def hidden_and_head(model: Any, batch: dict) -> tuple[Any, Any]:
    """The last hidden states (before the LM head) and the LM head module."""
    from frugaltune.train.loss import model_inputs

    lm = _unwrap(model)
    decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
    out = decoder(**model_inputs(batch))
    return out.last_hidden_state, lm.get_output_embeddings()


def _chunk_loss(head: Any, rows: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(head(rows).float(), targets, reduction="sum")


def chunked_loss(model: Any, batch: dict, chunk_tokens: int = CHUNK_TOKENS) -> Any:
    """Summed cross-entropy over trained tokens, the LM head applied one checkpointed chunk at a time."""
    import torch
    from torch.utils.checkpoint import checkpoint

    hidden, head = hidden_and_head(model, batch)
    labels = batch["labels"]
    keep = labels[:, 1:].ne(IGNORE_INDEX)  # position p predicts token p + 1
    rows, targets = hidden[:, :-1][keep], labels[:, 1:][keep]
    total = torch.zeros((), device=hidden.device, dtype=torch.float32)
    for start in range(0, rows.shape[0], chunk_tokens):
        end = start + chunk_tokens
        total = total + checkpoint(_chunk_loss, head, rows[start:end], targets[start:end], use_reentrant=False)
    return total


def fused_loss(model: Any, batch: dict) -> Any:
    """Liger's fused linear cross-entropy where it is installed and on CUDA, else the chunked path."""
    try:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return chunked_loss(model, batch)
    hidden, head = hidden_and_head(model, batch)
    if not hidden.is_cuda:
        return chunked_loss(model, batch)
    labels = batch["labels"]
    keep = labels[:, 1:].ne(IGNORE_INDEX)
    loss = LigerFusedLinearCrossEntropyLoss(reduction="sum")
    return loss(head.weight, hidden[:, :-1][keep], labels[:, 1:][keep], getattr(head, "bias", None))


def step_loss(model: Any, batch: dict, training, *, sparse_logits: bool, cuda: bool) -> Any:
    """The micro-batch's summed loss with the configured loss implementation and activation offload."""
    from frugaltune.train.loss import summed_loss

    with offload_context(training, cuda):
        if training.loss == "chunked":
            return chunked_loss(model, batch)
        if training.loss == "fused":
            return fused_loss(model, batch)
        return summed_loss(model, batch, sparse_logits=sparse_logits)


def optimizer_in_backward(optimizer_class, groups: list[dict], **defaults):
    """Per-parameter optimizers stepped by gradient hooks, presented as one torch Optimizer to the LR scheduler,
    accelerate and checkpoints (param_groups, state_dict, load_state_dict; step and zero_grad do nothing)."""
    import torch

    class OptimizerInBackward(torch.optim.Optimizer):
        def __init__(self) -> None:  # noqa: D107 - no base __init__: the inner optimizers own the state
            self.optimizers = []
            for group in groups:
                options = {k: v for k, v in group.items() if k != "params"}
                for param in group["params"]:
                    opt = optimizer_class([{"params": [param], **options}], **defaults)
                    self.optimizers.append(opt)
                    param.register_post_accumulate_grad_hook(_hook(opt))
            self.defaults = dict(defaults)
            self.state = {}
            self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks = {}, {}
            self._optimizer_state_dict_pre_hooks, self._optimizer_state_dict_post_hooks = {}, {}
            self._optimizer_load_state_dict_pre_hooks, self._optimizer_load_state_dict_post_hooks = {}, {}

        @property
        def param_groups(self) -> list[dict]:
            return [g for opt in self.optimizers for g in opt.param_groups]

        def step(self, closure=None) -> None:  # the hooks already stepped
            return None

        def zero_grad(self, set_to_none: bool = True) -> None:  # the hooks already freed the gradients
            return None

        def state_dict(self) -> dict:
            return {"per_parameter": [opt.state_dict() for opt in self.optimizers]}

        def load_state_dict(self, state_dict: dict) -> None:
            for opt, saved in zip(self.optimizers, state_dict["per_parameter"], strict=True):
                opt.load_state_dict(saved)

    return OptimizerInBackward()


def _hook(opt):
    def step(param) -> None:
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step
