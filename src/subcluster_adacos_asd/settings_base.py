"""One way to read a parameter mapping into settings: every key known, every value of its type.

A typo in a YAML key (``reg_covr: 1e-2``) must stop the run with the known keys in the message,
not be ignored while the default is used; a value of the wrong type (``training.epochs=abc`` on
the command line) must stop it with the parameter's name, not fail later inside a comparison
(``'<' not supported between instances of 'str' and 'int'``) that names nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

S = TypeVar("S", bound="Settings")


class ParameterError(ValueError):
    """A parameter of the wrong type or out of range; the message names the parameter."""


class Settings:
    """Mixin for frozen dataclasses of parameters; ``from_parameters`` rejects unknown keys and
    values that are not of the field's annotated type.

    ``ignore``: keys of the same YAML section that belong to someone else (e.g. ``n_jobs`` in
    ``params:features`` is the extraction's, not the log-mel's).
    """

    @classmethod
    def from_parameters(
        cls: type[S], parameters: Mapping[str, Any] | None, what: str | None = None,
        ignore: tuple[str, ...] = (),
    ) -> S:
        parameters = dict(parameters or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(parameters) - set(fields) - set(ignore))
        if unknown:
            raise ValueError(
                f"{what or cls.__name__} has unknown keys {unknown}; known: {sorted(fields)}"
            )
        hints = _type_hints(cls)
        values = {}
        for name, value in parameters.items():
            if name not in fields:
                continue
            if isinstance(value, list):
                value = tuple(value)
            if name in hints:
                value = checked_value(value, hints[name], f"{what or cls.__name__}.{name}")
            values[name] = value
        return cls(**values)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved is not checked
        return {}


_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def checked_value(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the annotation's type, or a :class:`ParameterError` naming ``name``.

    Handled: ``int``, ``float``, ``bool``, ``str``, ``X | None``, ``tuple[X, ...]``; a number
    written as a string (``"1e-3"``, as YAML reads an exponent without a dot) is converted, an
    integer is a float, a float with a whole value is an integer; anything else is returned as
    it is (nested settings, mappings: their own class checks them).
    """
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        errors = []
        for option in real:
            try:
                return checked_value(value, option, name)
            except ParameterError as error:
                errors.append(error)
        if len(real) == 1:
            raise errors[0]
        words = " or ".join(_describe(o) for o in real)
        raise ParameterError(f"{name} must be {words}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, str) or not isinstance(value, (tuple, list)):
            raise ParameterError(f"{name} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(checked_value(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
        return tuple(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ParameterError(f"{name} must be true or false, got {value!r}")
    if annotation is int:
        number = _number(value)
        if number is None or number != int(number):
            raise ParameterError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    if annotation is float:
        number = _number(value)
        if number is None:
            raise ParameterError(f"{name} must be a number, got {value!r}")
        return float(number)
    if annotation is str:
        if not isinstance(value, str):
            raise ParameterError(f"{name} must be a string, got {value!r}")
        return value
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        try:  # numpy scalars
            number = float(value)
        except (TypeError, ValueError):
            return None
    return number if number == number and abs(number) != float("inf") else None


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is tuple:
        return "a list"
    return _TYPE_WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))
