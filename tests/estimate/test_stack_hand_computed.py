"""Each stack input against arithmetic done by hand from the model's shapes (config.json values written out) and the
shipped coefficients: the loss implementations on a 128k vocabulary, activation offload, the optimizer step in
backward, torch.compile / fused kernels, tensor parallelism. The formulas are in estimate/memory.py and peak.py."""

from __future__ import annotations

import pytest

from frugaltune.estimate.build import estimate
from frugaltune.estimate.calibration import load_coefficients

# Llama 3.1 8B (config.json): vocabulary 128,256, hidden 4,096, 32 layers, 8 KV heads of 128, MLP 14,336
V8, H8 = 128_256, 4_096
# Llama 2 7B: vocabulary 32,000, hidden 4,096, 32 layers, 32 KV heads of 128, MLP 11,008
V7, H7, L7, I7 = 32_000, 4_096, 32, 11_008


def _logits_gb(loss: str) -> float:
    return estimate(model="llama-3.1-8b", gpu="h100", micro_batch=2, seq_len=2048, packing=True,
                    loss=loss).memory.logits_gb


def test_chunked_loss_memory_for_a_128k_vocabulary():
    c = load_coefficients()
    tokens = 2 * 2048  # packed: every micro-batch is full
    # hf: every logit materialised, upcast and kept: logits_bytes_per_element per logit
    assert _logits_gb("hf") == pytest.approx(tokens * V8 * c.logits_bytes_per_element / 1e9, rel=1e-9)
    # chunked (8 chunks) recomputed in backward (TRL chunked_nll, frugaltune's runner): one chunk's hf working set
    assert _logits_gb("chunked") == pytest.approx(tokens / 8 * V8 * c.logits_bytes_per_element / 1e9, rel=1e-9)
    # torchtune keeps every chunk's fp32 log-softmax (4 B per logit) until backward, plus one chunk's working set
    torchtune = estimate(model="llama-3.1-8b", gpu="h100", micro_batch=2, seq_len=2048, packing=True, loss="chunked",
                         framework="torchtune").memory.logits_gb
    assert torchtune == pytest.approx((tokens * V8 * 4 + tokens / 8 * V8 * c.logits_bytes_per_element) / 1e9, rel=1e-9)
    # fused (Liger): chunks of 2**ceil(log2(ceil(4096 / ceil(128256 / 4096)))) = 2**ceil(log2(128)) = 128 tokens, and
    # the fp32 gradient of the hidden states: 4096 x 4096 x 4 B
    assert _logits_gb("fused") == pytest.approx((128 * V8 * c.logits_bytes_per_element + tokens * H8 * 4) / 1e9,
                                                rel=1e-9)
    # at 4,096 tokens the hf logits alone are over 2 GB (at least 4 B each); the fused loss holds a tenth of one
    assert _logits_gb("hf") > 2.0 and _logits_gb("fused") < 0.2


def _activations_gb(**kwargs) -> float:
    return estimate(model="llama-2-7b", gpu="a100-80gb", method="full", micro_batch=1, seq_len=2048, packing=True,
                    grad_ckpt=False, **kwargs).memory.activations_gb


def test_activation_offload_keeps_the_working_layer_and_the_layers_in_flight():
    c = load_coefficients()
    # without checkpointing all 32 layers' saved activations stay on the GPU; offloaded, one layer is worked on and
    # offload_resident_layers more are in flight
    ratio = _activations_gb(activation_offload=True) / _activations_gb()
    assert ratio == pytest.approx((1 + c.offload_resident_layers) / L7, rel=1e-9)


