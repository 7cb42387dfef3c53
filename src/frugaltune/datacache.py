"""Parsed shipped data files, cached per user with `marshal`, so `frugaltune estimate` starts fast.

Parsing the catalog CSVs costs ~15 ms, and `import csv, json, pickle` each pull in `re` and `enum` (~9 ms here).
Reading a marshalled file takes well under a millisecond and imports nothing (marshal is built into the interpreter).
Only plain data goes in: dicts, lists, tuples, strings, numbers, booleans and None (anything else is built each
time, never cached).

Each entry is stored with its key: the source files' paths, sizes and mtimes, the interpreter's tag, and the version of
the code that built it (the package version, this cache's entry format, the builder's module file and the version its
caller states), so an edited data file, an edited or upgraded parser, or another Python version never reads a stale
entry. Writes are atomic (temp file + rename);
an unreadable, truncated or foreign file is rebuilt; a read-only home still works, only without the cache.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib

from frugaltune import __version__

FORMAT_VERSION = 2  # the layout of an entry (key, value): an entry of another layout is rebuilt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def cache_dir() -> str:
    """$XDG_CACHE_HOME/frugaltune (default ~/.cache/frugaltune)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "frugaltune")


def _file_stamp(path: str) -> tuple:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def code_stamp(build: Callable[[], object], version: object = 0) -> tuple:
    """The version of the code that builds a value: the package's version, this cache's entry format, the caller's
    `version` (raised when what `build` makes changes) and the module file `build` is written in (its path, size and
    mtime: editing or upgrading the parser rebuilds the values it made)."""
    module = getattr(getattr(build, "__code__", None), "co_filename", "")
    try:
        stamp = _file_stamp(module)
    except (OSError, ValueError):  # built-in, frozen or without its source: the versions alone
        stamp = (module,)
    return __version__, FORMAT_VERSION, version, stamp


def cache_key(sources: list[str], build: Callable[[], object] | None = None, version: object = 0) -> tuple:
    """What a cached value is valid for: the interpreter, the version of the code that builds it (`code_stamp`), and
    each source file's absolute path, size and mtime."""
    return (sys.implementation.cache_tag, code_stamp(build, version), *[_file_stamp(s) for s in sources])


def cached(name: str, sources: list[str], build: Callable[[], object], *, version: object = 0) -> object:
    """The value `build()` makes from the `sources` files, read from the cache when it holds a current copy.
    `version`: raise it when what `build` makes changes in a way its module file's edit would not show."""
    key = cache_key(sources, build, version)
    where = zlib.crc32("\0".join(k[0] for k in key[2:]).encode())  # one file per checkout/install of the package
    path = os.path.join(cache_dir(), f"{name}-{where:08x}-{sys.implementation.cache_tag}.marshal")
    try:
        with open(path, "rb") as fh:
            stored_key, value = marshal.loads(fh.read())  # loads(read()): load(fh) reads in tiny pieces
        if stored_key == key:
            return value
    except (OSError, EOFError, ValueError, TypeError):  # absent, truncated or not ours: rebuild it
        pass
    value = build()
    try:
        data = marshal.dumps((key, value))
    except ValueError:  # not plain data (e.g. a date a YAML file holds): served, just not cached
        return value
    _write_atomically(path, data)
    return value


def _write_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # a concurrent reader sees no file or the whole file
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def package_sources(*dependencies: str) -> list[str]:
    """Every .py file of frugaltune, plus the `__init__.py` of each named installed package: the key of a value
    derived from the code itself (e.g. the run config's JSON schema), so any edit or upgrade rebuilds it."""
    root = os.path.dirname(os.path.abspath(__file__))
    found, todo = [], [root]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for entry in entries:
                if entry.is_dir() and entry.name != "__pycache__":
                    todo.append(entry.path)
                elif entry.name.endswith(".py"):
                    found.append(entry.path)
    for name in dependencies:
        found += [p for p in (os.path.join(d, name, "__init__.py") for d in sys.path if d) if os.path.isfile(p)][:1]
    return sorted(found)


def cached_yaml(path: str | os.PathLike, what: str, fix: str) -> object:
    """A user's YAML file parsed as `frugaltune.yamlio.load_yaml` does, through this cache (keyed on the file's size
    and mtime): reading it again unchanged costs neither the parse nor `import yaml` (~25 ms)."""

    def parse() -> object:
        from frugaltune.yamlio import load_yaml

        return load_yaml(path, what, fix)

    if not os.path.isfile(path):
        return parse()  # its error names what is wrong with the path
    return cached("yaml", [os.fspath(path)], parse)
