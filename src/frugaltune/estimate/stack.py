"""The training stack as an input: loss implementation, fused kernels, attention, activation offload, optimizer step
in backward, torch.compile, FP8 linears, tensor parallelism, and the framework whose documented defaults fill what
the user did not set.

`--framework X` sets X's documented defaults (table below, each with where it is documented); any single flag the
user gives overrides it. Physics of each input lives where it acts: memory.py (logits by loss, saved activations by
kernel class, offload, attention's s^2 term, tensor-parallel split), throughput.py (elementwise traffic by kernel
class, FP8 peak for linears, offload and tensor-parallel communication).
"""

from __future__ import annotations

from frugaltune.record import record

LOSSES = ("hf", "chunked", "fused")
KERNELS = ("hf", "liger", "unsloth", "te")
# sdpa: PyTorch scaled_dot_product_attention with is_causal and no mask (its flash backend); sdpa-masked: SDPA given
# an explicit attention mask (padded batches, or packed documents kept apart by a block-diagonal mask, under
# transformers), which PyTorch runs on its memory-efficient backend (estimate/throughput.py attention_kernel_slowdown).
# Left unset, "sdpa" resolves to one or the other by the batching (padded_batches). flash: FlashAttention's causal
# kernel, varlen over packed documents where the batch is padding-free (frugaltune train with model.attention
# flash_attention_2/3).
ATTENTIONS = ("eager", "sdpa", "sdpa-masked", "flash")
FRAMEWORKS = ("hf-trainer", "trl", "torchtune", "axolotl", "llama-factory", "unsloth", "litgpt", "megatron",
              "frugaltune")
STACK_FIELDS = ("loss", "kernels", "attention", "activation_offload", "optimizer_in_backward", "compile", "fp8")
# The frugaltune runner applies these itself (train/stack_runtime.py); the others are planning inputs.
RUNNER_IMPLEMENTS = {"loss": ("hf", "chunked", "fused"), "activation_offload": (False, True),
                     "optimizer_in_backward": (False, True), "compile": (False, True), "kernels": ("hf",),
                     "attention": ("sdpa", "sdpa-masked", "eager", "flash"), "fp8": (False,)}

# Frameworks that train transformers' own model forward (kernels may be patched into it, the forward is theirs).
TRANSFORMERS_FORWARD = ("hf-trainer", "trl", "axolotl", "frugaltune")

# Frameworks whose collator right-pads an unpacked micro-batch to its longest sample and passes the padding
# attention_mask to transformers' model (DataCollatorForSeq2Seq / DataCollatorWithPadding; frugaltune
# train/data.py collate). None is frugaltune's own runner, whose packed rows keep their documents apart with a
# block-diagonal mask under SDPA (padded_batches).
PADDING_FRAMEWORKS = (None, "hf-trainer", "trl", "axolotl", "llama-factory", "frugaltune")

# Frameworks whose packing keeps every document to itself under flash attention, padding-free: the varlen kernel reads
# each document's bounds (cu_seqlens) and attends it alone, so a packed token costs the attention of its document, not
# of the packed row (flops.packed_attention_length). None and frugaltune: frugaltune's runner flattens packed
# micro-batches into one row with position_ids restarting per document under flash_attention_2/3 (train/packing.py
# layout "flat"). trl: SFTConfig packing_strategy "bfd" by default, which turns padding_free on, "only supported with
# FlashAttention 2 or 3" (huggingface/trl trl/trainer/sft_config.py @016013e88). axolotl: sample_packing with flash
# attention concatenates the samples and passes their cu_seqlens (axolotl-ai-cloud/axolotl docs/multipack.qmd
# @088d177b). Not listed, so packed rows under flash attend over the whole row: LLaMA-Factory's `packing` (neat_packing,
# "sequence packing without cross-attention", is off by default: hiyouga/LLaMA-Factory
# src/llamafactory/hparams/data_args.py @ff6d4d1), Megatron-Core (its pre-training data attends across documents unless
# --reset-attention-mask; packed SFT runs the THD varlen path, which the estimator cannot tell from the flags), and
# the others, whose packing the estimator cannot tell apart. Under SDPA with a block mask
# (sdpa-masked) the kernel computes the whole row's score matrix whatever the documents.
VARLEN_PACKING_FRAMEWORKS = (None, "frugaltune", "trl", "axolotl")

