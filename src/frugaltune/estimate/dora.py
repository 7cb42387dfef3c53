"""DoRA (weight-decomposed low-rank adaptation, Liu et al. 2024, arXiv:2402.09353) as peft runs it
(`LoraConfig(use_dora=True)`; QDoRA: the same on a 4-bit base): what it adds to LoRA's memory and time.

Sources, huggingface/peft at the commits that last changed them:
- src/peft/tuners/lora/dora.py @a33b178 (DoraLinearLayer): a trainable magnitude vector, one entry per output
  feature of each adapted linear (`update_layer`: `nn.Parameter(weight_norm)`, saved as `lora_magnitude_vector`;
  peft's `autocast_adapter_dtype` keeps it fp32 like the adapters). Every forward recomputes the column norm of
  W + scale * B @ A: `get_lora_weight` builds B @ A densely as lora_B(lora_A(eye(d_in))) (an fp32 d_in x d_in
  identity, which lora_A's autograd node keeps until the forward returns, and an fp32 d_in x d_out product cast
  to the input dtype), `dequantize_module_weight` makes a 16-bit copy of a 4-bit base weight, and
  `get_weight_norm` adds the scaled product to it and takes the norm. The norm is detached (paper, section 4.3), so
  backward never revisits these dense temporaries: they cost time once per forward (and per recompute under
  activation checkpointing), whatever the number of tokens, and one module's worth of memory at a time.
  The output is (m / ||W'|| - 1) * base_result + m / ||W'|| * lora_result * scale: both products keep their
  token-wide operand for the magnitude's gradient (base_result and lora_result: two d_out-wide tensors per token).
- src/peft/tuners/lora/variants.py @607895c (DoraLinearVariant.forward): with LoRA dropout 0 (nn.Identity)
  base_result is the base layer's own output; with dropout above 0 it is `F.linear(dropout(x), W)`, a second
  matmul through the frozen weight (forward, input gradient, recompute) which keeps W for backward: the
  dequantised 16-bit copy on a 4-bit base.
- src/peft/tuners/lora/layer.py @5d602fd: `ephemeral_gpu_offload` only moves adapters to the GPU to initialise the
  magnitude of a CPU-offloaded model (DoraLinearVariant.init); it does not change a training step.
"""

from __future__ import annotations

from frugaltune.catalog.types import ModelArch
from frugaltune.estimate import shapes

ADAPTER_BYTES = 4  # fp32 adapters and magnitude (peft autocast_adapter_dtype=True); memory.ADAPTER_BYTES
DEQUANT_READ_BYTES = 0.5  # reading an NF4 weight element (4 bits)
NO_AUTOCAST = ("bf16-true", "fp32")  # precisions that run without torch.autocast (memory.NO_MASTER)
OUTPUT_TENSORS = 5  # token-wide tensors the DoRA forward writes per module: (m-1)*base, m*lora, *scale, sum, + result


def _modules(arch: ModelArch, targets, active: bool) -> list[tuple[int, int, int]]:
    """(d_in, d_out, copies) of every adapted linear of one layer (MoE experts: active or all)."""
    projections = shapes.projection_shapes(arch)
    return [(*projections[t], shapes._experts_for(arch, t, active)) for t in shapes.layer_targets(arch, targets)]


def magnitude_params(arch: ModelArch, targets) -> int:
    """Trainable magnitude entries: one per output feature of every adapted linear, all layers (dora.py)."""
    return arch.num_layers * sum(d_out * n for _d_in, d_out, n in _modules(arch, targets, active=False))


def saved_width(arch: ModelArch, targets) -> int:
    """Token-wide elements per token that one layer's DoRA modules keep for backward, beyond LoRA: base_result and
    lora_result, d_out each, per adapted module (active experts)."""
    return sum(2 * d_out * n for _d_in, d_out, n in _modules(arch, targets, active=True))


