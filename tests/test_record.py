"""frugaltune.record behaves like dataclasses for everything the catalog and estimator use (it exists only to keep
`import dataclasses` off the `estimate --json` start-up path)."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from frugaltune.record import FrozenInstanceError, asdict, field, fields, is_record, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@record(eq=False)
class Box:
    point: Point
    items: list[int] = field(default_factory=list)


@record
class Counter:
    n: int = 0
    seen: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.n += 1


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    extra: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)


def test_construction_defaults_and_factories_match_dataclasses():
    for make in (Point, DataPoint):
        p = make(1, tags=("a",))
        assert (p.x, p.y, p.tags, p.extra) == (1, 0, ("a",), {})
        assert make(1).extra is not make(1).extra  # a fresh dict per instance
    assert repr(Point(1, 2)) == repr(DataPoint(1, 2)).replace("DataPoint", "Point")
    assert repr(Counter()) == "Counter(n=1)"  # repr=False fields are hidden


def test_bad_arguments_raise_type_error_naming_the_field():
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point(y=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="positional arguments"):
        Point(1, 2, (), {}, 5)


def test_frozen_records_refuse_assignment_and_hash_by_compared_fields():
    p = Point(1, 2, extra={"note": "ignored"})
    with pytest.raises(FrozenInstanceError):
        p.x = 3
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError, as in dataclasses
        del p.y
    assert p == Point(1, 2) and hash(p) == hash(Point(1, 2))  # `extra` is compare=False, hash=False
    assert p != Point(1, 3) and p != DataPoint(1, 2)
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_eq_false_means_identity_and_mutable_records_are_unhashable():
    a = Box(Point(1))
    assert a != Box(Point(1)) and a == a
    with pytest.raises(TypeError):
        hash(Counter())


def test_post_init_runs_on_construction_and_on_replace():
    c = Counter()
    assert c.n == 1
    assert replace(c, n=5).n == 6


def test_replace_asdict_fields_and_inheritance():
    p = Point(1, 2, ("a",), {"k": [1]})
    q = replace(p, y=9)
    assert (q.x, q.y, q.tags) == (1, 9, ("a",)) and p.y == 2
    with pytest.raises(TypeError):
        replace(p, nope=1)
    nested = asdict(Box(p, [1, 2]))
    assert nested == {"point": {"x": 1, "y": 2, "tags": ("a",), "extra": {"k": [1]}}, "items": [1, 2]}
    assert nested["point"]["extra"] is not p.extra  # containers are copied, as dataclasses.asdict does
    assert asdict(p) == dataclasses.asdict(DataPoint(1, 2, ("a",), {"k": [1]}))
    assert [f.name for f in fields(Point)] == [f.name for f in dataclasses.fields(DataPoint)]
    assert [f.required for f in fields(Point)] == [True, False, False, False]

    @record(frozen=True)
    class Point3(Point):
        z: int = 0

    assert [f.name for f in fields(Point3(1))] == ["x", "y", "tags", "extra", "z"]
    assert is_record(Point3) and not is_record(DataPoint)
    with pytest.raises(TypeError):
        fields(DataPoint)


def test_declaration_errors_match_dataclasses():
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @record
        class Bad:
            a: int = 0
            b: int
    with pytest.raises(ValueError, match="default_factory"):
        @record
        class Mutable:
            a: list = []  # noqa: RUF012


def test_pickle_and_copy_round_trip_frozen_records():
    p = Point(1, 2, ("a",), {"k": 1})
    for clone in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert clone == p and clone.extra == {"k": 1}