# Frameworks whose documented AdamW is torch's fused kernel (no multi-tensor temporaries; memory.optimizer_step_bytes):
# torchtune's configs set `fused: True` (pytorch/torchtune recipes/configs/llama3_1/8B_full.yaml and 8B_lora.yaml
# @bd2a0fc7c, since cca50f02e 2024-09). HF Trainer's default optim adamw_torch, LitGPT's torch.optim.AdamW and
# accelerate's FSDP use the default multi-tensor (foreach) implementation. Megatron-Core's Adam is Transformer Engine's
# (or Apex's) FusedAdam (NVIDIA/Megatron-LM megatron/core/optimizer/__init__.py @d98e8a64).
FUSED_OPTIMIZER_FRAMEWORKS = ("torchtune", "megatron")

# Frameworks whose training loop keeps the GPU's queue full from one micro-batch to the next (throughput.host_seconds):
# Megatron-Core runs every micro-batch of a step inside forward_backward_func, the token count and losses stay on the
# GPU (NVIDIA/Megatron-LM megatron/core/pipeline_parallel/schedules.py forward_backward_no_pipelining @d98e8a64:
# total_num_tokens is a CUDA tensor), and batches come from DataLoader worker processes (Megatron-LM --num-workers 2,
# megatron/training/arguments.py; NVIDIA-NeMo/Megatron-Bridge src/megatron/bridge/recipes/common.py @067f987df:
# num_workers 2, recipes/llama/h100/llama3.py: 8), so no per-micro-batch host work is exposed beyond the layers'
# kernel launches. (Its loss function's NaN check reads one scalar per micro-batch: the host then only queues the
# backward, whose kernels it launches ahead of the GPU.)
HOST_OVERLAPPED_FRAMEWORKS = ("megatron",)

# Frameworks that accumulate weight gradients straight into one fp32 buffer, reduced in fp32, with no 16-bit gradient
# kept (memory.gradient_bytes): Megatron-Core with gradient_accumulation_fusion and grad_reduce_in_fp32, both on in
# NVIDIA-NeMo/Megatron-Bridge @067f987df (src/megatron/bridge/models/gpt_provider.py; recipes/common.py).
FP32_GRAD_BUFFER_FRAMEWORKS = ("megatron",)

# Frameworks that overlap tensor-parallel communication with the GEMMs that produce and consume it
# (throughput.throughput): Megatron-Bridge's Llama 3 70B recipes set CommOverlapConfig(tp_comm_overlap=True) with
# Transformer Engine userbuffers configs (NVIDIA-NeMo/Megatron-Bridge src/megatron/bridge/recipes/llama/llama3.py
# @0d5f5558 llama3_70b_pretrain_config; scripts/performance/configs/llama/llama3_llm_pretrain.py: the H100 configs'
# tp_comm_overlap_cfg userbuffers_{bf16,fp8}_h100_h8192_tp4_mbs1_seqlen8192), as do NeMo 2's performance recipes
# (MegatronCommOverlapCallback(tp_comm_overlap=True)): TE splits each all-gather / reduce-scatter into chunks and runs
# them beside the chunked GEMM, so only what outlasts the compute shows.
TP_OVERLAP_FRAMEWORKS = ("megatron",)

# What backward keeps per logit (bytes) with a chunked cross-entropy: the tensors autograd saves for every chunk until
# backward reaches it. Frameworks not listed (TRL's chunked_nll, frugaltune's runner, train/stack_runtime.py) run each
# chunk under activation checkpointing and recompute it in backward: 0.
CHUNKED_KEPT_BYTES_PER_LOGIT = {
    # LinearCrossEntropyLoss.compute_cross_entropy: F.cross_entropy(logits.float(), ...) per chunk saves each chunk's
    # fp32 log-softmax (4 B); the chunk's 16-bit logits and their fp32 copy are not saved, and the recipes `del logits`
    # before backward (pytorch/torchtune torchtune/modules/loss/cross_entropy_loss.py @bd2a0fc7c)
    "torchtune": 4.0,
    # finetune/lora.py: `logits = model(input_ids, lm_head_chunk_size=128)` stays referenced through
    # fabric.backward (16-bit chunks, 2 B), and chunked_cross_entropy's F.cross_entropy on each bf16 chunk saves its
    # bf16 log-softmax (2 B) (Lightning-AI/litgpt litgpt/finetune/lora.py and litgpt/utils.py @00af8b0d)
    "litgpt": 4.0,
}

