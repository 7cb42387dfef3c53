"""Peak GPU memory of a fine-tuning step, per GPU, by component (bytes internally; GB = 1e9 bytes at the edge).

Model (shared/DESIGN.md): weights + gradients + optimizer states (+ fp32 master copy) + activations + logits
+ quantisation workspace + framework overhead, partitioned by ZeRO stage / FSDP over the GPUs and optionally
offloaded to CPU (Rajbhandari et al. 2020, "ZeRO", section 5: stage 1 shards optimizer states, stage 2 also
gradients, stage 3 also parameters; ZeRO-Offload, Ren et al. 2021, moves optimizer states to CPU RAM).
"""

from __future__ import annotations

from frugaltune.catalog.types import ModelArch
from frugaltune.estimate import shapes
from frugaltune.estimate.calibration import Coefficients
from frugaltune.record import record

BYTES_PER_ELEMENT = {"bf16": 2, "fp16": 2, "fp32": 4, "bf16-true": 2}
# Precisions whose trained weights are their own optimizer copy: no fp32 master (fp32 itself, pure bf16).
NO_MASTER = ("fp32", "bf16-true")
# Optimizer state bytes per trainable param: AdamW keeps two fp32 moments (Loshchilov & Hutter 2019);
# bitsandbytes 8-bit Adam keeps two 8-bit moments (Dettmers et al. 2022, "8-bit Optimizers"; block-wise constants
# are < 1 %); SGD with momentum keeps one fp32 buffer.
OPTIMIZER_BYTES_PER_PARAM = {"adamw": 8.0, "adamw8bit": 2.0, "paged_adamw8bit": 2.0, "sgd": 4.0}
# NF4 stores 4 bits per weight plus quantisation constants: 32-bit absmax per 64 weights = 0.5 bit/param,
# or 0.127 bit/param with double quantisation (Dettmers et al. 2023, "QLoRA", section 3).
NF4_BITS_PER_PARAM = {True: 4.0 + 0.127, False: 4.0 + 0.5}
ADAPTER_BYTES = 4  # peft keeps adapter weights in fp32 (autocast_adapter_dtype=True), so grads are fp32 too


@record(frozen=True)
class MemoryBytes:
    """Per-GPU bytes of each component at the step's peak."""

    weights: float
    gradients: float
    optimizer: float
    master: float
    activations: float
    logits: float
    quant_workspace: float
    overhead: float
    cpu_offload: float

    @property
    def peak(self) -> float:
        return (self.weights + self.gradients + self.optimizer + self.master + self.activations + self.logits
                + self.quant_workspace + self.overhead)


def trainable_params(arch: ModelArch, method: str, lora_r: int, lora_targets: tuple[str, ...]) -> int:
    if method == "full":
        return shapes.total_params(arch)
    return shapes.lora_params(arch, lora_r, lora_targets)


def weights_bytes(arch: ModelArch, method: str, precision: str, double_quant: bool = True) -> float:
    """Frozen or trained base weights. QLoRA quantises the decoder layers' linears to NF4; embeddings, LM head and
    norms stay in the 16-bit compute dtype."""
    n_total = shapes.total_params(arch)
    if method != "qlora":
        return n_total * BYTES_PER_ELEMENT[precision]
    n_quant = shapes.quantizable_params(arch)
    return n_quant * NF4_BITS_PER_PARAM[double_quant] / 8 + (n_total - n_quant) * 2


def gradient_bytes(method: str, precision: str, n_trainable: int, zero_stage: int = 0) -> float:
    """Gradients live in the trained parameters' dtype (16-bit model weights for full, fp32 adapters for LoRA).

    Under ZeRO with 16-bit mixed precision, DeepSpeed also accumulates gradients in an fp32 partition for the
    optimizer (BF16_Optimizer / fp32 `grad_accum_dtype`, DeepSpeed docs "bf16 training"): +4 B per param.
    """
    if method != "full":
        return n_trainable * ADAPTER_BYTES
    grads = n_trainable * BYTES_PER_ELEMENT[precision]
    if zero_stage >= 1 and precision not in NO_MASTER:
        grads += n_trainable * 4.0
    return grads


def master_bytes(method: str, precision: str, n_trainable: int) -> float:
    """Mixed-precision full fine-tuning keeps an fp32 master copy of 16-bit weights (Micikevicius et al. 2018);
    fp32 training, pure bf16 (bf16-true) and fp32 LoRA adapters need none."""
    return n_trainable * 4.0 if method == "full" and precision not in NO_MASTER else 0.0


