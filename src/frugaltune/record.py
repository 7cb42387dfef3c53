"""Plain records for the estimate path: the part of `dataclasses` the catalog and estimator use, without its import.

Why not `dataclasses`: `frugaltune estimate --json` must start within 4x a bare `python -c pass`
(bench/cli_startup.py). `import dataclasses` pulls in inspect, ast, dis, tokenize and copy (~13 ms here), and every
`@dataclass` compiles its generated methods with exec (~1 ms per class, ~20 classes on the path): together a third of
the command's start-up. `@record` sets up the same behaviour from the class annotations with shared, generic methods
and compiles nothing. Modules off the estimate path (plan, train, report) keep using `dataclasses`.

Supported, with dataclasses' semantics: annotated fields in order, defaults, `field(default_factory=..., compare=...,
hash=..., repr=...)`, positional or keyword construction, `__post_init__`, `frozen=True` (assignment raises
`FrozenInstanceError`, and instances hash by their compared fields), `eq=False` (identity equality), inheritance of
fields, and the module functions `fields`, `replace`, `asdict`. Not supported (not used): `init=False`, `order=True`,
`kw_only`, `InitVar`, `slots`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing itself costs start-up time
if TYPE_CHECKING:
    from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """One field's declaration (the subset of `dataclasses.Field` frugaltune uses)."""

    __slots__ = ("compare", "default", "default_factory", "hash", "name", "repr", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True,
                 hash: bool | None = None, repr: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None  # the annotation as written (a string under `from __future__ import annotations`)
        self.default, self.default_factory = default, default_factory
        self.compare, self.hash, self.repr = compare, hash, repr

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is MISSING

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True, hash: bool | None = None,
          repr: bool = True) -> Any:
    """Declare a field with options, as `dataclasses.field`."""
    return Field(default, default_factory, compare, hash, repr)


def record(cls: type | None = None, /, *, frozen: bool = False, eq: bool = True) -> Any:
    """Class decorator: `@record`, `@record(frozen=True)`, `@record(eq=False)`."""

    def wrap(cls: type) -> type:
        return _process_class(cls, frozen, eq)

    return wrap if cls is None else wrap(cls)


def _process_class(cls: type, frozen: bool, eq: bool) -> type:
    declared: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        declared.update(getattr(base, "__record_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        declared[name] = _declare(cls, name, annotation)
    _check_default_order(cls, declared)
    cls.__record_fields__ = declared
    cls.__record_defaults__ = {n: f.default for n, f in declared.items() if f.default is not MISSING}
    cls.__record_factories__ = tuple((n, f.default_factory) for n, f in declared.items()
                                     if f.default_factory is not MISSING)
    cls.__record_compared__ = tuple(n for n, f in declared.items() if f.compare)
    cls.__record_hashed__ = tuple(n for n, f in declared.items() if (f.compare if f.hash is None else f.hash))
    cls.__record_post_init__ = hasattr(cls, "__post_init__")
    cls.__match_args__ = tuple(declared)
    cls.__init__ = _init
    cls.__repr__ = _repr
    if eq:
        cls.__eq__ = _eq
        cls.__hash__ = _hash if frozen else None  # dataclasses: eq without frozen makes instances unhashable
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    return cls


def _declare(cls: type, name: str, annotation: Any) -> Field:
    value = cls.__dict__.get(name, MISSING)
    declared = value if isinstance(value, Field) else Field(default=value)
    if isinstance(declared.default, (list, dict, set)):
        raise ValueError(f"mutable default {type(declared.default).__name__} for field {name}: use default_factory")
    declared.name, declared.type = name, annotation
    if isinstance(value, Field):  # the class attribute becomes the plain default, as in dataclasses
        if declared.default is MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, declared.default)
    return declared


def _check_default_order(cls: type, declared: dict[str, Field]) -> None:
    seen_default = False
    for name, spec in declared.items():
        if not spec.required:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {name!r} follows default argument in {cls.__name__}")


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    declared = cls.__record_fields__
    if args and not kwargs and len(args) == len(declared) and not cls.__record_defaults__:
        self.__dict__.update(zip(declared, args))  # every field in order: none missing or unknown, none defaulted
        if cls.__record_post_init__:
            self.__post_init__()
        return
    if args:
        kwargs = _with_positional(cls, args, kwargs)
    values = {**cls.__record_defaults__, **kwargs}
    for name, factory in cls.__record_factories__:
        if name not in values:
            values[name] = factory()
    if len(values) != len(declared) or not kwargs.keys() <= declared.keys():
        _raise_bad_arguments(cls, values)
    self.__dict__.update(values)  # directly, so frozen records can be built (dataclasses uses object.__setattr__)
    if cls.__record_post_init__:
        self.__post_init__()


def _with_positional(cls: type, args: tuple, kwargs: dict) -> dict:
    declared = cls.__record_fields__
    if len(args) > len(declared):
        raise TypeError(f"{cls.__name__}() takes {len(declared)} positional arguments but {len(args)} were given")
    positional = dict(zip(declared, args))
    for name in kwargs:
        if name in positional:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
    return {**positional, **kwargs}


def _raise_bad_arguments(cls: type, values: dict) -> None:
    declared = cls.__record_fields__
    unknown = [n for n in values if n not in declared]
    if unknown:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {unknown[0]!r}")
    missing = [n for n in declared if n not in values]
    raise TypeError(f"{cls.__name__}() missing required argument: {missing[0]!r}")


def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={self.__dict__[n]!r}" for n, f in type(self).__record_fields__.items() if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self.__record_compared__
    return tuple(self.__dict__[n] for n in names) == tuple(other.__dict__[n] for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(self.__dict__[n] for n in self.__record_hashed__))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r} of frozen {type(self).__name__}")


def is_record(obj: Any) -> bool:
    """True for a record class or instance."""
    return hasattr(obj, "__record_fields__")


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in declaration order."""
    if not is_record(obj):
        raise TypeError(f"fields() needs a record class or instance, not {type(obj).__name__}")
    return tuple(obj.__record_fields__.values())


def replace(obj: Any, /, **changes: Any) -> Any:
    """A new record like `obj` with `changes` applied (runs `__init__` and `__post_init__` again)."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("replace() should be called on a record instance")
    return type(obj)(**{**{n: obj.__dict__[n] for n in obj.__record_fields__}, **changes})


def asdict(obj: Any) -> Any:
    """A record as a dict, recursing into nested records, lists, tuples and dicts (as `dataclasses.asdict`)."""
    if is_record(obj) and not isinstance(obj, type):
        return {n: asdict(obj.__dict__[n]) for n in obj.__record_fields__}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    return obj
