"""Memory per GPU, component by component, against hand arithmetic on the tiny shape (conftest.py).

Reference numbers of the tiny shape, used throughout:
  N (all params)            = 82,240
  N_quant (layer linears)   = 2 x 36,864 = 73,728      (what bitsandbytes quantises to NF4)
  N - N_quant               = 8,512                    (embeddings 4,096 + head 4,096 + norms 320, stay 16-bit)
  LoRA r=8 on q,k,v,o       = 2 layers x 8 x [(64+64) + (64+32) + (64+32) + (64+64)] = 2 x 3,584 = 7,168
"""

from __future__ import annotations

import pytest

from frugaltune.estimate import memory as mem
from frugaltune.estimate import shapes
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.estimator import memory_breakdown
from frugaltune.estimate.records import Job

N = 82_240
N_QUANT = 73_728
N_LORA_QKVO_R8 = 7_168


def test_shapes_of_tiny_model(tiny):
    assert shapes.projection_shapes(tiny) == {
        "q_proj": (64, 64), "k_proj": (64, 32), "v_proj": (64, 32), "o_proj": (64, 64),  # GQA: 2 KV heads x 16
        "up_proj": (64, 128), "down_proj": (128, 64), "gate_proj": (64, 128),
    }
    assert shapes.layer_linear_params(tiny) == 4096 + 2048 + 2048 + 4096 + 3 * 8192 == 36_864
    assert shapes.total_params(tiny) == 2 * (36_864 + 2 * 64) + 64 * 64 + 64 * 64 + 64 == N
    assert shapes.quantizable_params(tiny) == N_QUANT
    tied = tiny.__class__(**{**tiny.__dict__, "tie_word_embeddings": True})
    assert shapes.total_params(tied) == N - 64 * 64  # the head shares the embedding matrix


@pytest.mark.parametrize("targets, per_layer", [
    (("q_proj", "v_proj"), 8 * (64 + 64) + 8 * (64 + 32)),                            # 1,024 + 768
    (("q", "k", "v", "o"), 8 * (128 + 96 + 96 + 128)),                                # aliases; 3,584
    (("all-linear",), 8 * (128 + 96 + 96 + 128) + 3 * 8 * (64 + 128)),               # + gate, up, down: 8,192
])
def test_lora_params_are_r_times_din_plus_dout_per_matrix(tiny, targets, per_layer):
    assert shapes.lora_params(tiny, 8, targets) == 2 * per_layer


@pytest.mark.parametrize("method, precision, double_quant, expected", [
    ("full", "bf16", True, N * 2),
    ("full", "fp16", True, N * 2),
    ("full", "fp32", True, N * 4),
    ("lora", "bf16", True, N * 2),  # frozen base in the compute dtype
    # QLoRA: NF4 = 4 bits + 0.127 bit of double-quantised constants on layer linears; the rest stays 16-bit
    ("qlora", "bf16", True, N_QUANT * 4.127 / 8 + (N - N_QUANT) * 2),   # 38,034.432 + 17,024
    ("qlora", "bf16", False, N_QUANT * 4.5 / 8 + (N - N_QUANT) * 2),    # 41,472 + 17,024 (32-bit absmax / 64)
])
def test_weights_bytes(tiny, method, precision, double_quant, expected):
    assert mem.weights_bytes(tiny, method, precision, double_quant) == pytest.approx(expected)


def test_qlora_weights_numbers(tiny):
    assert mem.weights_bytes(tiny, "qlora", "bf16", True) == pytest.approx(55_058.432)
    assert mem.weights_bytes(tiny, "qlora", "bf16", False) == pytest.approx(58_496.0)


@pytest.mark.parametrize("method, precision, zero_stage, expected", [
    ("lora", "bf16", 0, N_LORA_QKVO_R8 * 4),  # adapters are fp32, so are their grads
    ("qlora", "fp16", 0, N_LORA_QKVO_R8 * 4),
    ("full", "bf16", 0, N * 2),               # grads in the 16-bit param dtype
    ("full", "fp32", 0, N * 4),
    ("full", "bf16", 1, N * (2 + 4)),         # ZeRO keeps an extra fp32 gradient partition
    ("full", "fp32", 2, N * 4),               # ... but not when the params are already fp32
])
def test_gradient_bytes(method, precision, zero_stage, expected):
    n = N if method == "full" else N_LORA_QKVO_R8
    assert mem.gradient_bytes(method, precision, n, zero_stage) == expected