def optimizer_bytes(optimizer: str, n_trainable: int, method: str = "lora", precision: str = "bf16") -> float:
    """Optimizer state bytes. torch's AdamW/SGD keep their state in the parameter's dtype, so pure-bf16 full
    fine-tuning (bf16-true) halves them; 8-bit optimizers are 8-bit either way; LoRA adapters are fp32 (peft)."""
    per_param = OPTIMIZER_BYTES_PER_PARAM[optimizer]
    if method == "full" and precision == "bf16-true" and optimizer in ("adamw", "sgd"):
        per_param /= 2
    return n_trainable * per_param


def layer_activation_bytes_per_token(arch: ModelArch, precision: str, method: str, n_lora_targets: int,
                                     coef: Coefficients) -> float:
    """Activation bytes one decoder layer keeps for backward, per token, without recomputation.

    Re-derivation of Korthikanti et al. 2022 ("Reducing Activation Recomputation", eq. 1, as summarised in
    EleutherAI's Transformer Math 101) for a Llama-style layer with SDPA/FlashAttention (no s^2 term): each RMSNorm
    keeps its input upcast to fp32 and its normalised output (Hugging Face LlamaRMSNorm; a LayerNorm keeps its
    16-bit input and output), attention keeps Q, K, V
    (GQA: K and V are num_kv_heads wide) and its output; a gated MLP keeps gate, up, act(gate) and their product
    (4 x intermediate), a plain MLP keeps up and act(up) (2 x intermediate). LoRA does not shrink activations; each
    adapted module adds its dropout output and mask on the module input. `coef.activation_scale` is the one
    calibrated factor (fit on published measurements, see calibration.py).
    """
    b = BYTES_PER_ELEMENT[precision]
    h, kv = arch.hidden_size, arch.num_kv_heads * arch.head_dim
    mlp_saved = 4 if arch.mlp_type == "gated" else 2
    experts = max(arch.experts_per_token, 1)
    norm_units = coef.rmsnorm_units if arch.norm_type.lower() == "rmsnorm" else coef.layernorm_units
    elements = arch.norms_per_layer * norm_units * h + 2 * h + 2 * kv + mlp_saved * arch.intermediate_size * experts
    lora_extra = n_lora_targets * h * (b + 1) if method != "full" else 0.0
    return coef.activation_scale * (elements * b + lora_extra)


def activation_bytes(arch: ModelArch, precision: str, method: str, n_lora_targets: int, seq_len: int,
                     micro_batch: int, grad_ckpt: bool, coef: Coefficients) -> float:
    """All layers' saved activations at the peak of backward.

    With full recomputation each layer keeps only its input (s*b*h in the compute dtype) and one layer's working set
    is live again during its recompute and backward (Chen et al. 2016; Korthikanti et al. 2022, section 4).
    """
    tokens = seq_len * micro_batch
    per_layer = layer_activation_bytes_per_token(arch, precision, method, n_lora_targets, coef) * tokens
    if not grad_ckpt:
        return arch.num_layers * per_layer
    checkpoints = arch.num_layers * tokens * arch.hidden_size * BYTES_PER_ELEMENT[precision]
    return checkpoints + coef.recompute_working_layers * per_layer


def logits_bytes(arch: ModelArch, seq_len: int, micro_batch: int, coef: Coefficients) -> float:
    """Logits b*s*V exist several times at the loss: the 16-bit LM-head output, its fp32 upcast, and the fp32
    gradient of the cross-entropy (Hugging Face *ForCausalLM). `coef.logits_bytes_per_element` sums those copies."""
    return seq_len * micro_batch * arch.vocab_size * coef.logits_bytes_per_element


def quant_workspace_bytes(arch: ModelArch, method: str) -> float:
    """QLoRA dequantises one layer's NF4 weights to 16-bit before each matmul; the largest layer's 16-bit copy is
    the transient workspace (bitsandbytes dequantize_4bit)."""
    if method != "qlora":
        return 0.0
    return shapes.layer_linear_params(arch, active=False) * 2.0


def shard_fraction(component: str, zero_stage: int, num_gpus: int) -> float:
    """Fraction of a component each GPU holds under ZeRO stage `zero_stage` (FSDP FULL_SHARD == 3)."""
    sharded_from = {"optimizer": 1, "master": 1, "gradients": 2, "weights": 3}[component]
    return 1.0 / num_gpus if zero_stage >= sharded_from and num_gpus > 1 else 1.0
