"""Peak GPU memory of a fine-tuning step, per GPU, by component (bytes internally; GB = 1e9 bytes at the edge).

Model: weights + gradients + optimizer states (+ fp32 master copy) + activations + logits
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
CHUNKED_LOSS_CHUNKS = 8  # torchtune CEWithChunkedOutputLoss / LinearCrossEntropyLoss num_output_chunks default
TOOL_LORA_DROPOUT = 0.05  # frugaltune train's LoRA dropout (train/config.py), the default without a framework
ADAPTER_BYTES = 4  # peft keeps adapter weights in fp32 (autocast_adapter_dtype=True), so grads are fp32 too


@record(frozen=True)
class MemoryBytes:
    """Per-GPU bytes of each component at the step's peak, and how they combine (peak.py)."""

    weights: float
    gradients: float
    optimizer: float
    master: float
    activations: float
    logits: float
    quant_workspace: float
    overhead: float  # allocator slack (reserved - allocated) + CUDA context
    cpu_offload: float
    fragmentation: float = 0.0  # reserved - allocated: the caching allocator's cached, unused blocks
    context: float = 0.0  # CUDA context and kernels: device memory outside PyTorch's allocator
    grads_coexist: bool = True  # False: full gradients only exist once activations are freed (peak.py)
    working: float = 0.0  # the part of `activations` live only while backward recomputes a layer (not at the loss)
    dora_workspace: float = 0.0  # DoRA's weight-norm buffer, the part of `quant_workspace` that is DoRA's (dora.py)
    optimizer_step: float = 0.0  # transient buffers of the optimizer step, beside the gradients (optimizer_step_bytes)

    @property
    def dynamic(self) -> float:
        """Activations and logits at their common peak. With recomputation (or offload) the loss's working set and a
        recomputed layer's never coexist: the logits are freed before backward reaches the first layer, so the peak is
        the kept activations plus the larger of the two (activation_parts)."""
        return self.activations - self.working + max(self.working, self.logits)

    @property
    def static(self) -> float:
        """Allocated once and never freed: weights, optimizer states, master copy, the dequantisation buffer."""
        return self.weights + self.optimizer + self.master + self.quant_workspace

    @property
    def allocated(self) -> float:
        """torch.cuda.max_memory_allocated: live tensors at the step's peak: backward's (activations and logits, with
        the gradients where they coexist) or the optimizer step's (all gradients + the step's transient buffers, after
        the activations are freed), whichever is larger."""
        static = self.static
        dynamic = self.dynamic
        if self.grads_coexist:
            return static + self.gradients + max(dynamic, self.optimizer_step)
        return static + max(dynamic, self.gradients + self.optimizer_step)

    @property
    def reserved(self) -> float:
        """torch.cuda.max_memory_reserved: allocated + blocks the caching allocator holds but cannot reuse."""
        return self.allocated + self.fragmentation

    @property
    def peak(self) -> float:
        """What must fit on the GPU (the planning value): reserved + the CUDA context (what nvidia-smi shows)."""
        return self.reserved + self.context


def trainable_params(arch: ModelArch, method: str, lora_r: int, lora_targets: tuple[str, ...],
                     use_dora: bool = False) -> int:
    """Every weight (full), else the LoRA adapters (+ DoRA's magnitude vectors, dora.py)."""
    if method == "full":
        return shapes.total_params(arch)
    n = shapes.lora_params(arch, lora_r, lora_targets)
    if use_dora:
        from frugaltune.estimate.dora import magnitude_params

        n += magnitude_params(arch, lora_targets)
    return n


def weights_bytes(arch: ModelArch, method: str, precision: str, double_quant: bool = True) -> float:
    """Frozen or trained base weights. QLoRA quantises the decoder layers' linears to NF4; embeddings, LM head and
    norms stay in the 16-bit compute dtype."""
    n_total = shapes.total_params(arch)
    if method != "qlora":
        return n_total * BYTES_PER_ELEMENT[precision]
    n_quant = shapes.quantizable_params(arch)
    return n_quant * NF4_BITS_PER_PARAM[double_quant] / 8 + (n_total - n_quant) * 2