@pytest.mark.parametrize("optimizer, bytes_per_param", [
    ("adamw", 8),            # two fp32 moments
    ("adamw8bit", 2),        # two 8-bit moments
    ("paged_adamw8bit", 2),
    ("sgd", 4),              # one fp32 momentum buffer
])
def test_optimizer_bytes(optimizer, bytes_per_param):
    assert mem.optimizer_bytes(optimizer, 1000) == 1000 * bytes_per_param


@pytest.mark.parametrize("method, precision, expected", [
    ("full", "bf16", N * 4),   # fp32 master copy of 16-bit weights
    ("full", "fp16", N * 4),
    ("full", "fp32", 0),       # the weights are already fp32
    ("full", "bf16-true", 0),  # pure bf16: the bf16 weights are what the optimizer updates
    ("lora", "bf16", 0),       # adapters are already fp32
    ("qlora", "bf16", 0),
])
def test_master_copy_only_for_mixed_precision_full(method, precision, expected):
    assert mem.master_bytes(method, precision, N) == expected


# Activations per token per layer, Coefficients() defaults (activation_scale 1), tiny shape (h 64, kv 32, I 128):
#   RMSNorm (HF): fp32 upcast of its input (4 B) + 16-bit normalised value when the weight is trained (full: 2 B)
#                 + 16-bit output kept by the next linear (2 B): full 8 B, LoRA 6 B per element; x 2 norms x 64
#   attention q & out (2h = 128) + K, V (2 x 32 = 64) + gated MLP (4 x 128 = 512) = 704 elements x 2 B = 1,408
#   full bf16:  2 x 64 x 8 + 1,408 = 1,024 + 1,408 = 2,432
#   LoRA dropout adds, per adapted module, its dropout output (2 B) + mask (1 B) on that module's input: four
#   64-wide inputs (q, k, v, o) -> 256 elements x 3 = 768
@pytest.mark.parametrize("method, precision, dropout_width, expected", [
    ("full", "bf16", 0, 2 * 64 * 8 + 704 * 2),               # 2,432
    ("full", "fp32", 0, 2 * 64 * (4 + 4 + 4) + 704 * 4),      # the fp32 input is the upcast itself: 4,352
    ("lora", "bf16", 4 * 64, 2 * 64 * 6 + 704 * 2 + 4 * 64 * 3),   # 768 + 1,408 + 768 = 2,944
    ("lora", "bf16", 2 * 64, 2 * 64 * 6 + 704 * 2 + 2 * 64 * 3),   # 2,560
    ("lora", "bf16", 0, 2 * 64 * 6 + 704 * 2),                     # dropout 0: nn.Identity, no copy: 2,176
])
def test_layer_activation_bytes_per_token(tiny, method, precision, dropout_width, expected):
    got = mem.layer_activation_bytes_per_token(tiny, precision, method, dropout_width, Coefficients())
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("targets, dropout, width", [
    (("q_proj", "k_proj", "v_proj", "o_proj"), 0.05, 4 * 64),  # each module copies its own 64-wide input
    (("down_proj",), 0.1, 128),                                 # down_proj reads the MLP's 128-wide intermediate
    (("all-linear",), 0.05, 6 * 64 + 128),                      # q k v o gate up (64) + down (128)
    (("all-linear",), 0.0, 0),                                  # no dropout, no copies
])
def test_lora_dropout_copies_each_adapted_modules_input(tiny, targets, dropout, width):
    from frugaltune.estimate import peak
    from frugaltune.estimate.records import Job

    job = Job(model=tiny, method="lora", lora_targets=targets, lora_dropout=dropout)
    assert peak.lora_dropout_width(job) == width


@pytest.mark.parametrize("framework, dropout", [(None, 0.05), ("frugaltune", 0.05), ("trl", 0.05),
                                                ("litgpt", 0.05), ("hf-trainer", 0.0), ("torchtune", 0.0),
                                                ("unsloth", 0.0), ("llama-factory", 0.0), ("axolotl", 0.0)])
def test_lora_dropout_defaults_to_the_frameworks(tiny, framework, dropout):
    from frugaltune.estimate import peak
    from frugaltune.estimate.records import Job

    assert peak.lora_dropout(Job(model=tiny, framework=framework)) == dropout
    assert peak.lora_dropout(Job(model=tiny, framework=framework, lora_dropout=0.2)) == 0.2  # a flag wins


def test_fused_kernels_keep_fewer_tensors(tiny):
    # Liger / Unsloth / torch.compile: a norm keeps its 16-bit input and output (2 x 2 B), SwiGLU keeps gate and
    # up plus the recomputed product for down_proj (3 x I): 2 x 64 x 4 + (128 + 64 + 3 x 128) x 2 = 512 + 1,152
    fused = mem.layer_activation_bytes_per_token(tiny, "bf16", "full", 0, Coefficients(), fused=True)
    assert fused == 2 * 64 * 4 + (128 + 64 + 3 * 128) * 2 == 1_664


