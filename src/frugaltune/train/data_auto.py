"""`data.format: auto` (the default): the run's format detected from its data file's columns, once, before anything
else reads the data (frugaltune/data_format.py), so the trainer, the dry run and the written config.yaml all see the
detected format."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from frugaltune.train.config import RunConfig


def resolve_data_format(cfg: RunConfig, announce: Callable[[str], object] | None = None) -> RunConfig:
    """`cfg` with data.format "auto" replaced by the detected format (`announce` gets the line saying so); other
    configs unchanged.

    Raises:
        DataError: the data file is missing or unreadable, or its first row's columns fit no format.
    """
    from frugaltune.data_format import AUTO, detect_file_format, detection_note

    d = cfg.data
    if d.format != AUTO:
        return cfg
    f = d.fields
    columns = {"messages": f.messages, "instruction": f.instruction, "output": f.output, "text": f.text,
               "label": f.label, "prompt": f.prompt, "completion": f.response}
    fmt, where = detect_file_format(d.path, columns)
    if announce is not None:
        announce(detection_note(fmt, where))
    return cfg.model_copy(update={"data": d.model_copy(update={"format": fmt})})