def quant_constant_bytes(arch: ModelArch, method: str, double_quant: bool = True) -> float:
    """The NF4 quantisation constants inside `weights_bytes` (absmax per 64-weight block, QLoRA section 3). Sharding
    engines split the packed 4-bit weights but not these: bitsandbytes keeps them in each layer's `quant_state`,
    outside the parameters FSDP shards (bitsandbytes docs, "FSDP-QLoRA"), so every GPU holds all of them."""
    if method != "qlora":
        return 0.0
    return shapes.quantizable_params(arch) * (NF4_BITS_PER_PARAM[double_quant] - 4.0) / 8


def gradient_bytes(method: str, precision: str, n_trainable: int, zero_stage: int = 0,
                   fp32_buffer: bool = False) -> float:
    """Gradients live in the trained parameters' dtype (16-bit model weights for full, fp32 adapters for LoRA).

    Under ZeRO with 16-bit mixed precision, DeepSpeed also accumulates gradients in an fp32 partition for the
    optimizer (BF16_Optimizer / fp32 `grad_accum_dtype`, DeepSpeed docs "bf16 training"): +4 B per param.
    `fp32_buffer` (Megatron-Core, stack.FP32_GRAD_BUFFER_FRAMEWORKS): the weight gradients are accumulated straight
    into one fp32 buffer that is also reduced in fp32, and no 16-bit gradient is kept: 4 B per param, whatever the
    ZeRO stage (the distributed optimizer shards states and main params, not that buffer).
    """
    if method != "full":
        return n_trainable * ADAPTER_BYTES
    if fp32_buffer and precision not in NO_MASTER:
        return n_trainable * 4.0
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


def optimizer_step_bytes(optimizer: str, optimizer_state_bytes: float, fused: bool) -> float:
    """Transient bytes of one optimizer step, live beside all gradients once backward has freed the activations.

    torch.optim.AdamW's default implementation on CUDA is the multi-tensor ("foreach") one
    (torch/optim/optimizer.py _default_to_fused_or_foreach), which for every (device, dtype) group computes
    `exp_avg_sq_sqrt = torch._foreach_sqrt(device_exp_avg_sqs)` before `_foreach_addcdiv_` (torch/optim/adamw.py
    _multi_tensor_adamw @002d2f0bb): a full copy of the second moments, half of AdamW's state, in the states' dtype and
    sharded as they are. The fused kernel (`fused=True`; torchtune's configs, pytorch/torchtune
    recipes/configs/llama3_1/8B_full.yaml @bd2a0fc7c `fused: True`), bitsandbytes' 8-bit optimizers (block-wise
    in-place kernels) and SGD without weight decay update in place: nothing.
    """
    if optimizer != "adamw" or fused:
        return 0.0
    return optimizer_state_bytes / 2.0


def norm_bytes_per_element(arch: ModelArch, precision: str, method: str, fused: bool) -> float:
    """Bytes one norm keeps per hidden element for backward.

    Hugging Face LlamaRMSNorm upcasts its input to fp32 (kept for pow and mul: 4 B; the input itself when it is
    already fp32), keeps its 16-bit normalised value only when its weight is trained (full fine-tuning), and its
    output is kept by the next linear (16-bit). A LayerNorm keeps its 16-bit input and output. Fused norms (Liger
    LigerRMSNorm, Unsloth, Inductor under torch.compile) keep the 16-bit input and a per-token rstd, plus the
    output the next linear keeps: 2 elements.
    """
    b = BYTES_PER_ELEMENT[precision]
    if fused or arch.norm_type.lower() != "rmsnorm":
        return 2.0 * b
    return 4.0 + b * (2 if method == "full" else 1)