def test_eager_attention_keeps_the_softmax_per_head(tiny):
    # eager attention keeps per head and token the fp32 softmax (4 B) and its bf16 cast (2 B) over s = 32 keys
    eager = mem.layer_activation_bytes_per_token(tiny, "bf16", "full", 0, Coefficients(), eager_seq_len=32)
    assert eager - 2_432 == 4 * 32 * (4 + 2) == 768


def test_layer_activations_plain_mlp_layernorm(tiny):
    arch = tiny.__class__(**{**tiny.__dict__, "mlp_type": "plain", "norm_type": "layernorm"})
    # 2 LayerNorms keep 16-bit input + output (2 x 2 B x 64) + 128 + 64 + plain MLP 2 x 128 = 512 + 448 x 2 B
    assert mem.layer_activation_bytes_per_token(arch, "bf16", "full", 0, Coefficients()) == 512 + 896
    coef = Coefficients(activation_scale=0.5)
    assert mem.layer_activation_bytes_per_token(arch, "bf16", "full", 0, coef) == (512 + 896) / 2


PER_LAYER_LORA = 2_944  # LoRA on 4 modules, bf16, per token


def test_activation_bytes_with_and_without_grad_ckpt(tiny):
    coef = Coefficients()
    tokens = 32 * 2  # seq_len x micro_batch
    no_ckpt = mem.activation_bytes(tiny, "bf16", 32, 2, False, PER_LAYER_LORA, coef)
    assert no_ckpt == 2 * PER_LAYER_LORA * tokens == 376_832  # every layer keeps everything
    ckpt = mem.activation_bytes(tiny, "bf16", 32, 2, True, PER_LAYER_LORA, coef)
    # each layer keeps its 16-bit input (L x tokens x h x 2) + 2 layers' working set live during recompute/backward
    assert ckpt == 2 * tokens * 64 * 2 + 2.0 * PER_LAYER_LORA * tokens == 16_384 + 376_832


def test_activation_offload_keeps_the_working_layers_and_what_is_in_flight(tiny):
    deep = tiny.__class__(**{**tiny.__dict__, "num_layers": 8})
    coef, tokens = Coefficients(), 64
    layer = PER_LAYER_LORA * tokens  # 188,416
    ckpt = mem.activation_bytes(deep, "bf16", 32, 2, True, PER_LAYER_LORA, coef)
    assert ckpt == 8 * tokens * 64 * 2 + 2 * layer == 442_368
    # offloaded checkpoints: 2 recomputed layers + 2 layer inputs in flight (offload_resident_layers = 2)
    off = mem.activation_bytes(deep, "bf16", 32, 2, True, PER_LAYER_LORA, coef, offload=True)
    assert off == 2 * layer + 2 * tokens * 64 * 2 == 393_216
    # without recomputation: the layer in backward + 2 in flight, instead of all 8
    off_no_ckpt = mem.activation_bytes(deep, "bf16", 32, 2, False, PER_LAYER_LORA, coef, offload=True)
    assert off_no_ckpt == 3 * layer and mem.activation_bytes(deep, "bf16", 32, 2, False, PER_LAYER_LORA, coef) == 8 * layer


def test_tensor_parallel_splits_activations(tiny):
    coef = Coefficients()
    one = mem.activation_bytes(tiny, "bf16", 32, 2, True, PER_LAYER_LORA, coef)
    assert mem.activation_bytes(tiny, "bf16", 32, 2, True, PER_LAYER_LORA, coef, tp=2) == one / 2


def test_grad_ckpt_shrinks_activations_of_a_deep_model(catalog):
    arch = catalog.model("llama-2-7b")
    coef = Coefficients()
    per = mem.layer_activation_bytes_per_token(arch, "bf16", "lora", 4 * arch.hidden_size, coef)
    full = mem.activation_bytes(arch, "bf16", 2048, 4, False, per, coef)
    ckpt = mem.activation_bytes(arch, "bf16", 2048, 4, True, per, coef)
    # 32 layers -> 32 inputs of h plus 2 layers' full sets: far below 32 full sets
    assert ckpt < full / 5


def test_logits_bytes(tiny):
    assert mem.logits_bytes(tiny, 64, "hf", Coefficients()) == 64 * 64 * 10  # b*s*V x (2 + 4 + 4) bytes
    assert mem.logits_bytes(tiny, 64, "hf", Coefficients(logits_bytes_per_element=4.0)) == 64 * 64 * 4


