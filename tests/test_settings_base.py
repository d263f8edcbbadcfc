"""settings_base.py: unknown keys and values of the wrong type stop with the parameter's name."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from subcluster_adacos_asd.settings_base import ParameterError, Settings, checked_value


@dataclass(frozen=True)
class Example(Settings):
    epochs: int = 1
    rate: float = 0.1
    enabled: bool = False
    name: str = "x"
    crop: int | None = None
    epochs_kept: tuple[int, ...] = ()


def test_values_are_checked_and_converted_by_their_annotation():
    settings = Example.from_parameters(
        {"epochs": 16.0, "rate": "1e-3", "enabled": "true", "crop": None,
         "epochs_kept": [8, "16"]}, "params:example")
    assert settings == Example(epochs=16, rate=0.001, enabled=True, crop=None,
                               epochs_kept=(8, 16))
    for key, value, words in (
        ("epochs", "abc", "a whole number, got 'abc'"),
        ("epochs", 2.5, "a whole number, got 2.5"),
        ("epochs", True, "a whole number, got True"),
        ("rate", "fast", "a number, got 'fast'"),
        ("enabled", "yes", "true or false, got 'yes'"),
        ("name", 3, "a string, got 3"),
        ("crop", "none", "a whole number, got 'none'"),
        ("epochs_kept", "8", "a list, got '8'"),
    ):
        with pytest.raises(ParameterError, match=f"^params:example.{key} must be {words}$"):
            Example.from_parameters({key: value}, "params:example")
    with pytest.raises(ParameterError, match=r"params:example.epochs_kept\[1\] must be a whole"):
        Example.from_parameters({"epochs_kept": [8, "x"]}, "params:example")
    with pytest.raises(ValueError, match=r"params:example has unknown keys \['epoch'\]"):
        Example.from_parameters({"epoch": 3}, "params:example")


def test_a_union_of_several_types_says_so():
    with pytest.raises(ParameterError, match=r"^p must be a string or a list, got 3$"):
        checked_value(3, str | tuple[str, ...], "p")
    assert checked_value(["a"], str | tuple[str, ...], "p") == ("a",)