# What the stack is when neither a framework nor a flag says otherwise: Hugging Face transformers + peft as
# frugaltune's runner uses them (SDPA attention is transformers' default since v4.36 where the model supports it).
TOOL_STACK = {"loss": "hf", "kernels": "hf", "attention": "sdpa", "activation_offload": False,
              "optimizer_in_backward": False, "compile": False, "fp8": False}


@record(frozen=True)
class FrameworkDefaults:
    stack: dict  # stack field -> value
    job: dict  # Job field -> value (precision, grad_ckpt, packing, optimizer, ...), only where documented
    source: str  # where the defaults are documented


FRAMEWORK_DEFAULTS = {
    "hf-trainer": FrameworkDefaults(
        {"loss": "hf", "kernels": "hf", "attention": "sdpa", "compile": False},
        {"grad_ckpt": False, "packing": False, "lora_dropout": 0.0},
        "transformers TrainingArguments: gradient_checkpointing=False, torch_compile=False (its precision default "
        "is fp32; runs state bf16/fp16, so --precision is left to the user); attn_implementation defaults to sdpa; "
        "peft LoraConfig lora_dropout=0.0 (huggingface/peft src/peft/tuners/lora/config.py @82f4c0241)"),
    "trl": FrameworkDefaults(
        {"loss": "chunked", "kernels": "hf", "attention": "sdpa", "compile": False},
        {"grad_ckpt": True, "packing": False, "precision": "bf16", "lora_dropout": 0.05},
        "huggingface/trl trl/trainer/sft_config.py @f2cd577 (v1.9): gradient_checkpointing=True and bf16=True "
        "(since 2025-08, #3510), packing=False, loss_type 'chunked_nll' (since 2026-06, #5846; older TRL: --loss hf); "
        "trl/trainer/model_config.py: lora_dropout=0.05"),
    "torchtune": FrameworkDefaults(
        {"loss": "chunked", "kernels": "hf", "attention": "sdpa", "compile": False, "activation_offload": False},
        {"grad_ckpt": True, "packing": False, "precision": "bf16-true", "lora_dropout": 0.0},
        "pytorch/torchtune recipes/configs/llama3_1/8B_lora_single_device.yaml @bd2a0fc: dtype bf16 (no AMP), "
        "lora_dropout 0.0, LinearCrossEntropyLoss (8 chunks), compile False, enable_activation_checkpointing True, "
        "enable_activation_offloading False, dataset.packed False; full single-device configs also set "
        "optimizer_in_bwd True with bitsandbytes PagedAdamW8bit"),
    "axolotl": FrameworkDefaults(
        {"loss": "hf", "kernels": "hf", "attention": "sdpa", "compile": False, "activation_offload": False},
        {"grad_ckpt": False, "packing": False, "precision": "bf16", "lora_dropout": 0.0},
        "axolotl-ai-cloud/axolotl src/axolotl/utils/schemas/config.py @067b021: bf16 'auto', "
        "gradient_checkpointing False, activation_offloading False, sample_packing unset, torch_compile unset; "
        "schemas/peft.py: lora_dropout 0.0"),
    "llama-factory": FrameworkDefaults(
        {"loss": "hf", "kernels": "hf", "attention": "sdpa", "compile": False},
        {"grad_ckpt": True, "packing": False, "lora_dropout": 0.0},
        "hiyouga/LLaMA-Factory src/llamafactory/hparams/model_args.py @ff6d4d1: disable_gradient_checkpointing "
        "False, flash_attn auto, enable_liger_kernel False, use_unsloth False; data_args.py: packing off for SFT; "
        "finetuning_args.py: lora_dropout 0.0"),
    "unsloth": FrameworkDefaults(
        {"loss": "fused", "kernels": "unsloth", "attention": "flash", "activation_offload": True},
        {"grad_ckpt": True, "packing": False, "lora_dropout": 0.0},
        "unslothai/unsloth unsloth/models/llama.py @015bdef: get_peft_model use_gradient_checkpointing='unsloth' "
        "(checkpoints offloaded to CPU), lora_dropout 0.0, fused cross-entropy and Triton kernels, flash attention"),
    "litgpt": FrameworkDefaults(
        {"loss": "chunked", "kernels": "hf", "attention": "sdpa", "compile": False},
        {"grad_ckpt": False, "packing": False, "precision": "bf16-true", "lora_dropout": 0.05},
        "Lightning-AI/litgpt config_hub/finetune/*/lora.yaml @2685705: precision bf16-true, lora_dropout 0.05; "
        "litgpt/finetune/lora.py: "
        "lm_head_chunk_size=128 with chunked_cross_entropy, no activation checkpointing"),
    # Megatron-Core as Megatron-LM, Megatron-Bridge and NeMo 2 run it: Transformer Engine layers (fused norm + linear,
    # fused RoPE, fused SwiGLU, fused softmax, wgrad accumulated into the fp32 grad buffer), TE / cuDNN fused attention,
    # a fused vocab-parallel cross-entropy over the full logits, overlapped gradient reduce-scatter and parameter
    # all-gather with the distributed optimizer, bf16 with fp32 main params, no recompute, DataLoader workers.
    "megatron": FrameworkDefaults(
        {"loss": "hf", "kernels": "te", "attention": "flash", "compile": False, "activation_offload": False},
        {"grad_ckpt": False, "precision": "bf16", "lora_dropout": 0.0},
        "NVIDIA/Megatron-LM megatron/core/transformer/transformer_config.py @002526d81: recompute_granularity None "
        "(no recompute), attention_backend auto (TE flash / cuDNN fused attention); NVIDIA-NeMo/Megatron-Bridge "
        "@067f987df src/megatron/bridge/models/gpt_provider.py: masked_softmax_fusion, cross_entropy_loss_fusion "
        "and gradient_accumulation_fusion on; models/llama/llama_bridge.py: bias_activation_fusion and "
        "apply_rope_fusion on; recipes/common.py: mixed_precision bf16_mixed, use_distributed_optimizer, "
        "overlap_grad_reduce and overlap_param_gather on, DataLoader num_workers 2; peft/lora.py: dropout 0.0"),
    "frugaltune": FrameworkDefaults(
        dict(TOOL_STACK), {"grad_ckpt": False, "packing": False, "lora_dropout": 0.05},
        "frugaltune train defaults (train/config.py): grad_ckpt false, packing false, lora dropout 0.05, loss on "
        "response rows"),
}


