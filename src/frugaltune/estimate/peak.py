"""Peak memory per GPU of one job: components (memory.py) placed in the step's timeline, then allocated, reserved and
the planning value (GB = 1e9 bytes at the edge).

Timeline (PyTorch autograd with `zero_grad(set_to_none=True)`, the default since torch 2.0): activations and logits
peak at the start of backward; gradients are created as backward frees activations layer by layer, so for full
fine-tuning with one micro-batch per step the two never coexist in full: the peak is max(activations + logits,
gradients) over the static weights and optimizer states. Gradients persist next to activations when accumulated
over micro-batches, under DeepSpeed ZeRO / FSDP (gradient buffers), and always for adapters (tiny). Fusing the
optimizer step into backward (torchtune optimizer_in_bwd, PyTorch's register_post_accumulate_grad_hook tutorial)
frees each gradient as soon as its parameter is updated: only the largest parameter's gradient is ever live.

Reserved = allocated + the caching allocator's cached blocks: a fraction of the peak for fixed shapes, more when
unpacked, variable-length batches change tensor sizes every step (blocks of one size cannot serve another:
PyTorch CUDA caching allocator notes, "Memory management").
"""

from __future__ import annotations

from frugaltune.estimate import dora, pipeline, shapes
from frugaltune.estimate import memory as mem
from frugaltune.estimate import records as rec
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.shapes import ATTENTION_TARGETS, layer_linear_params, layer_targets, projection_shapes
from frugaltune.estimate.stack import Stack, resolve_stack


def embedding_training_params(job: rec.Job) -> int:
    """Embedding (+ untied LM head) params trained in full next to LoRA adapters (peft modules_to_save)."""
    if job.method == "full" or not job.trainable_embeddings:
        return 0
    return job.model.vocab_size * job.model.hidden_size * (1 if job.model.tie_word_embeddings else 2)


def peak_seq_len(job: rec.Job) -> int:
    """Peak memory comes with the longest micro-batch: the packed length, or the longest sample when known."""
    return job.seq_len if job.packing else min(job.seq_len, job.longest_sample_tokens or job.seq_len)


def variable_length(job: rec.Job) -> bool:
    """Unpacked batches padded per batch (not to seq_len) change shape every step."""
    return not job.packing and (job.padded_tokens_per_sample is None or job.padded_tokens_per_sample < job.seq_len)


def untied_head_params(job: rec.Job) -> int:
    """A second V x h matrix where the framework keeps its own LM head beside a tied embedding: LitGPT's GPT has
    `lm_head = nn.Linear(...)` and no weight tying (litgpt/model.py), and its checkpoint converter copies a tied
    model's embedding into it (litgpt/scripts/convert_hf_checkpoint.py @00af8b0d: `if "lm_head.weight" not in
    state_dict: state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]`)."""
    arch = job.model
    return arch.vocab_size * arch.hidden_size if job.framework == "litgpt" and arch.tie_word_embeddings else 0


def head_copy_bytes(job: rec.Job, precision: str) -> float:
    """The untied head copy's bytes: 4-bit under QLoRA (Lightning's BitsandbytesPrecision replaces every
    torch.nn.Linear with its bitsandbytes class, the head's too), else the weights' dtype."""
    bits = mem.NF4_BITS_PER_PARAM[job.double_quant] if job.method == "qlora" else 8 * mem.BYTES_PER_ELEMENT[precision]
    return untied_head_params(job) * bits / 8


def fp32_grad_buffer(job: rec.Job) -> bool:
    """The job's framework keeps its gradients in one fp32 buffer (stack.FP32_GRAD_BUFFER_FRAMEWORKS)."""
    from frugaltune.estimate.stack import FP32_GRAD_BUFFER_FRAMEWORKS

    return job.framework in FP32_GRAD_BUFFER_FRAMEWORKS


