"""Reading the YAML files users write (run configs, budgets): one ConfigError naming file and line for a file that is
missing, a directory, unreadable, not text, not valid YAML, or that sets the same key twice.

A duplicated key is an error, not "the last one wins" (PyYAML's default): `lr: 2e-4` near the top and `lr: 1e30`
further down would otherwise train with the second one silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from frugaltune.errors import ConfigError, yaml_syntax_error


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping that sets the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load, but a mapping may not set the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise DuplicateKeyError(problem=f"key {key!r} appears twice (first on line "
                                            f"{seen[key].line + 1}); the second would silently win",
                                            problem_mark=key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def read_text(path: str | Path, what: str, fix: str) -> str:
    """The text of a user's file; a missing, directory, unreadable or binary file is one ConfigError."""
    p = Path(path)
    if not str(path):
        raise ConfigError(f"{what}: no file given (empty path).", fix=fix)
    if not p.exists():
        raise ConfigError(f"{what} {p} not found.", fix=fix)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a directory, not a file.", fix=fix)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ConfigError(f"{what} {p}: cannot read it ({err.strerror or err}).",
                          fix="check the file's permissions.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {p} is not a text file (binary or not UTF-8).", fix=fix) from None
    if "\0" in text:
        raise ConfigError(f"{what} {p} is not a text file (it holds NUL bytes).", fix=fix)
    return text


def load_yaml(path: str | Path, what: str, fix: str) -> Any:
    """Parse a user's YAML file (see the module docstring); `what` names it in messages ('config file')."""
    text = read_text(path, what, fix)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as err:
        raise yaml_syntax_error(path, err) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read.", fix="flatten the YAML.") from None


def config_yaml(mapping: dict, header: str | None = None) -> str:
    """The YAML text frugaltune writes for a config mapping (keys in order, block style); `header` lines become
    leading comments (e.g. the command that runs it)."""
    body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
    if not header:
        return body
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + body