@record(frozen=True)
class Stack:
    """The resolved training stack of a job (every field set)."""

    framework: str | None
    loss: str
    kernels: str
    attention: str
    activation_offload: bool
    optimizer_in_backward: bool
    compile: bool
    fp8: bool
    tensor_parallel: int
    pipeline_parallel: int = 1
    virtual_pipeline: int = 1
    context_parallel: int = 1

    @property
    def model_parallel(self) -> int:
        """GPUs that hold one replica of the model: tensor x pipeline x context parallel (the rest are data
        parallel: Megatron-Core parallel_state, data-parallel size = world / (TP x PP x CP))."""
        return self.tensor_parallel * self.pipeline_parallel * self.context_parallel

    @property
    def loss_kernel(self) -> str:
        """How the logits are held: the loss flag, except that Unsloth's kernels replace an HF loss with their own
        cross-entropy, which keeps the 16-bit logits and writes the gradient into them in place
        (unsloth/kernels/cross_entropy_loss.py Fast_CrossEntropyLoss: save_for_backward(logits, ...), backward
        returns `logits` as dlogits). That saving needs Unsloth's own model forward (FastLanguageModel, which
        Unsloth, LLaMA-Factory's use_unsloth and ms-swift's unsloth back-end load): where the framework runs
        transformers' forward with Unsloth kernels patched in (hf-trainer, trl, axolotl, frugaltune), that forward
        upcasts the logits to fp32 before any loss (transformers modeling_llama.py v4.45: `logits = logits.float()`;
        v4.46+ loss_utils.ForCausalLMLoss: `logits = logits.float()`), so the logits are an hf loss's."""
        if self.loss == "hf" and self.kernels == "unsloth" and self.framework not in TRANSFORMERS_FORWARD:
            return "unsloth"
        return self.loss

    @property
    def chunked_kept_bytes_per_logit(self) -> float:
        """Bytes per logit a chunked loss keeps for backward (CHUNKED_KEPT_BYTES_PER_LOGIT; 0: recomputed). torchtune
        compiles the loss with the model (`compile: True`: apply_compile_strategy): AOTAutograd's min-cut partitioner
        never recomputes a matmul but recomputes pointwise ops and reductions, so each chunk saves its 16-bit logits
        (2 B) instead of the fp32 log-softmax (pytorch/pytorch torch/_functorch/partitioners.py @c28ba8e58
        solve_min_cut: should_ban_recomputation bans compute-intensive ops and small reductions, not pointwise ones)."""
        if self.framework == "torchtune" and self.compile:
            return 2.0
        return CHUNKED_KEPT_BYTES_PER_LOGIT.get(self.framework, 0.0)

    @property
    def fused_optimizer(self) -> bool:
        """The framework's AdamW is torch's fused kernel (FUSED_OPTIMIZER_FRAMEWORKS)."""
        return self.framework in FUSED_OPTIMIZER_FRAMEWORKS

    @property
    def host_overlapped(self) -> bool:
        """The training loop exposes no per-micro-batch host time (HOST_OVERLAPPED_FRAMEWORKS)."""
        return self.framework in HOST_OVERLAPPED_FRAMEWORKS

    @property
    def tp_overlapped(self) -> bool:
        """Tensor-parallel collectives run beside the GEMMs (TP_OVERLAP_FRAMEWORKS)."""
        return self.framework in TP_OVERLAP_FRAMEWORKS

    @property
    def fused_elementwise(self) -> bool:
        """Norms and the gated MLP run as fused kernels that save fewer tensors for backward (Liger, Unsloth,
        Transformer Engine's LayerNormLinear and fused SwiGLU, or torch.compile's Inductor fusing them)."""
        return self.kernels != "hf" or self.compile