def layer_activation_bytes_per_token(arch: ModelArch, precision: str, method: str, dropout_width: int,
                                     coef: Coefficients, fused: bool = False, eager_seq_len: int = 0,
                                     dora_bytes: float = 0.0) -> float:
    """Activation bytes one decoder layer keeps for backward, per token, without recomputation.

    Re-derivation of Korthikanti et al. 2022 ("Reducing Activation Recomputation", eq. 1, as summarised in
    EleutherAI's Transformer Math 101) for a Llama-style layer with SDPA/FlashAttention (no s^2 term): two norms
    (norm_bytes_per_element), attention keeps Q, K, V (GQA: K and V are num_kv_heads wide) and its output; a gated
    MLP keeps gate, up, act(gate) and their product (4 x intermediate; fused SwiGLU kernels, Liger
    LigerSiLUMulFunction or Inductor, keep gate and up and recompute the product for the down projection's input:
    3), a plain MLP keeps up and act(up) (2). LoRA does not shrink activations; with LoRA dropout each adapted module
    keeps its dropout output (16-bit) and mask (1 B) on its own input, `dropout_width` elements per token summed over
    the adapted modules (lora_dropout_width; with dropout 0 peft applies nn.Identity and lora_A saves the input the
    base layer already keeps: nothing extra). Eager attention (`eager_seq_len` > 0) also keeps, per head and token, the
    fp32 softmax output and its 16-bit cast over the key positions (transformers eager_attention_forward). DoRA
    keeps `dora_bytes` more per token (dora.saved_bytes_per_token: base_result and lora_result per module).
    `coef.activation_scale` is the one calibrated factor (fit on published measurements, see calibration.py).
    """
    b = BYTES_PER_ELEMENT[precision]
    h, kv = arch.hidden_size, arch.num_kv_heads * arch.head_dim
    gated = arch.mlp_type == "gated"
    mlp_saved = (3 if fused else 4) if gated else 2
    experts = max(arch.experts_per_token, 1)
    norms = arch.norms_per_layer * h * norm_bytes_per_element(arch, precision, method, fused)
    elements = 2 * h + 2 * kv + mlp_saved * arch.intermediate_size * experts
    lora_extra = dropout_width * (b + 1) + dora_bytes if method != "full" else 0.0
    eager = arch.num_heads * eager_seq_len * (4 + b) if eager_seq_len else 0.0
    return coef.activation_scale * (norms + elements * b + lora_extra + eager)


def activation_bytes(arch: ModelArch, precision: str, seq_len: int, micro_batch: int, grad_ckpt: bool,
                     per_token_layer: float, coef: Coefficients, offload: bool = False, tp: int = 1) -> float:
    """All layers' saved activations on the GPU at the peak of backward (activation_parts: kept + working)."""
    kept, working = activation_parts(arch, precision, seq_len, micro_batch, grad_ckpt, per_token_layer, coef,
                                     offload, tp)
    return kept + working


def activation_parts(arch: ModelArch, precision: str, seq_len: int, micro_batch: int, grad_ckpt: bool,
                     per_token_layer: float, coef: Coefficients, offload: bool = False, tp: int = 1
                     ) -> tuple[float, float]:
    """(kept, working): saved activations on the GPU from the loss through backward, and the working set that only
    lives while backward recomputes (or brings back) a layer, after the logits are freed.

    With full recomputation each layer keeps only its input (s*b*h in the compute dtype) and one layer's working set
    is live again during its recompute and backward (Chen et al. 2016; Korthikanti et al. 2022, section 4).
    Activation offloading (torchtune OffloadActivations, Unsloth's offloaded checkpointing) moves what is saved to CPU
    memory and brings it back just in time: the GPU keeps the working layers plus `coef.offload_resident_layers` in
    flight. Tensor parallelism with sequence parallelism (Korthikanti et al. 2022, section 4.2.2) splits every
    saved activation over the `tp` GPUs.
    """
    tokens = seq_len * micro_batch
    per_layer = per_token_layer * tokens / tp
    layer_input = tokens * arch.hidden_size * BYTES_PER_ELEMENT[precision] / tp
    if offload:
        working = coef.recompute_working_layers * per_layer if grad_ckpt else per_layer
        return coef.offload_resident_layers * (layer_input if grad_ckpt else per_layer), working
    if not grad_ckpt:
        return arch.num_layers * per_layer, 0.0
    return arch.num_layers * layer_input, coef.recompute_working_layers * per_layer