def state_parts(job: rec.Job, precision: str) -> dict[str, float]:
    """Unsharded bytes of weights, gradients, optimizer states and the fp32 master copy."""
    arch, z = job.model, job.zero_stage
    n_train = mem.trainable_params(arch, job.method, job.lora_r, job.lora_targets, job.use_dora)
    if job.method == "full":
        n_train += untied_head_params(job)
    parts = {
        "weights": mem.weights_bytes(arch, job.method, precision, job.double_quant) + head_copy_bytes(job, precision),
        "gradients": mem.gradient_bytes(job.method, precision, n_train, z, fp32_grad_buffer(job)),
        "optimizer": mem.optimizer_bytes(job.optimizer, n_train, job.method, precision),
        "master": mem.master_bytes(job.method, precision, n_train),
    }
    if job.method != "full":
        parts["weights"] += n_train * mem.ADAPTER_BYTES
        # modules_to_save: a trainable copy in the loaded 16-bit dtype, its 16-bit gradients, and torch AdamW states in
        # the parameter's dtype (torch/optim/adamw.py: zeros_like(p)), 4 B per param
        n_emb = embedding_training_params(job)
        parts["weights"] += n_emb * 2
        parts["gradients"] += n_emb * 2
        parts["optimizer"] += mem.optimizer_bytes(job.optimizer, n_emb, "full", "bf16-true")  # states in its dtype
    return parts