def framework_job_defaults(framework: str | None, method: str | None = None, num_gpus: int = 1) -> dict:
    """Job-level defaults a framework documents (precision, grad_ckpt, packing, optimizer); {} without one."""
    if not framework:
        return {}
    out = dict(FRAMEWORK_DEFAULTS[framework].job)
    if framework == "torchtune" and method == "full" and num_gpus == 1:
        out["optimizer"] = "paged_adamw8bit"  # 8B_full_single_device.yaml: bitsandbytes PagedAdamW8bit
    if framework == "megatron" and num_gpus > 1:
        # the distributed optimizer shards fp32 main params and Adam states over data-parallel ranks (ZeRO-1):
        # NVIDIA-NeMo/Megatron-Bridge src/megatron/bridge/recipes/common.py @067f987df use_distributed_optimizer=True
        out["zero_stage"] = 1
    return out


def framework_stack_defaults(framework: str | None, method: str | None = None, num_gpus: int = 1) -> dict:
    out = dict(TOOL_STACK)
    if framework:
        out.update(FRAMEWORK_DEFAULTS[framework].stack)
        if framework == "torchtune" and method == "full" and num_gpus == 1:
            out["optimizer_in_backward"] = True  # 8B_full_single_device.yaml: optimizer_in_bwd True
    return out


