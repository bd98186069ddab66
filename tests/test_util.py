"""Tests for tornado_compat.util.Configurable: the constructor as a factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tornado_compat.util import Configurable


class Shape(Configurable):
    """A configurable base whose default is Circle."""

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Shape

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return Circle


class Circle(Shape):
    def initialize(self, *args: Any, radius: int = 1) -> None:
        self.args = args
        self.radius = radius


class Square(Shape):
    def initialize(self, *args: Any, side: int = 1) -> None:
        self.args = args
        self.side = side


class Polygon(Shape):
    """An implementation of Shape that is itself configurable."""

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Polygon

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return Triangle


class Triangle(Polygon):
    def initialize(self, colour: str = "none") -> None:
        self.colour = colour


class Hexagon(Polygon):
    def initialize(self, sides: int = 6, colour: str = "none") -> None:
        self.sides = sides
        self.colour = colour


class NotAShape:
    pass


class SelfDefault(Configurable):
    """A base that is its own default, as HTTPServer is."""

    calls = 0

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return SelfDefault

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return SelfDefault

    def initialize(self, value: int = 0) -> None:
        type(self).calls += 1
        self.value = value


@pytest.fixture(autouse=True)
def clean_configuration() -> Iterator[None]:
    saved = [
        Shape._save_configuration(),
        Polygon._save_configuration(),
        SelfDefault._save_configuration(),
    ]
    yield
    Shape._restore_configuration(saved[0])
    Polygon._restore_configuration(saved[1])
    SelfDefault._restore_configuration(saved[2])


def test_base_builds_its_default_with_the_callers_arguments() -> None:
    shape = Shape(7, 8, radius=3)
    assert type(shape) is Circle
    assert isinstance(shape, Shape)
    assert shape.args == (7, 8)
    assert shape.radius == 3
    assert Shape.configured_class() is Circle


def test_configure_with_a_class() -> None:
    Shape.configure(Square)
    shape = Shape(side=4)
    assert type(shape) is Square
    assert shape.side == 4
    assert Shape.configured_class() is Square
    # Implementations stay directly constructible whatever is configured.
    assert type(Circle()) is Circle


def test_configure_with_a_dotted_name() -> None:
    Shape.configure("tests.test_util.Square")
    assert type(Shape()) is Square


def test_saved_kwargs_are_defaults_that_the_caller_overrides() -> None:
    Shape.configure(None, radius=5)
    assert type(Shape()) is Circle
    assert Shape().radius == 5
    assert Shape(radius=9).radius == 9
    # Saved arguments belong to the base; direct construction ignores them.
    assert Circle().radius == 1


def test_configure_replaces_earlier_kwargs() -> None:
    Shape.configure(Square, side=2)
    Shape.configure(Square)
    assert Shape().side == 1


def test_configure_rejects_what_is_not_a_subclass() -> None:
    with pytest.raises(ValueError):
        Shape.configure(NotAShape)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Shape.configure("tests.test_util.NotAShape")
    with pytest.raises(ValueError):
        Shape.configure("tests.test_util.clean_configuration")
    # Configuring through a subclass only accepts subclasses of that subclass.
    with pytest.raises(ValueError):
        Circle.configure(Square)
    assert Shape.configured_class() is Circle


def test_configure_through_a_subclass_sets_the_base() -> None:
    Circle.configure(Circle, radius=6)
    assert Shape().radius == 6


def test_save_and_restore_configuration() -> None:
    saved = Shape._save_configuration()
    Shape.configure(Square, side=3)
    assert Shape().side == 3
    Shape._restore_configuration(saved)
    assert type(Shape()) is Circle
    Shape.configure(Square, side=3)
    inner = Shape._save_configuration()
    Shape.configure(None)
    Shape._restore_configuration(inner)
    assert Shape().side == 3


def test_nested_hierarchy_makes_the_inner_choice() -> None:
    Shape.configure(Polygon, colour="red")
    shape = Shape()
    assert type(shape) is Triangle
    assert shape.colour == "red"

    Polygon.configure(Hexagon, sides=8)
    shape = Shape()
    assert type(shape) is Hexagon
    assert (shape.sides, shape.colour) == (8, "red")


def test_inner_base_is_configured_independently() -> None:
    assert type(Polygon()) is Triangle
    Polygon.configure(Hexagon)
    assert type(Polygon()) is Hexagon
    # Configuring the outer base leaves the inner one alone, and the outer
    # base's saved arguments are not handed to the inner level.
    Shape.configure(Square, side=2)
    assert type(Shape()) is Square
    assert type(Polygon()) is Hexagon
    assert Polygon().sides == 6


def test_a_base_may_be_its_own_default() -> None:
    before = SelfDefault.calls
    obj = SelfDefault(value=4)
    assert type(obj) is SelfDefault
    assert obj.value == 4
    # ``initialize`` runs once per construction, not once per level.
    assert SelfDefault.calls == before + 1


def test_initialize_runs_once_through_a_nested_hierarchy() -> None:
    calls: list[str] = []

    class Counting(Triangle):
        def initialize(self, colour: str = "none") -> None:
            calls.append(colour)
            super().initialize(colour)

    Shape.configure(Polygon)
    Polygon.configure(Counting)
    Shape(colour="blue")
    assert calls == ["blue"]


def test_bare_configurable_has_no_base() -> None:
    with pytest.raises(NotImplementedError):
        Configurable()
