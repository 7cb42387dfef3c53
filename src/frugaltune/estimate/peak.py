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

from frugaltune.estimate import memory as mem
from frugaltune.estimate import records as rec
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.shapes import expand_targets, layer_linear_params
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


def state_parts(job: rec.Job, precision: str) -> dict[str, float]:
    """Unsharded bytes of weights, gradients, optimizer states and the fp32 master copy."""
    arch, z = job.model, job.zero_stage
    n_train = mem.trainable_params(arch, job.method, job.lora_r, job.lora_targets)
    parts = {
        "weights": mem.weights_bytes(arch, job.method, precision, job.double_quant),
        "gradients": mem.gradient_bytes(job.method, precision, n_train, z),
        "optimizer": mem.optimizer_bytes(job.optimizer, n_train, job.method, precision),
        "master": mem.master_bytes(job.method, precision, n_train),
    }
    if job.method != "full":
        parts["weights"] += n_train * mem.ADAPTER_BYTES
        n_emb = embedding_training_params(job)  # modules_to_save: a trainable 16-bit copy + grads + AdamW states
        parts["weights"] += n_emb * 2
        parts["gradients"] += n_emb * 2
        parts["optimizer"] += mem.optimizer_bytes(job.optimizer, n_emb)
    return parts


def largest_gradient_bytes(job: rec.Job, precision: str) -> float:
    """With the optimizer step in backward, one parameter's gradient at a time: the largest matrix (the embedding
    or LM head, else one layer's largest projection)."""
    arch = job.model
    biggest = max(arch.vocab_size * arch.hidden_size, layer_linear_params(arch) // 3)
    return biggest * mem.BYTES_PER_ELEMENT[precision]


def layer_bytes_per_token(job: rec.Job, precision: str, coef: Coefficients, stack: Stack, seq_len: int) -> float:
    """Saved activation bytes per token of one decoder layer for this job's stack (memory.py)."""
    n_targets = 0 if job.method == "full" else len(expand_targets(job.model, job.lora_targets))
    eager_s = seq_len if stack.attention == "eager" else 0
    return mem.layer_activation_bytes_per_token(job.model, precision, job.method, n_targets, coef,
                                                stack.fused_elementwise, eager_s)


def grads_coexist(job: rec.Job, stack: Stack) -> bool:
    return (job.method != "full" or job.grad_accum > 1 or job.zero_stage >= 1) and not stack.optimizer_in_backward


def memory_breakdown(job: rec.Job, precision: str, coef: Coefficients, stack: Stack | None = None) -> mem.MemoryBytes:
    """Per-GPU bytes of each component, after tensor-parallel and ZeRO sharding and CPU offload."""
    stack = stack or resolve_stack(job)
    arch, tp = job.model, stack.tensor_parallel
    parts = state_parts(job, precision)
    if stack.optimizer_in_backward and job.method == "full":
        parts["gradients"] = largest_gradient_bytes(job, precision)
    sharded = {k: v * mem.shard_fraction(k, job.zero_stage, job.num_gpus, tp) for k, v in parts.items()}
    offloaded = 0.0
    if job.cpu_offload:
        offloaded = sharded["optimizer"] + sharded["master"] + (sharded["weights"] if job.zero_stage >= 3 else 0.0)
        sharded["optimizer"] = sharded["master"] = 0.0
        if job.zero_stage >= 3:
            sharded["weights"] = 0.0
    seq = peak_seq_len(job)
    per_token = layer_bytes_per_token(job, precision, coef, stack, seq)
    act = mem.activation_bytes(arch, precision, seq, job.micro_batch, job.grad_ckpt, per_token, coef,
                               stack.activation_offload, tp)
    logits = mem.logits_bytes(arch, seq * job.micro_batch, stack.loss_kernel, coef, tp)
    workspace = mem.quant_workspace_bytes(arch, job.method) / tp
    breakdown = mem.MemoryBytes(sharded["weights"], sharded["gradients"], sharded["optimizer"], sharded["master"],
                                act, logits, workspace, 0.0, offloaded, grads_coexist=grads_coexist(job, stack))
    return with_allocator(breakdown, job, coef)


def with_allocator(m: mem.MemoryBytes, job: rec.Job, coef: Coefficients) -> mem.MemoryBytes:
    """Add the caching allocator's slack and the CUDA context (fit on published measurements)."""
    from frugaltune.record import replace

    slack = coef.overhead_fraction * m.allocated
    if variable_length(job):
        slack += coef.variable_length_fragmentation * (m.activations + m.logits)
    return replace(m, fragmentation=slack, context=coef.overhead_fixed_bytes,
                   overhead=slack + coef.overhead_fixed_bytes)