def resolve_stack(job) -> Stack:
    """The job's stack: each field the user set, else the framework's documented default, else the tool's.
    Liger and Unsloth kernels bring their fused linear cross-entropy unless a loss is given (Liger's
    AutoLigerKernelForCausalLM applies fused_linear_cross_entropy by default; Unsloth patches the LM head loss), and
    Unsloth's gradient checkpointing offloads the checkpoints to CPU (use_gradient_checkpointing="unsloth", the
    default of its get_peft_model)."""
    defaults = framework_stack_defaults(job.framework, job.method, job.num_gpus)
    if job.kernels in ("liger", "unsloth"):
        defaults["loss"] = "fused"
    if job.kernels == "unsloth" and job.grad_ckpt:
        defaults["activation_offload"] = True  # Unsloth's checkpointing offloads the checkpoints (see FRAMEWORKS)
    values = {name: getattr(job, name) if getattr(job, name) is not None else defaults[name] for name in STACK_FIELDS}
    if job.attention is None and values["attention"] == "sdpa" and padded_batches(job):
        values["attention"] = "sdpa-masked"
    return Stack(framework=job.framework, tensor_parallel=max(int(job.tensor_parallel or 1), 1),
                 pipeline_parallel=max(int(job.pipeline_parallel or 1), 1),
                 virtual_pipeline=max(int(job.virtual_pipeline or 1), 1),
                 context_parallel=max(int(job.context_parallel or 1), 1), **values)


def padded_batches(job) -> bool:
    """Whether transformers must give SDPA an explicit mask for the job's micro-batches (padding, or packed documents).

    transformers drops the mask and calls SDPA with is_causal=True only when the 2-D attention_mask has no zero
    (AttentionMaskConverter._ignore_causal_mask_sdpa: `torch.all(attention_mask == 1)`, transformers
    modeling_attn_mask_utils.py v4.49.0; integrations/sdpa_attention.py: is_causal = causal_mask is None); with any
    padding it builds a 4-D causal-plus-padding mask, which PyTorch's flash backend refuses (sdp_utils.cpp
    can_use_flash_attention: check_for_attn_mask, pytorch/pytorch aten/src/ATen/native/transformers/cuda @001f694a),
    so the memory-efficient backend runs. A micro-batch of one sequence has no padding. Unpacked samples of
    different lengths are padded to the longest; frameworks' packing fills fixed-length rows where documents attend
    to each other (no mask), except frugaltune's own runner: its packed rows keep each document to itself through
    position_ids that restart at every document, and transformers turns those into a block-diagonal causal mask
    for SDPA, whatever the micro-batch size (masking_utils.py find_packed_sequence_indices, transformers 5.24.0;
    train/packing.py). Under flash attention the same position_ids select the varlen kernel (no mask): an explicit
    --attention flash is kept as given."""
    if job.framework not in PADDING_FRAMEWORKS:
        return False
    if job.packing and job.framework in (None, "frugaltune"):
        return True
    return job.micro_batch > 1 and not job.packing


def documents_attend_alone(job, stack: Stack) -> bool:
    """Whether the job's packed documents are attended one by one by a varlen flash kernel
    (VARLEN_PACKING_FRAMEWORKS): packing, flash attention, and a framework whose packing is padding-free."""
    return bool(job.packing) and stack.attention == "flash" and job.framework in VARLEN_PACKING_FRAMEWORKS


# Frameworks whose sharded training goes through accelerate (FSDP / DeepSpeed): with mixed precision on, accelerate
# upcasts every trainable 16-bit parameter to fp32 (accelerate/accelerator.py prepare_model: "Upcasted low precision
# parameters ... because mixed precision turned on in FSDP"), and DeepSpeed's bf16 mode keeps fp32 master weights.
ACCELERATE_FRAMEWORKS = (None, "hf-trainer", "trl", "axolotl", "llama-factory", "unsloth", "frugaltune")


def sharded_precision(job, precision: str, stack: Stack) -> str:
    """Pure bf16 full fine-tuning sharded by accelerate (ZeRO / FSDP) trains fp32 master weights: mixed bf16."""
    if (precision == "bf16-true" and job.method == "full" and job.zero_stage >= 1 and job.num_gpus > 1
            and stack.framework in ACCELERATE_FRAMEWORKS):
        return "bf16"
    return precision


