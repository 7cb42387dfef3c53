"""The stack options the runner implements (train/stack_runtime.py): chunked/fused loss, activation offload,
optimizer-in-backward, compile. Each is checked against the plain path on a tiny random Llama, on CPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from frugaltune.errors import ConfigError  # noqa: E402
from frugaltune.train import stack_runtime as S  # noqa: E402
from frugaltune.train.config import TrainingConfig  # noqa: E402
from frugaltune.train.loss import summed_loss  # noqa: E402


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 97, (3, 20), generator=g)
    labels = ids.clone()
    labels[:, :7] = -100  # the prompt carries no loss
    labels[2, 15:] = -100  # a padded tail
    mask = torch.ones_like(ids)
    mask[2, 15:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _grads(model) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_chunked_loss_equals_the_full_loss_and_its_gradients(model, batch):
    full = summed_loss(model, batch, sparse_logits=False)
    full.backward()
    want = _grads(model)
    model.zero_grad(set_to_none=True)
    chunked = S.chunked_loss(model, batch, chunk_tokens=5)  # 35 trained tokens -> 7 chunks
    chunked.backward()
    assert chunked.item() == pytest.approx(full.item(), rel=1e-5)
    got = _grads(model)
    assert got.keys() == want.keys()
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-6), name


def test_fused_falls_back_to_chunked_without_liger_on_cpu(model, batch):
    assert S.fused_loss(model, batch).item() == pytest.approx(S.chunked_loss(model, batch).item(), rel=1e-6)


def test_activation_offload_keeps_the_loss_and_gradients(model, batch):
    training = TrainingConfig(activation_offload=True)
    plain = summed_loss(model, batch, sparse_logits=False)
    plain.backward()
    want = _grads(model)
    model.zero_grad(set_to_none=True)
    offloaded = S.step_loss(model, batch, training, sparse_logits=False, cuda=False)
    offloaded.backward()
    assert offloaded.item() == pytest.approx(plain.item(), rel=1e-6)
    for name, grad in _grads(model).items():
        assert torch.allclose(grad, want[name], atol=1e-6), name


def test_optimizer_in_backward_steps_like_adamw_and_frees_gradients(model, batch):
    import copy

    twin = copy.deepcopy(model)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": params, "weight_decay": 0.0}]
    fused = S.optimizer_in_backward(torch.optim.AdamW, groups, lr=1e-2)
    reference = torch.optim.AdamW([{"params": list(twin.parameters()), "weight_decay": 0.0}], lr=1e-2)
    for _ in range(2):
        summed_loss(model, batch, sparse_logits=False).backward()  # the hooks step every parameter
        fused.step()
        summed_loss(twin, batch, sparse_logits=False).backward()
        reference.step()
        reference.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in params)  # applied and freed during backward
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    # the scheduler sees one optimizer; its state round-trips through a checkpoint
    sched = torch.optim.lr_scheduler.LambdaLR(fused, lambda step: 0.5)
    fused.step()
    sched.step()
    assert {g["lr"] for g in fused.param_groups} == {5e-3}
    state = fused.state_dict()
    assert len(state["per_parameter"]) == len(params)
    fused.load_state_dict(state)


@pytest.mark.parametrize("change, key", [
    ({"grad_accum": 2}, "grad_accum"), ({"max_grad_norm": 1.0}, "max_grad_norm"), ({"precision": "fp16"}, "fp16"),
])
def test_optimizer_in_backward_refuses_what_it_cannot_do(change, key):
    training = TrainingConfig(**{"optimizer_in_backward": True, "max_grad_norm": None, **change})
    with pytest.raises(ConfigError, match=key):
        S.check_stack(training, num_processes=1)
    with pytest.raises(ConfigError, match="one process"):
        S.check_stack(TrainingConfig(optimizer_in_backward=True, max_grad_norm=None), num_processes=2)
    S.check_stack(TrainingConfig(optimizer_in_backward=True, max_grad_norm=None), num_processes=1)  # fine


def test_compile_wraps_the_model(model, monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda m: seen.append(m) or m)
    assert S.maybe_compile(model, TrainingConfig()) is model and seen == []
    S.maybe_compile(model, TrainingConfig(compile=True))
    assert seen == [model]


def test_a_run_with_the_runner_stack_options_trains_and_resumes(tmp_path):
    """End to end on the tiny preset: chunked loss + activation offload + optimizer in backward for 6 steps; a
    second run resumed from the step-4 checkpoint (per-parameter optimizer states) ends with the same weights."""
    from ft_runner_util import config_dict, load_tensors, step_losses

    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import train

    stack = {"loss": "chunked", "activation_offload": True, "optimizer_in_backward": True, "grad_accum": 1,
             "max_grad_norm": None}
    straight = train(RunConfig.from_dict(config_dict(tmp_path, steps=6, out="straight", training=stack)), quiet=True)
    assert straight.exit_code == 0
    losses = step_losses(straight.run_dir)
    assert sorted(losses) == list(range(1, 7)) and all(v == v for v in losses.values())  # every step, finite
    other = RunConfig.from_dict(config_dict(tmp_path, steps=6, out="resumed", training=stack))
    resumed = train(other, resume=str(straight.run_dir / "checkpoints" / "step-000004"), quiet=True)
    assert resumed.exit_code == 0
    a = load_tensors(straight.run_dir / "final" / "adapter_model.safetensors")
    b = load_tensors(resumed.run_dir / "final" / "adapter_model.safetensors")
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