def largest_gradient_bytes(job: rec.Job, precision: str) -> float:
    """With the optimizer step in backward, one parameter's gradient at a time: the largest matrix (the embedding
    or LM head, else one layer's largest projection)."""
    arch = job.model
    biggest = max(arch.vocab_size * arch.hidden_size, layer_linear_params(arch) // 3)
    return biggest * mem.BYTES_PER_ELEMENT[precision]


GATHERED_LAYERS = 2  # the layer computing and the next one, prefetched


def pipeline_sharded_gradients(job: rec.Job, precision: str, parts: dict[str, float], stage_gpus: int,
                               tp: int) -> float:
    """FSDP under pipeline parallelism keeps a stage's gradients unsharded until its last micro-batch's backward: the
    pipeline schedule turns gradient reduce-scatter off for the others (torch.distributed.pipelining
    _PipelineStageBase.backward_maybe_with_nosync: set_requires_gradient_sync(False), set_reshard_after_backward(False)
    on an FSDPModule), so each GPU accumulates its stage's whole gradient, in the reduce dtype (fp32 under mixed
    precision: FSDP2 accumulates unsharded gradients in MixedPrecisionPolicy.reduce_dtype), beside its shard."""
    per_param = 4.0 if precision not in mem.NO_MASTER else mem.BYTES_PER_ELEMENT[precision]
    if job.method != "full":
        return parts["gradients"] / tp
    stage_params = parts["weights"] / mem.BYTES_PER_ELEMENT[precision]
    shard = parts["gradients"] * mem.shard_fraction("gradients", job.zero_stage, stage_gpus, tp)
    return stage_params * per_param / tp + shard


def gathered_weight_bytes(job: rec.Job, weights_bytes: float, tp: int, num_gpus: int | None = None,
                          pp: int = 1) -> float:
    """ZeRO-3 / FSDP full shard all-gathers each decoder layer's weights before its forward and its backward and
    frees them after: with the next layer prefetched (FSDP's default BackwardPrefetch.BACKWARD_PRE, which "overlaps
    the next all-gather with the current gradient computation" at the cost of peak memory; DeepSpeed's
    stage3_prefetch_bucket_size), GATHERED_LAYERS layers' unsharded weights are live beside the GPU's own shard:
    a layer's share of the sharded weights (their dtype: NF4 for QLoRA), less the part the shard already holds; a
    model of fewer layers than that is gathered whole. `weights_bytes` are those of `pp` pipeline stages' one
    (num_layers / pp layers), sharded over `num_gpus` (default: the job's)."""
    kept = mem.shard_fraction("weights", job.zero_stage, num_gpus or job.num_gpus, tp) * tp
    if kept >= 1.0:
        return 0.0
    if pp > 1:
        # under pipeline parallelism FSDP keeps every layer of the stage gathered from its first forward to its
        # backward: torchtitan apply_fsdp reshard_after_forward = not pp_enabled, "to avoid per-microbatch
        # all-gathers" (pytorch/torchtitan torchtitan/models/llama3/infra/parallelize.py)
        return weights_bytes / tp * (1.0 - kept)
    layers = max(job.model.num_layers, 1)
    return min(GATHERED_LAYERS, layers) / layers * weights_bytes / tp * (1.0 - kept)


def offload_gradient_unit_bytes(job: rec.Job, precision: str) -> float:
    """With CPU offload the gradients go to CPU memory, where the optimizer steps (PyTorch FSDP CPUOffload:
    "offload_params=True ... offloads gradients to CPU as well, meaning that the optimizer step runs on CPU";
    DeepSpeed ZeRO-Offload, Ren et al. 2021: gradients are reduced and copied to the CPU optimizer): the GPU holds one
    unit's gradient while it is reduced and copied out, a decoder layer's trainable parameters (full fine-tuning:
    or the embedding, if larger) in their own dtype."""
    arch = job.model
    n_train = mem.trainable_params(arch, job.method, job.lora_r, job.lora_targets, job.use_dora)
    unit = n_train / max(arch.num_layers, 1)
    if job.method == "full":
        unit = max(unit, arch.vocab_size * arch.hidden_size)
    return mem.gradient_bytes(job.method, precision, int(unit))


def lora_dropout_width(job: rec.Job) -> int:
    """Input elements per token, summed over one layer's adapted modules, that LoRA dropout copies (0 without
    dropout; each module has its own dropout, so q, k and v copy their shared input three times; down_proj's input
    is the MLP's intermediate width; MoE experts count the active ones)."""
    if job.method == "full" or not lora_dropout(job):
        return 0
    shapes = projection_shapes(job.model)
    experts = max(job.model.experts_per_token, 1)
    return sum(shapes[t][0] * (1 if t in ATTENTION_TARGETS else experts)
               for t in layer_targets(job.model, job.lora_targets))


def lora_dropout(job: rec.Job) -> float:
    """The job's LoRA dropout: as given, else the framework's documented default (stack.framework_job_defaults),
    else frugaltune train's (train/config.py LoraSection.dropout)."""
    if job.lora_dropout is not None:
        return job.lora_dropout
    from frugaltune.estimate.stack import framework_job_defaults

    return framework_job_defaults(job.framework).get("lora_dropout", mem.TOOL_LORA_DROPOUT)


def uses_dora(job: rec.Job) -> bool:
    """DoRA applies to adapters: ignored under full fine-tuning (build_job refuses that combination)."""
    return job.use_dora and job.method != "full"


def dora_warnings(job: rec.Job, precision: str, coef: Coefficients, flops_per_token: float, tp: int) -> list[str]:
    """DoRA with LoRA dropout: what the second base matmul costs (dora.py) and the setting that avoids it."""
    dropout = lora_dropout(job) if uses_dora(job) else 0.0
    if not dropout:
        return []
    rematmul = dora.base_rematmul_params(job.model, job.lora_targets, dropout) * (6 if job.grad_ckpt else 4)
    share = rematmul / max(flops_per_token - rematmul, 1.0)
    _ws, kept, working = dora_memory_bytes(job, precision, coef)
    held = f" and keeps dequantised weights for backward (+{(kept + working) / tp / 1e9:.1f} GB)" if kept + working else ""
    return [f"DoRA with LoRA dropout {dropout:g} multiplies each adapted weight a second time (+{share:.0%} FLOPs)"
            f"{held}: --lora-dropout 0 lets peft reuse the base layer's output"]


def layer_bytes_per_token(job: rec.Job, precision: str, coef: Coefficients, stack: Stack, seq_len: int) -> float:
    """Saved activation bytes per token of one decoder layer for this job's stack (memory.py)."""
    eager_s = seq_len if stack.attention == "eager" else 0
    dora_bytes = dora.saved_bytes_per_token(job.model, job.lora_targets, precision) if uses_dora(job) else 0.0
    return mem.layer_activation_bytes_per_token(job.model, precision, job.method, lora_dropout_width(job), coef,
                                                stack.fused_elementwise, eager_s, dora_bytes)


def dora_memory_bytes(job: rec.Job, precision: str, coef: Coefficients) -> tuple[float, float, float]:
    """(workspace, kept, working) bytes DoRA adds (dora.py): one module's weight-norm buffer, and the dequantised
    weights kept for backward when a 4-bit base is re-multiplied under dropout (every layer's without
    checkpointing; the recomputed layers' with it)."""
    if not uses_dora(job):
        return 0.0, 0.0, 0.0
    b = mem.BYTES_PER_ELEMENT[precision]
    workspace = dora.workspace_bytes(job.model, job.lora_targets, job.method, b)
    per_layer = dora.saved_weight_bytes(job.model, job.lora_targets, job.method, lora_dropout(job), b)
    if job.grad_ckpt:
        return workspace, 0.0, coef.recompute_working_layers * per_layer
    return workspace, job.model.num_layers * per_layer, 0.0


def grads_coexist(job: rec.Job, stack: Stack) -> bool:
    return (job.method != "full" or job.grad_accum > 1 or job.zero_stage >= 1) and not stack.optimizer_in_backward


def memory_breakdown(job: rec.Job, precision: str, coef: Coefficients, stack: Stack | None = None) -> mem.MemoryBytes:
    """Per-GPU bytes of each component, after tensor-parallel and ZeRO sharding and CPU offload; with pipeline
    parallelism, of the stage whose peak is highest (pipeline.py: the first stage keeps the most activations, the
    last one also holds the logits)."""
    stack = stack or resolve_stack(job)
    if stack.pipeline_parallel <= 1:
        return _stage_breakdown(job, precision, coef, stack, "whole")
    stages = [_stage_breakdown(job, precision, coef, stack, where) for where in ("first", "last")]
    return max(stages, key=lambda m: m.peak)


def pipeline_stage_parts(job: rec.Job, precision: str, parts: dict[str, float], pp: int) -> dict[str, float]:
    """state_parts on the pipeline stage that holds the most (pipeline.stage_bytes): the layers' share of each
    component plus one V x h matrix of the parts that hold the embeddings or output layer (every trained weight in
    full fine-tuning; the 16-bit base weights under LoRA / QLoRA, whose adapters live in the layers)."""
    if pp <= 1:
        return parts
    arch = job.model
    outside = pipeline.non_layer_params(arch)
    if job.method == "full":
        share = outside / max(shapes.total_params(arch), 1)
        return {k: pipeline.stage_bytes(v, v * share, arch, pp) for k, v in parts.items()}
    base = mem.weights_bytes(arch, job.method, precision, job.double_quant)
    base_outside = outside * (2.0 if job.method == "qlora" else mem.BYTES_PER_ELEMENT[precision])
    out = {k: v / pp for k, v in parts.items()}
    out["weights"] = pipeline.stage_bytes(base, base_outside, arch, pp) + (parts["weights"] - base) / pp
    return out


def _stage_breakdown(job: rec.Job, precision: str, coef: Coefficients, stack: Stack, where: str) -> mem.MemoryBytes:
    """One GPU's bytes: the whole model's share (`where` "whole"), or a pipeline stage's ("first": the most
    activations in flight; "last": one micro-batch in flight and the logits)."""
    arch, tp, pp, cp = job.model, stack.tensor_parallel, stack.pipeline_parallel, stack.context_parallel
    # ZeRO / the distributed optimizer shards over the data-parallel (x context-parallel) ranks of one stage
    stage_gpus = max(job.num_gpus // pp, 1)
    parts = pipeline_stage_parts(job, precision, state_parts(job, precision), pp)
    layer_share = 1.0 / pp  # what lives only in the decoder layers: NF4 constants, QLoRA / DoRA workspaces
    if stack.optimizer_in_backward and job.method == "full":
        parts["gradients"] = largest_gradient_bytes(job, precision)
    sharded = {k: v * mem.shard_fraction(k, job.zero_stage, stage_gpus, tp) for k, v in parts.items()}
    unsplit = 1.0 - mem.shard_fraction("weights", job.zero_stage, stage_gpus, tp)  # NF4 constants stay whole
    constants = mem.quant_constant_bytes(arch, job.method, job.double_quant) * layer_share
    sharded["weights"] += constants * unsplit
    offloaded = 0.0
    if job.cpu_offload:
        offloaded = (sharded["optimizer"] + sharded["master"] + sharded["gradients"]
                     + (sharded["weights"] if job.zero_stage >= 3 else 0.0))
        sharded["optimizer"] = sharded["master"] = 0.0
        sharded["gradients"] = min(sharded["gradients"], offload_gradient_unit_bytes(job, precision) / tp)
        if job.zero_stage >= 3:
            sharded["weights"] = 0.0
    gathered = gathered_weight_bytes(job, parts["weights"] - constants, tp, stage_gpus, pp)
    sharded["weights"] += gathered  # the constants are never sharded, so never gathered
    if pp > 1 and job.zero_stage >= 3 and not job.cpu_offload:
        sharded["gradients"] = pipeline_sharded_gradients(job, precision, parts, stage_gpus, tp)
    seq = peak_seq_len(job)
    per_token = layer_bytes_per_token(job, precision, coef, stack, seq)
    rank_seq = seq / cp  # context parallelism: each rank holds s / cp of every sequence's tokens
    kept, working = mem.activation_parts(arch, precision, rank_seq, job.micro_batch, job.grad_ckpt, per_token, coef,
                                         stack.activation_offload, tp)
    micro_batches = 1 if stack.optimizer_in_backward else job.grad_accum
    if where == "first":
        kept *= pipeline.first_stage_layers_in_flight(arch.num_layers, pp, stack.virtual_pipeline,
                                                      micro_batches) / arch.num_layers
    elif where == "last":
        kept *= layer_share
    logits = 0.0 if where == "first" else mem.logits_bytes(arch, rank_seq * job.micro_batch, stack.loss_kernel, coef,
                                                           tp, stack.chunked_kept_bytes_per_logit)
    dora_workspace, dora_kept, dora_working = (x / tp for x in dora_memory_bytes(job, precision, coef))
    kept, working = kept + dora_kept * layer_share, working + dora_working
    workspace = mem.quant_workspace_bytes(arch, job.method) / tp + dora_workspace
    breakdown = mem.MemoryBytes(sharded["weights"], sharded["gradients"], sharded["optimizer"], sharded["master"],
                                kept + working, logits, workspace, 0.0, offloaded,
                                grads_coexist=grads_coexist(job, stack), working=working,
                                dora_workspace=dora_workspace,
                                optimizer_step=optimizer_step_transient(job, stack, sharded["optimizer"]))
    return with_allocator(breakdown, job, coef)


def optimizer_step_transient(job: rec.Job, stack: Stack, optimizer_on_gpu: float) -> float:
    """The optimizer step's temporaries on the GPU (memory.optimizer_step_bytes) for the states this GPU holds; none
    when the step runs on the CPU (offload), parameter by parameter inside backward (optimizer_in_backward: one
    parameter's buffers, negligible), or inside a ZeRO engine: DeepSpeed steps its partitions with its own fused Adam
    when the config names the optimizer, as the frameworks' ZeRO configs do (QwenLM/Qwen finetune/ds_config_zero3.json,
    LLaMA-Factory examples/deepspeed/ds_z3_config.json: "optimizer": {"type": "AdamW"} = DeepSpeed FusedAdam)."""
    if job.cpu_offload or stack.optimizer_in_backward or job.zero_stage >= 1:
        return 0.0
    return mem.optimizer_step_bytes(job.optimizer, optimizer_on_gpu, stack.fused_optimizer)


def with_allocator(m: mem.MemoryBytes, job: rec.Job, coef: Coefficients) -> mem.MemoryBytes:
    """Add the caching allocator's slack and the CUDA context (coefficients fit on published measurements).

    The caching allocator keeps freed blocks for reuse and returns them to the GPU only when an allocation fails
    (PyTorch CUDA semantics, "Memory management"), so reserved memory holds the blocks of every phase of the step:
    - the loss's blocks (logits) stay reserved while backward recomputes a layer, and the other way round (blocks
      of one shape do not serve requests of another): reserved counts both, although the allocated peak counts only
      the larger (MemoryBytes.dynamic). Published pairs of torch allocated and nvidia-smi peaks show it: a fused
      linear cross-entropy leaves the allocated peak unchanged and lowers nvidia-smi by the logits' working set
      (fms-acceleration a100_80gb_liger.csv: Mistral-7B QLoRA, batch 4 x 4096: 13.06 vs 13.04 GB allocated, 18.8
      vs 14.2 GiB nvidia-smi);
    - `overhead_fraction` of what a step allocates (block rounding, split blocks); weights and optimizer states are
      allocated once in blocks of their own size;
    - with unpacked batches whose length changes every step, `variable_length_fragmentation` of the step's working
      set: blocks cached for one length are too small, or get split, for the next.
    """
    from frugaltune.record import replace

    both = m.activations + m.logits
    slack = coef.overhead_fraction * (m.allocated - m.static)
    if variable_length(job):
        slack += coef.variable_length_fragmentation * both
    return replace(m, fragmentation=both - m.dynamic + slack, context=coef.overhead_fixed_bytes,
                   overhead=slack + coef.overhead_fixed_bytes)