def stack_problems(job) -> list[str]:
    """Invalid stack values, each naming its flag and the allowed values."""
    checks = [("framework", FRAMEWORKS, True), ("loss", LOSSES, True), ("kernels", KERNELS, True),
              ("attention", ATTENTIONS, True)]
    out = []
    for name, allowed, optional in checks:
        value = getattr(job, name)
        if not (value is None and optional) and value not in allowed:
            out.append(f"{name} (--{name}) = {value!r}: expected one of {', '.join(allowed)}")
    degrees = {}
    for name in PARALLEL_FIELDS:
        value = getattr(job, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            out.append(f"{name} (--{name.replace('_', '-')}) = {value!r}: expected a whole number >= 1")
        else:
            degrees[name] = value
    if len(degrees) < len(PARALLEL_FIELDS):
        return out
    tp, pp, vp, cp = (degrees[n] for n in PARALLEL_FIELDS)
    if job.num_gpus % tp:
        out.append(f"tensor_parallel (--tensor-parallel) = {tp}: must divide --num-gpus ({job.num_gpus})")
    elif pp > 1 and job.num_gpus % (tp * pp):
        out.append(f"pipeline_parallel (--pipeline-parallel) = {pp}: --tensor-parallel x --pipeline-parallel "
                   f"({tp * pp}) must divide --num-gpus ({job.num_gpus})")
    elif cp > 1 and job.num_gpus % (tp * pp * cp):
        out.append(f"context_parallel (--context-parallel) = {cp}: --tensor-parallel x --pipeline-parallel x "
                   f"--context-parallel ({tp * pp * cp}) must divide --num-gpus ({job.num_gpus})")
    layers = job.model.num_layers
    if pp > layers:
        out.append(f"pipeline_parallel (--pipeline-parallel) = {pp}: more stages than the model's {layers} layers")
    if vp > 1 and pp == 1:
        out.append(f"virtual_pipeline (--virtual-pipeline) = {vp}: needs --pipeline-parallel > 1 (model chunks "
                   "interleave over pipeline stages)")
    elif vp > 1 and pp * vp > layers:
        out.append(f"virtual_pipeline (--virtual-pipeline) = {vp}: {pp} stages x {vp} chunks is more than the "
                   f"model's {layers} layers")
    if cp > 1 and job.seq_len % (2 * cp):
        # Megatron-Core splits the sequence into 2 x CP chunks, two per rank, to balance causal attention
        out.append(f"context_parallel (--context-parallel) = {cp}: --seq-len ({job.seq_len}) must be a multiple "
                   f"of 2 x --context-parallel ({2 * cp})")
    return out


# The parallel degrees a job states (validated together by stack_problems).
PARALLEL_FIELDS = ("tensor_parallel", "pipeline_parallel", "virtual_pipeline", "context_parallel")


def stack_warnings(stack: Stack, job, gpu) -> list[str]:
    """What the estimate assumes about inputs that the hardware or the runner cannot honour."""
    out = []
    if stack.fp8 and not (gpu.fp8_supported and gpu.fp8_tflops):
        out.append(f"--fp8: {gpu.name} has no FP8 tensor cores; estimated at the 16-bit peak")
    if stack.optimizer_in_backward and job.grad_accum > 1:
        out.append("--optimizer-in-backward needs grad_accum 1 (the step runs as each gradient is ready); "
                   "estimated with grad_accum 1's memory")
    if stack.tensor_parallel > 1 and job.model.num_kv_heads % stack.tensor_parallel:
        out.append(f"--tensor-parallel {stack.tensor_parallel} does not divide the {job.model.num_kv_heads} KV heads: "
                   "frameworks replicate them; estimated as an even split")
    planning = [f"{name} {_show(getattr(stack, name))}" for name, allowed in RUNNER_IMPLEMENTS.items()
                if getattr(stack, name) not in allowed]
    if stack.host_overlapped:  # its training loop (throughput.host_seconds) is not frugaltune train's
        planning.insert(0, f"framework {stack.framework}")
    for name in ("tensor_parallel", "pipeline_parallel", "virtual_pipeline", "context_parallel"):
        if getattr(stack, name) > 1:
            planning.append(f"{name.replace('_', '-')} {getattr(stack, name)}")
    if planning:
        out.append("planning input(s) " + ", ".join(planning) + ": estimated as your framework runs them; "
                   "frugaltune train does not apply them")
    return out


def _show(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)