def test_loss_implementations_on_a_128k_vocabulary(catalog):
    """Llama 3.1 8B (V = 128,256, h = 4,096), micro-batch 2 x 2,048 tokens = 4,096 tokens, default coefficients."""
    arch = catalog.model("llama-3.1-8b")
    assert (arch.vocab_size, arch.hidden_size) == (128_256, 4_096)
    coef = Coefficients()  # hf 10 B per logit
    hf = mem.logits_bytes(arch, 4096, "hf", coef)
    assert hf == 4096 * 128_256 * 10 == 5_253_365_760  # 5.25 GB of logits
    # chunked: what the framework keeps per logit for backward (torchtune's and LitGPT's 4 B) + one of 8 chunks' hf
    # working set (512 tokens x V x 10 B); recomputed chunks (TRL, frugaltune) keep nothing
    chunked = mem.logits_bytes(arch, 4096, "chunked", coef, chunked_kept=4.0)
    assert chunked == 4096 * 128_256 * 4 + 512 * 128_256 * 10 == 2_101_346_304 + 656_670_720
    assert mem.logits_bytes(arch, 4096, "chunked", coef) == 656_670_720
    # fused: Liger's chunk = 2**ceil(log2(ceil(4096 / ceil(128256 / 4096)))) = 2**ceil(log2(128)) = 128 tokens
    # of logits (x 10 B), plus the fp32 gradient of the hidden states (4096 x 4096 x 4 B)
    assert mem.liger_chunk_tokens(4096, arch) == 128
    fused = mem.logits_bytes(arch, 4096, "fused", coef)
    assert fused == 128 * 128_256 * 10 + 4096 * 4096 * 4 == 164_167_680 + 67_108_864
    assert mem.logits_bytes(arch, 4096, "hf", coef, tp=2) == hf / 2  # vocabulary-parallel loss


def test_quant_workspace_is_one_layer_in_16_bit(tiny):
    assert mem.quant_workspace_bytes(tiny, "qlora") == 36_864 * 2
    assert mem.quant_workspace_bytes(tiny, "lora") == 0


@pytest.mark.parametrize("component, zero_stage, expected", [
    ("optimizer", 0, 1.0), ("optimizer", 1, 0.25), ("optimizer", 2, 0.25), ("optimizer", 3, 0.25),
    ("master", 1, 0.25),
    ("gradients", 1, 1.0), ("gradients", 2, 0.25), ("gradients", 3, 0.25),
    ("weights", 2, 1.0), ("weights", 3, 0.25),
])
def test_shard_fraction_zero_stages_on_4_gpus(component, zero_stage, expected):
    assert mem.shard_fraction(component, zero_stage, 4) == expected
    assert mem.shard_fraction(component, zero_stage, 1) == 1.0  # nothing to shard over


def _job(tiny, **kw) -> Job:
    base = {"model": tiny, "seq_len": 32, "micro_batch": 2, "grad_ckpt": False, "lora_r": 8}
    return Job(**{**base, **kw})


def test_breakdown_lora_bf16_hand_computed(tiny):
    coef = Coefficients()  # defaults: CUDA context 0.5 GB, allocator slack 5 % of what a step allocates
    m = memory_breakdown(_job(tiny, method="lora"), "bf16", coef)
    assert m.weights == N * 2 + N_LORA_QKVO_R8 * 4 == 193_152  # frozen bf16 base + fp32 adapters
    assert m.gradients == N_LORA_QKVO_R8 * 4 == 28_672
    assert m.optimizer == N_LORA_QKVO_R8 * 8 == 57_344
    assert m.master == 0
    assert m.activations == 376_832  # see test_activation_bytes_with_and_without_grad_ckpt
    assert m.logits == 32 * 2 * 64 * 10 == 40_960
    assert m.quant_workspace == 0
    allocated = 193_152 + 28_672 + 57_344 + 376_832 + 40_960  # 696,960: adapter grads live next to activations
    assert m.allocated == allocated
    per_step = 28_672 + 376_832 + 40_960  # 446,464: freed and allocated again every step (weights/states are not)
    assert m.reserved == pytest.approx(allocated + 0.05 * per_step)  # packed batches: fixed shapes, 5 % slack
    assert m.peak == pytest.approx(allocated + 0.05 * per_step + 0.5e9)  # + the CUDA context
    assert m.overhead == pytest.approx(0.05 * per_step + 0.5e9)