def saved_bytes_per_token(arch: ModelArch, targets, precision: str) -> float:
    """Bytes per token one layer's DoRA modules keep for backward: base_result in the compute dtype, and lora_result
    in the adapters' dtype when no autocast runs (bf16-true, fp32: peft's Linear.forward casts the input to lora_A's
    dtype, layer.py @5d602fd `_cast_input_dtype`, so lora_B's output is fp32), else in the autocast dtype."""
    b = 4 if precision == "fp32" else 2
    lora_b = ADAPTER_BYTES if precision in NO_AUTOCAST else b
    return saved_width(arch, targets) // 2 * (b + lora_b)


def elementwise_bytes_per_token(arch: ModelArch, targets, bytes_per_element: int) -> float:
    """Bytes of one pass over the token-wide tensors DoRA's forward writes, per token, all layers (work.py scales
    every layer's elementwise bytes by the calibrated number of passes)."""
    per_layer = sum(OUTPUT_TENSORS * d_out * n for _d_in, d_out, n in _modules(arch, targets, active=True))
    return arch.num_layers * per_layer * bytes_per_element


def workspace_bytes(arch: ModelArch, targets, method: str, bytes_per_element: int) -> float:
    """Peak transient bytes of one module's weight-norm computation (the largest adapted module; dora.py):
    the fp32 identity (a d_in^2) held through the forward, plus the larger of the fp32 product beside its 16-bit
    cast ((a + b) d_in d_out) and, at the add, the 16-bit product, its scaled copy and the sum (3 b d_in d_out),
    with the dequantised weight (b d_in d_out) on a 4-bit base. a = adapter bytes, b = compute bytes."""
    a, b = ADAPTER_BYTES, bytes_per_element
    quant = 1 if method == "qlora" else 0
    return max((a * d_in * d_in + d_in * d_out * max(a + b, (3 + quant) * b)
                for d_in, d_out, _n in _modules(arch, targets, active=False)), default=0.0)


def saved_weight_bytes(arch: ModelArch, targets, method: str, dropout: float, bytes_per_element: int) -> float:
    """Bytes one layer keeps for backward when DoRA recomputes base_result through the frozen weight (dropout > 0):
    F.linear keeps its weight; on a 4-bit base that is the dequantised 16-bit copy (on a 16-bit base, the
    parameter itself: nothing new)."""
    if method != "qlora" or not dropout:
        return 0.0
    return sum(d_in * d_out * n for d_in, d_out, n in _modules(arch, targets, active=True)) * bytes_per_element


def base_rematmul_params(arch: ModelArch, targets, dropout: float) -> int:
    """Weights DoRA multiplies a second time per token (dropout > 0: base_result = F.linear(dropout(x), W)), all
    layers, active experts; flops.py counts 2 per weight forward, 2 backward (input gradient) and 2 per recompute."""
    if not dropout:
        return 0
    return arch.num_layers * sum(d_in * d_out * n for d_in, d_out, n in _modules(arch, targets, active=True))


def weight_norm_cost(arch: ModelArch, targets, method: str, lora_r: int, bytes_per_element: int
                     ) -> tuple[float, float]:
    """(FLOPs, HBM bytes) of one forward's weight norms over every adapted module, all layers (once per forward
    and once more per recompute; independent of the tokens).

    FLOPs: eye(d_in) @ A^T and then @ B^T: 2 r d_in (d_in + d_out). Bytes: the identity written and read (2 a d_in^2);
    the fp32 product written, read and cast (2a + b per weight element); scaled (2b), added to W (3b) and normed (b);
    on a 4-bit base, W dequantised (0.5 read + b written)."""
    a, b = ADAPTER_BYTES, bytes_per_element
    per_weight = 2 * a + 7 * b + ((DEQUANT_READ_BYTES + b) if method == "qlora" else 0.0)
    flops = bytes_ = 0.0
    for d_in, d_out, n in _modules(arch, targets, active=False):
        flops += n * 2.0 * lora_r * d_in * (d_in + d_out)
        bytes_ += n * (2 * a * d_in * d_in + per_weight * d_in * d_out)
    return arch.num_layers * flops, arch.num_layers * bytes_
