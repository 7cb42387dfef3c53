"""How the FSDP engine gets weights into its shards: QLoRA's packed 4-bit weights (sharded as they are), and
rank 0's weights broadcast into the empty (meta) model of every other rank. See fsdp.py's docstring."""

from __future__ import annotations

from frugaltune.errors import ConfigError


def linear_4bit_modules(model) -> list:
    """The bitsandbytes 4-bit linear layers of `model` (none when it is not quantised; peft's LoRA wrappers of the
    same name hold one as their `base_layer`)."""
    return [m for m in model.modules() if type(m).__module__.startswith("bitsandbytes")
            and type(m).__name__ in ("Linear4bit", "LinearNF4", "LinearFP4")]


def check_4bit_storage(model) -> None:
    """FSDP shards floating tensors only: packed 4-bit weights stored as uint8 (bitsandbytes' default) would be
    left whole on every rank, or (older accelerate) corrupted.

    Raises:
        ConfigError: a 4-bit weight is packed into an integer dtype.
    """
    for module in linear_4bit_modules(model):
        if not module.weight.is_floating_point():
            raise ConfigError(f"the 4-bit weights are packed as {module.weight.dtype}, which fsdp cannot shard.",
                              fix="Load the model through frugaltune's runner (it packs them into the compute dtype),"
                                  " or use engine deepspeed with zero_stage 2.")


def fill_from_rank0(model, full: dict | None, param_device, comm_device) -> None:
    """Collective: give every rank its shards of rank 0's weights (`full`, rank 0's state dict before sharding; None
    elsewhere, where the sharded model is still on the meta device), then rank 0's buffers (rotary tables and other
    non-persistent buffers are not in a state dict)."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    if full is None:
        model.to_empty(device=param_device)  # allocate the shards; rank 0 fills them next
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, full or {}, options=options)
    for module in model.modules():  # buffers go where FSDP put rank 0's: this rank's device, even when offloaded
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                sent = buffer.to(comm_device)
                dist.broadcast(sent, src=0)
                module._buffers[name] = sent