def test_with_recomputation_the_loss_and_a_recomputed_layer_never_coexist(tiny, bare_coef):
    # grad_ckpt: the logits are freed before backward recomputes the first layer, so the allocated peak holds the
    # kept layer inputs plus the larger of (logits, recompute working set); the caching allocator keeps both
    # phases' blocks, so reserved (and the planning peak) holds both
    m = memory_breakdown(_job(tiny, method="lora", grad_ckpt=True, seq_len=32, micro_batch=2), "bf16", bare_coef)
    kept = 2 * 64 * 64 * 2  # 2 layers x 64 tokens x h 64 x 2 B
    working = m.activations - kept
    assert m.working == working > 0
    assert m.dynamic == kept + max(working, m.logits)
    assert m.allocated == pytest.approx(m.static + m.gradients + kept + max(working, m.logits))
    assert m.reserved == pytest.approx(m.static + m.gradients + kept + working + m.logits)
    no_ckpt = memory_breakdown(_job(tiny, method="lora", grad_ckpt=False), "bf16", bare_coef)
    assert no_ckpt.working == 0 and no_ckpt.dynamic == no_ckpt.activations + no_ckpt.logits  # all kept at the loss


def test_unpacked_variable_length_batches_fragment_the_allocator(tiny):
    coef = Coefficients()  # variable_length_fragmentation 0.3 of activations + logits (the default; the shipped fit
    # finds none in the published pairs)
    packed = memory_breakdown(_job(tiny, method="lora"), "bf16", coef)
    ragged = memory_breakdown(_job(tiny, method="lora", packing=False, padded_tokens_per_sample=20), "bf16", coef)
    assert ragged.allocated == packed.allocated  # same longest batch
    assert ragged.fragmentation - packed.fragmentation == pytest.approx(0.3 * (376_832 + 40_960))
    padded_to_max = memory_breakdown(_job(tiny, method="lora", packing=False, padded_tokens_per_sample=32),
                                     "bf16", coef)
    assert padded_to_max.fragmentation == packed.fragmentation  # every batch padded to seq_len: fixed shapes


def test_breakdown_full_bf16_single_gpu(tiny, bare_coef):
    m = memory_breakdown(_job(tiny, method="full"), "bf16", bare_coef)
    # 2 (bf16 weights) + 2 (bf16 grads) + 8 (AdamW) + 4 (fp32 master) = 16 bytes per param
    assert (m.weights, m.gradients, m.optimizer, m.master) == (N * 2, N * 2, N * 8, N * 4)
    act = 2 * 2_432 * 64  # 2 layers x 2,432 B x 64 tokens, no LoRA extra
    assert m.activations == act
    # one micro-batch per step: gradients grow as backward frees activations; the step then adds torch's foreach
    # AdamW copy of the fp32 second moments (4 B per param): the peak is the larger of backward's and the step's
    assert m.peak == pytest.approx(14 * N + max(act + 40_960, 2 * N + 4 * N)) == 20 * N
    accumulated = memory_breakdown(_job(tiny, method="full", grad_accum=4), "bf16", bare_coef)
    # accumulated gradients live through forward; backward's 352,256 B outweigh the step's 4 N = 328,960 B
    assert accumulated.peak == pytest.approx(16 * N + max(act + 40_960, 4 * N)) == 16 * N + act + 40_960


