"""frugaltune: what will fine-tuning cost, run it cheaply, and did it really cost that.

The public Python API (also the façade `frugaltune.api`):

    from frugaltune import estimate, compare, recommend, plan, train, report

Each name is re-exported lazily from where it lives, so `import frugaltune` stays cheap (no torch, no pandas).
Four of them share their name with a subpackage (`frugaltune.estimate`, `.plan`, `.train`, `.report`). Python binds
a subpackage on its parent when it is imported, which would turn `frugaltune.estimate` from the function into the
package; here the package module's class keeps those names bound to API objects that are both: calling one calls
the function, and its attributes are the subpackage's (`frugaltune.estimate.memory`, `import
frugaltune.plan.search as s` keep working).
"""

import sys

__version__ = "0.1.0"

__all__ = ["estimate", "compare", "impact", "recommend", "plan", "budget", "buy_vs_rent", "afford", "train", "probe",
           "report", "__version__"]

# public name -> (module, attribute)
_LAZY = {"estimate": ("frugaltune.estimate.build", "estimate"), "train": ("frugaltune.train.recipe", "train"),
         "probe": ("frugaltune.train.probe", "probe"),
         "report": ("frugaltune.report.render", "report"),
         **{n: ("frugaltune.plan.api", n) for n in ("compare", "impact", "recommend", "plan", "budget", "buy_vs_rent",
                                                   "afford")}}
_SHARED = ("estimate", "plan", "train", "report")  # API names that are also subpackages


def _load(name: str):
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)


class _ApiName:
    """`frugaltune.<name>`: calls the API function; any other attribute is the subpackage's."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args, **kwargs):
        return _load(self._name)(*args, **kwargs)

    @property
    def __doc__(self):  # help() and IDEs show the function's docstring
        return _load(self._name).__doc__

    @property
    def __wrapped__(self):  # inspect.signature() follows it to the function
        return _load(self._name)

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(f"frugaltune.{self._name}"), attr)

    def __repr__(self) -> str:
        return f"<frugaltune API function {self._name} (also the frugaltune.{self._name} package)>"


def _shared_name(name: str) -> property:
    def get(module):
        return module.__dict__["_api_names"][name]

    def set_(module, value):  # the import system binding the subpackage: keep it, keep the API name
        module.__dict__["_subpackages"][name] = value

    return property(get, set_, doc=f"frugaltune.{name}: the API function and its subpackage.")


class _Package(type(sys)):
    """The `frugaltune` module's class: the names in _SHARED stay API objects after their subpackage is imported."""

    locals().update({n: _shared_name(n) for n in _SHARED})


_api_names = {n: _ApiName(n) for n in _SHARED}
_subpackages: dict = {}
sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _LAZY:
        return _load(name)
    raise AttributeError(f"module 'frugaltune' has no attribute {name!r}")