def liger_chunk_tokens(tokens: float, arch: ModelArch) -> float:
    """Tokens per chunk of a fused linear cross-entropy: Liger's 2**ceil(log2(ceil(BT / ceil(V / H)))), so that one
    chunk's logits are about the size of the hidden states (linkedin/Liger-Kernel fused_linear_cross_entropy.py)."""
    import math

    per = max(math.ceil(tokens / math.ceil(arch.vocab_size / arch.hidden_size)), 1)
    return min(float(2 ** math.ceil(math.log2(per))), tokens)


def logits_bytes(arch: ModelArch, tokens: float, loss: str, coef: Coefficients, tp: int = 1,
                 chunked_kept: float = 0.0) -> float:
    """Memory of the logits b*s*V at the loss, by loss implementation (vocabulary split over `tp` GPUs).

    - hf (transformers *ForCausalLM + F.cross_entropy): the 16-bit LM-head output, its fp32 upcast, the fp32
      log-softmax kept for backward and the fp32 gradient: `coef.logits_bytes_per_element` per logit (calibrated).
    - chunked (torchtune LinearCrossEntropyLoss / CEWithChunkedOutputLoss, LitGPT chunked_cross_entropy, TRL
      chunked_nll, frugaltune's runner): logits are materialised and upcast one chunk at a time (8 chunks: torchtune's
      default); what backward keeps of every chunk, `chunked_kept` bytes per logit, is the framework's
      (stack.CHUNKED_KEPT_BYTES_PER_LOGIT: 4 for torchtune and LitGPT, 0 where each chunk is recomputed), plus one
      chunk's hf working set.
    - fused (Liger LigerFusedLinearCrossEntropyLoss, Unsloth, Apple Cut Cross-Entropy): never the full logits; the
      gradient is computed chunk by chunk in the forward pass, one chunk ~ the hidden states (liger_chunk_tokens),
      and the hidden-state gradient (fp32) is kept for backward.
    """
    vocab = arch.vocab_size / tp
    if loss == "unsloth":  # 16-bit logits kept for backward, gradient written into them (stack.Stack.loss_kernel)
        return tokens * vocab * 2.0
    if loss == "fused":
        chunk = liger_chunk_tokens(tokens, arch)
        return chunk * vocab * coef.logits_bytes_per_element + tokens * arch.hidden_size * 4.0
    if loss == "chunked":
        chunk = tokens / CHUNKED_LOSS_CHUNKS
        return tokens * vocab * chunked_kept + chunk * vocab * coef.logits_bytes_per_element
    return tokens * vocab * coef.logits_bytes_per_element


def quant_workspace_bytes(arch: ModelArch, method: str) -> float:
    """QLoRA dequantises one layer's NF4 weights to 16-bit before each matmul; the largest layer's 16-bit copy is
    the transient workspace (bitsandbytes dequantize_4bit)."""
    if method != "qlora":
        return 0.0
    return shapes.layer_linear_params(arch, active=False) * 2.0


def shard_fraction(component: str, zero_stage: int, num_gpus: int, tp: int = 1) -> float:
    """Fraction of a component each GPU holds: tensor parallelism splits every weight (and its gradient and optimizer
    state) over `tp` GPUs (Shoeybi et al. 2019, Megatron-LM); ZeRO stage `zero_stage` (FSDP FULL_SHARD == 3) shards
    it further over the num_gpus / tp data-parallel replicas."""
    sharded_from = {"optimizer": 1, "master": 1, "gradients": 2, "weights": 3}[component]
    dp = max(num_gpus // tp, 1)
    return (1.0 / tp) * (1.0 / dp if zero_stage >= sharded_from and dp > 1 else 1.0)
