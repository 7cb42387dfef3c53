"""Models outside the catalog by Hugging Face id ('org/name'): the architecture from the model's config.json, read
from the local Hugging Face cache, or fetched from the Hub when online (only config.json, as `accelerate
estimate-memory` does: no weights). Offline (HF_HUB_OFFLINE=1) and not cached is one clear error.

Cache layout (huggingface_hub docs, "Manage huggingface_hub cache-system"): $HF_HUB_CACHE, or $HF_HOME/hub, or
~/.cache/huggingface/hub, then models--{org}--{name}/refs/{revision} holding a commit hash and
snapshots/{hash}/config.json. Files fetched here are kept in ~/.cache/frugaltune/hub/{org}--{name}/config.json.
"""

from __future__ import annotations

import os

from frugaltune.errors import CatalogError

TIMEOUT_S = 10
_ARCHS: dict = {}


def hub_cache_dir() -> str:
    """The Hugging Face hub cache directory (see the module docstring)."""
    return os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")


def looks_like_hub_id(spec: str) -> bool:
    """'org/name' with no spaces, not a local path."""
    return spec.count("/") == 1 and " " not in spec and not spec.startswith((".", "/", "~")) and all(spec.split("/"))


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def cached_config(repo_id: str, revision: str = "main") -> str | None:
    """config.json of `repo_id` in the local Hugging Face cache (the revision's snapshot, else the newest), or in
    frugaltune's own copy from an earlier fetch; None when neither holds it."""
    repo = os.path.join(hub_cache_dir(), "models--" + repo_id.replace("/", "--"))
    try:
        with open(os.path.join(repo, "refs", revision)) as fh:
            pinned = os.path.join(repo, "snapshots", fh.read().strip(), "config.json")
        if os.path.isfile(pinned):
            return pinned
    except OSError:
        pass
    snapshots = os.path.join(repo, "snapshots")
    found = [os.path.join(snapshots, d, "config.json") for d in (os.listdir(snapshots) if os.path.isdir(snapshots)
                                                                 else [])]
    found = sorted((p for p in found if os.path.isfile(p)), key=os.path.getmtime)
    if found:
        return found[-1]
    own = _own_copy(repo_id)
    return own if os.path.isfile(own) else None


def _own_copy(repo_id: str) -> str:
    from frugaltune.datacache import cache_dir

    return os.path.join(cache_dir(), "hub", repo_id.replace("/", "--"), "config.json")


def fetch_config(repo_id: str) -> str:
    """Download config.json of `repo_id` from the Hub ($HF_ENDPOINT, default https://huggingface.co; $HF_TOKEN for
    gated models) into frugaltune's cache; its path. Raises CatalogError naming what went wrong."""
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/{repo_id}/resolve/main/config.json")
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 -- an https endpoint
            data = response.read()
    except urllib.error.HTTPError as err:
        why = {401: "the Hub asks for a login (a gated or private model: set HF_TOKEN)",
               403: "the Hub refused access (accept the model's licence on its page, then set HF_TOKEN)",
               404: "no such model on the Hub"}.get(err.code, f"the Hub answered HTTP {err.code}")
        raise CatalogError(f"Unknown model {repo_id!r}: not in the catalog, and {why}.",
                           fix="check the id, or pass a local config.json / model directory.") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CatalogError(f"Unknown model {repo_id!r}: not in the catalog or the local Hugging Face cache, and the "
                           f"Hub could not be reached ({reason}).", fix="pass a local config.json / model directory, "
                           "or download the config once where the Hub is reachable.") from None
    path = _own_copy(repo_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def arch_from_hub(repo_id: str, suggestion: str = ""):
    """The ModelArch of a Hub model from its config.json (cached, else fetched when online), named by its id."""
    if repo_id not in _ARCHS:
        path = cached_config(repo_id)
        if path is None and offline():
            raise CatalogError(f"Unknown model {repo_id!r}: not in the catalog, and its config.json is not in the "
                               f"local Hugging Face cache ({hub_cache_dir()}) while HF_HUB_OFFLINE=1.{suggestion}",
                               fix=f"run once online (or `huggingface-cli download {repo_id} config.json`), or pass a "
                               "local config.json / model directory.")
        from frugaltune.catalog.hfconfig import arch_from_config
        from frugaltune.record import replace

        arch = arch_from_config(path or fetch_config(repo_id))
        _ARCHS[repo_id] = replace(arch, name=repo_id.split("/")[1], hf_id=repo_id)
    return _ARCHS[repo_id]