def test_optimizer_in_backward_keeps_one_gradient(tiny, bare_coef):
    m = memory_breakdown(_job(tiny, method="full", optimizer_in_backward=True, grad_accum=4), "bf16", bare_coef)
    # the largest matrix: embedding/head 64 x 64 (vs a layer's 36,864 / 3 = 12,288) in bf16
    assert m.gradients == max(64 * 64, 36_864 // 3) * 2 == 24_576
    assert m.peak == pytest.approx(14 * N + max(2 * 2_432 * 64 + 40_960, 24_576))


def test_breakdown_full_bf16_true_halves_full_fine_tuning(tiny, bare_coef):
    m = memory_breakdown(_job(tiny, method="full"), "bf16-true", bare_coef)
    # 2 (bf16 weights) + 2 (bf16 grads) + 4 (AdamW's two moments in the weights' dtype) + 0 (no master) = 8 B/param
    assert (m.weights, m.gradients, m.optimizer, m.master) == (N * 2, N * 2, N * 4, 0)
    assert m.activations == 2 * 2_432 * 64  # activations do not change: bf16 either way
    z3 = memory_breakdown(_job(tiny, method="full", num_gpus=4, zero_stage=3), "bf16-true", bare_coef)
    assert z3.gradients == pytest.approx(N * 2 / 4)  # FSDP-style sharding, no DeepSpeed fp32 grad partition
    eight_bit = memory_breakdown(_job(tiny, method="full", optimizer="adamw8bit"), "bf16-true", bare_coef)
    assert eight_bit.optimizer == N * 2  # 8-bit moments stay 8-bit
    lora = memory_breakdown(_job(tiny), "bf16-true", bare_coef)
    assert lora.optimizer == memory_breakdown(_job(tiny), "bf16", bare_coef).optimizer  # adapters are fp32 (peft)


def test_tensor_parallel_splits_states_then_zero_shards_the_rest(tiny, bare_coef):
    # 4 GPUs, TP 2: every weight is split in 2; ZeRO-1 shards optimizer states over the 2 data-parallel replicas
    m = memory_breakdown(_job(tiny, method="full", num_gpus=4, zero_stage=1, tensor_parallel=2), "bf16", bare_coef)
    assert (m.weights, m.optimizer, m.master) == pytest.approx((N * 2 / 2, N * 8 / 4, N * 4 / 4))
    assert m.logits == 64 * 32 * 10  # vocabulary split over the TP group


@pytest.mark.parametrize("zero_stage, weights, grads, optim, master", [
    # 4 GPUs, full bf16, AdamW; under ZeRO the grads carry an extra fp32 partition (2 + 4 = 6 B per param)
    (0, N * 2, N * 2, N * 8, N * 4),
    (1, N * 2, N * 6, N * 8 / 4, N * 4 / 4),
    (2, N * 2, N * 6 / 4, N * 8 / 4, N * 4 / 4),
    # stage 3: a quarter of the weights, plus the two layers all-gathered around the one computing (tiny has two:
    # the whole model, less the quarter already held)
    (3, N * 2 / 4 + N * 2 * 3 / 4, N * 6 / 4, N * 8 / 4, N * 4 / 4),
])
def test_breakdown_zero_sharding(tiny, bare_coef, zero_stage, weights, grads, optim, master):
    m = memory_breakdown(_job(tiny, method="full", num_gpus=4, zero_stage=zero_stage), "bf16", bare_coef)
    assert (m.weights, m.gradients, m.optimizer, m.master) == pytest.approx((weights, grads, optim, master))
    assert m.cpu_offload == 0


def test_cpu_offload_moves_optimizer_master_gradients_then_weights_at_stage_3(tiny, bare_coef):
    # the gradients go to CPU with the optimizer step; the GPU holds one layer's 16-bit gradient in flight
    # (tiny: N / 2 parameters a layer, more than its 64 x 64 embedding)
    z2 = memory_breakdown(_job(tiny, method="full", num_gpus=4, zero_stage=2, cpu_offload=True), "bf16", bare_coef)
    assert (z2.optimizer, z2.master) == (0, 0)
    assert z2.weights == N * 2
    assert z2.gradients == pytest.approx(N / 2 * 2)
    assert z2.cpu_offload == pytest.approx((N * 8 + N * 4 + N * 6) / 4)
    z3 = memory_breakdown(_job(tiny, method="full", num_gpus=4, zero_stage=3, cpu_offload=True), "bf16", bare_coef)
    assert (z3.optimizer, z3.master) == (0, 0)
    assert z3.weights == pytest.approx(N * 2 * 3 / 4)  # only the gathered layers (the shards are in CPU memory)
    assert z3.cpu_offload == pytest.approx((N * 8 + N * 4 + N * 6 + N * 2) / 4)
    assert z3.gradients == pytest.approx(N / 2 * 2)


def test_breakdown_qlora(tiny, bare_coef):
    m = memory_breakdown(_job(tiny, method="qlora", optimizer="paged_adamw8bit"), "bf16", bare_coef)
    assert m.weights == pytest.approx(55_058.432 + N_LORA_QKVO_R8 * 4)
    assert m.optimizer == N_LORA_QKVO_R8 * 2
    assert m.quant_workspace == 36_864 * 2


def test_sharded_qlora_splits_the_packed_weights_not_their_constants(tiny, bare_coef):
    # FSDP-QLoRA on 2 GPUs: the 4-bit packed weights (0.5 B/param) and the 16-bit rest are split in 2; the NF4
    # constants (0.127 bit/param with double quantisation) stay whole on each GPU (bitsandbytes' quant_state)
    constants = N_QUANT * 0.127 / 8
    assert mem.quant_constant_bytes(tiny, "qlora") == pytest.approx(constants)
    assert mem.quant_constant_bytes(tiny, "qlora", double_quant=False) == pytest.approx(N_QUANT * 0.5 / 8)
    assert mem.quant_constant_bytes(tiny, "lora") == 0
    one = memory_breakdown(_job(tiny, method="qlora"), "bf16", bare_coef)
    two = memory_breakdown(_job(tiny, method="qlora", num_gpus=2, zero_stage=3), "bf16", bare_coef)
    adapters = N_LORA_QKVO_R8 * 4
    # each GPU's half, the constants whole, and the two gathered layers (tiny's whole model) less the half it holds
    assert two.weights == pytest.approx((N_QUANT * 0.5 + (N - N_QUANT) * 2 + adapters) / 2 + constants
                                        + (N_QUANT * 0.5 + (N - N_QUANT) * 2 + adapters) / 2)
    assert one.weights == pytest.approx(N_QUANT * 0.5 + (N - N_QUANT) * 2 + adapters + constants)
    z2 = memory_breakdown(_job(tiny, method="qlora", num_gpus=2, zero_stage=2), "bf16", bare_coef)
    assert z2.weights == pytest.approx(one.weights)  # stage 2 does not shard weights at all


def test_trainable_embeddings_add_16bit_copy_grads_and_states(tiny, bare_coef):
    base = memory_breakdown(_job(tiny, method="lora"), "bf16", bare_coef)
    emb = memory_breakdown(_job(tiny, method="lora", trainable_embeddings=True), "bf16", bare_coef)
    n_emb = 2 * 64 * 64  # embedding + untied head
    assert emb.weights - base.weights == n_emb * 2
    assert emb.gradients - base.gradients == n_emb * 2
    assert emb.optimizer - base.optimizer == n_emb * 4  # torch AdamW keeps its states in the param's 16-bit dtype


def test_lm_head_target_is_one_adapter_on_the_output_layer_not_a_trained_head(tiny):
    # r x (hidden + vocab) once per model: 8 x (64 + 64); the head itself stays frozen (no modules_to_save copy)
    with_head = shapes.lora_params(tiny, 8, ("q", "k", "v", "o", "lm_head"))
    assert with_head == N_LORA_QKVO_R8 + 8 * (64 + 64)
    assert shapes.layer_targets(tiny, ("all-linear", "lm_head")) == tuple(shapes.projection_shapes(tiny))
    assert shapes.expand_targets(tiny, ("lm_head", "all-linear"))[0] == "lm_head"


def _adamw_job(tiny, **kw):
    return _job(tiny, method="full", grad_accum=2, optimizer="adamw", **kw)


def test_foreach_adamw_step_adds_a_copy_of_the_second_moments_beside_the_gradients(tiny, bare_coef):
    # torch's multi-tensor AdamW: exp_avg_sq_sqrt = _foreach_sqrt(exp_avg_sqs), one fp32 copy per param (4 B) in
    # mixed precision. With grad_accum 2 the gradients coexist with the activations: the peak is the larger of
    # backward's (activations + logits) and the step's (that copy), over weights, states, master and gradients.
    m = memory_breakdown(_adamw_job(tiny, micro_batch=1), "bf16", bare_coef)
    assert m.optimizer_step == N * 4 == m.optimizer / 2
    assert m.dynamic == (311_296 + 40_960) / 2 < N * 4  # one sequence of 32 tokens: the step's copy is the peak
    assert m.allocated == pytest.approx(16 * N + N * 4)


def test_pure_bf16_adamw_step_copy_is_16bit(tiny, bare_coef):
    assert memory_breakdown(_adamw_job(tiny), "bf16-true", bare_coef).optimizer_step == N * 2


@pytest.mark.parametrize("kw", [dict(optimizer="adamw8bit"), dict(framework="torchtune"), dict(cpu_offload=True),
                                dict(optimizer_in_backward=True, grad_accum=1), dict(zero_stage=2, num_gpus=2)])
def test_no_step_copy_for_in_place_fused_offloaded_or_zero_optimizers(tiny, bare_coef, kw):
    # 8-bit block-wise kernels and torchtune's fused=True update in place; offload steps on the CPU; optimizer in
    # backward steps one parameter at a time; DeepSpeed ZeRO steps its partitions with its fused Adam
    base = {**dict(method="full", grad_accum=2, optimizer="adamw"), **kw}
    assert memory_breakdown(_job(tiny, **base), "bf16", bare_coef).optimizer_step == 0.0


def test_step_copy_without_coexisting_gradients_adds_to_the_gradients(tiny, bare_coef):
    # one micro-batch per step: gradients replace activations during backward, the step comes after both
    m = memory_breakdown(_job(tiny, method="full", grad_accum=1, optimizer="adamw"), "bf16", bare_coef)
    assert not m.grads_coexist
    assert m.allocated == pytest.approx(m.static + max(m.dynamic, m.gradients + m.optimizer_step))


def test_peak_memory_without_packing_follows_the_longest_sample(tiny, bare_coef):
    packed = memory_breakdown(_job(tiny, method="lora", seq_len=32), "bf16", bare_coef)
    # Mean padded length 8 but one 16-token sample: the peak comes with the micro-batch that holds it.
    padded = memory_breakdown(_job(tiny, method="lora", seq_len=32, packing=False, padded_tokens_per_sample=8,
                                   longest_sample_tokens=16), "bf16", bare_coef)
    assert padded.activations == packed.activations / 2  # 16 instead of 32 tokens per sequence
    assert padded.logits == packed.logits / 2
    unknown = memory_breakdown(_job(tiny, method="lora", seq_len=32, packing=False, padded_tokens_per_sample=8),
                               "bf16", bare_coef)
    assert unknown.activations == packed.activations  # longest unknown: assume a full seq_len sample


def test_llama2_7b_weights_and_lora_count(catalog):
    arch = catalog.model("llama-2-7b")
    assert shapes.total_params(arch) == 6_738_415_616
    # 32 layers x 4 modules x r 16 x (4096 + 4096): MHA, so k and v are as wide as q
    assert shapes.lora_params(arch, 16, ("q_proj", "k_proj", "v_proj", "o_proj")) == 32 * 4 * 16 * 8192 == 16_777_216
    assert mem.weights_bytes(arch, "full", "bf16") / 1e9 == pytest.approx(13.4768, abs=1e-4)


@pytest.mark.parametrize("framework, kept", [("torchtune", 4.0), ("litgpt", 4.0), ("trl", 0.0), (None, 0.0)])
def test_chunked_loss_keeps_what_the_framework_saves_per_logit(tiny, framework, kept):
    # torchtune: each chunk's fp32 log-softmax; LitGPT: its bf16 chunk logits + bf16 log-softmax; TRL's chunked_nll
    # and frugaltune's runner recompute each chunk in backward
    from frugaltune.estimate.stack import resolve_stack

    stack = resolve_stack(_job(tiny, framework=framework, loss="chunked"))
    assert stack.chunked_kept_bytes_per_logit == kept
    m = memory_breakdown(_job(tiny, framework=framework, loss="chunked"), "bf16", Coefficients())
    assert m.logits == 64 * 64 * kept + 64 / 8 * 64 * 10  # 2 x 32 tokens x V=64, + one of 8 chunks at 10 B


def test_litgpt_keeps_its_own_head_beside_a_tied_embedding(tiny, bare_coef):
    # LitGPT's GPT has no weight tying: a tied checkpoint's embedding is copied into lm_head, a second V x h matrix
    # (64 x 64 here): 16-bit for LoRA, 4-bit NF4 (+ double-quantised constants) under QLoRA, trained in full FT
    tied = tiny.__class__(**{**tiny.__dict__, "tie_word_embeddings": True})
    extra = 64 * 64
    for method, per_param in (("lora", 2.0), ("qlora", 4.127 / 8)):
        hf = memory_breakdown(_job(tied, method=method), "bf16", bare_coef)
        lit = memory_breakdown(_job(tied, method=method, framework="litgpt"), "bf16", bare_coef)
        assert lit.weights - hf.weights == pytest.approx(extra * per_param)
    full_hf = memory_breakdown(_job(tied, method="full"), "bf16-true", bare_coef)
    full_lit = memory_breakdown(_job(tied, method="full", framework="litgpt"), "bf16-true", bare_coef)
    assert full_lit.gradients - full_hf.gradients == extra * 2 and full_lit.optimizer - full_hf.optimizer == extra * 4
    untied = memory_breakdown(_job(tiny, method="lora", framework="litgpt"), "bf16", bare_coef)
    assert untied.weights == memory_breakdown(_job(tiny, method="lora"), "bf16", bare_coef).weights


def test_estimate_json_reports_the_optimizer_step_copy():
    from frugaltune.estimate.build import estimate

    m = estimate(model="llama-2-7b", gpu="a100-80gb", method="full", optimizer="adamw").to_json()["memory"]
    # mixed precision: fp32 second moments, 4 B per parameter, half of AdamW's 8 B
    assert m["optimizer_step_gb"] == pytest.approx(m["optimizer_gb"] * 8 / 12 / 2, rel=1e-6)
    lora = estimate(model="llama-2-7b", gpu="a100-80gb", method="lora", optimizer="adamw8bit").to_json()["memory"]
    assert lora["optimizer_step_gb"] == 0.0
