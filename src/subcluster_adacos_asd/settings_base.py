"""One way to read a parameter mapping into settings: every key known, every list a tuple.

A typo in a YAML key (``reg_covr: 1e-2``) must stop the run with the known keys in the message,
not be ignored while the default is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

S = TypeVar("S", bound="Settings")


class Settings:
    """Mixin for frozen dataclasses of parameters; ``from_parameters`` rejects unknown keys.

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
        values = {}
        for name, value in parameters.items():
            if name not in fields:
                continue
            if isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return cls(**values)