def test_compile_and_fused_kernels_save_two_norm_elements_and_three_mlp_tensors():
    # full fine-tuning, bf16: an HF RMSNorm keeps its fp32 upcast (4 B) and its 16-bit output and normalised value
    # (2 x 2 B) per element; a fused norm keeps 2 x 2 B. A gated MLP keeps gate, up, act and product (4 x I), fused
    # SwiGLU 3 x I. Q, K, V and the attention output: 4 x 4096 at 2 B. (The shared activation scale cancels.)
    kv = 32 * 128
    plain = 2 * H7 * (4 + 2 * 2) + (2 * H7 + 2 * kv + 4 * I7) * 2
    fused = 2 * H7 * (2 * 2) + (2 * H7 + 2 * kv + 3 * I7) * 2
    assert _activations_gb(compile=True) / _activations_gb() == pytest.approx(fused / plain, rel=1e-9)
    assert _activations_gb(kernels="liger") == pytest.approx(_activations_gb(compile=True), rel=1e-9)


def test_optimizer_in_backward_holds_one_gradient_the_largest_matrix():
    est = estimate(model="llama-2-7b", gpu="a100-80gb", method="full", micro_batch=1, seq_len=2048,
                   optimizer_in_backward=True)
    # the embedding (32000 x 4096) is larger than a third of a layer's projections ((4 x 4096^2 + 3 x 4096 x 11008)
    # / 3 = 67.4M): one 16-bit gradient of 131M elements
    assert est.memory.gradients_gb == pytest.approx(V7 * H7 * 2 / 1e9, rel=1e-9)
    plain = estimate(model="llama-2-7b", gpu="a100-80gb", method="full", micro_batch=1, seq_len=2048)
    assert plain.memory.gradients_gb == pytest.approx(6_738_415_616 * 2 / 1e9, rel=1e-9)  # every parameter's


def test_tensor_parallel_splits_weights_and_optimizer_states_over_its_gpus():
    one = estimate(model="llama-2-7b", gpu="h100", num_gpus=4, method="full", micro_batch=1, seq_len=2048)
    tp = estimate(model="llama-2-7b", gpu="h100", num_gpus=4, method="full", micro_batch=1, seq_len=2048,
                  tensor_parallel=4)
    assert one.memory.weights_gb == pytest.approx(6_738_415_616 * 2 / 1e9, rel=1e-9)
    assert tp.memory.weights_gb == pytest.approx(one.memory.weights_gb / 4, rel=1e-9)
    assert tp.memory.optimizer_gb == pytest.approx(one.memory.optimizer_gb / 4, rel=1e-9)


def test_cpu_offload_moves_the_gradients_to_cpu_and_keeps_one_unit_in_flight():
    kwargs = dict(model="llama-3.1-70b", gpu="h100", num_gpus=8, method="full", zero_stage=3, micro_batch=2,
                  seq_len=2048)
    resident, offload = estimate(**kwargs), estimate(**kwargs, cpu_offload=True)
    n = 70_553_706_496  # Llama 3.1 70B: its safetensors total (catalog models.csv)
    # on the GPU: the embedding's 16-bit gradient (128256 x 8192, larger than one layer's n / 80), nothing else
    assert offload.memory.gradients_gb == pytest.approx(128_256 * 8_192 * 2 / 1e9, rel=1e-9)
    assert offload.memory.optimizer_gb == 0.0
    # the weights' shards are in CPU memory too; on the GPU two all-gathered layers (n / 80 each, 16-bit) less the
    # eighth a GPU holds of each
    assert offload.memory.weights_gb == pytest.approx(2 * n * 2 / 80 * 7 / 8 / 1e9, rel=1e-6)
    assert resident.memory.weights_gb - n * 2 / 8 / 1e9 == pytest.approx(offload.memory.weights_gb, rel=1e-6)
    # in CPU memory, per GPU: weights 2 B + gradients 2 B (+ DeepSpeed's fp32 accumulation 4 B) + AdamW 8 B + fp32
    # master 4 B per parameter, an eighth each
    assert offload.memory.cpu_offload_gb == pytest.approx(n * 20 / 8 / 1e9, rel=1e-6)
    assert resident.memory.gradients_gb == pytest.approx(n * 6 / 8 / 1e9, rel=1e-6)
