"""The plan of a synthetic data set: what to generate, which clips, and their manifest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from subcluster_adacos_asd.settings_base import Settings
from subcluster_adacos_asd.synthetic.machines import MODELS
from subcluster_adacos_asd.synthetic.signals import seeded_rng

#: The seven machine types of DCASE 2021 task 2, each with a sound model (machines.py).
MACHINE_TYPES = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")

DOMAINS = ("source", "target")


@dataclass(frozen=True)
class SyntheticSettings(Settings):
    """What to generate: the ``synthetic`` parameters of the Kedro project.

    Counts are per section; ``test_clips`` is per section, domain and label (normal/anomaly).
    Attribute levels index the section's attribute (speed, load, valve pattern, ...): the source
    domain cycles through ``source_attribute_levels``, the target domain through
    ``target_attribute_levels`` (outside the source range by default, hence a domain shift).
    ``anomaly_strength`` scales every anomaly's severity (1 = the default difficulty).
    """

    seed: int = 2021
    sample_rate: int = 16000
    duration_s: float = 10.0
    machine_types: tuple[str, ...] = ("fan", "gearbox", "valve")
    sections: tuple[int, ...] = (0, 1)
    source_train_clips: int = 40
    target_train_clips: int = 3
    test_clips: int = 10
    source_attribute_levels: tuple[int, ...] = (1, 2, 3)
    target_attribute_levels: tuple[int, ...] = (4,)
    anomaly_strength: float = 1.0

    def __post_init__(self):
        unknown = [m for m in self.machine_types if m not in MACHINE_TYPES]
        if unknown:
            raise ValueError(f"Unknown machine types {unknown}; known: {list(MACHINE_TYPES)}")
        if not self.machine_types or not self.sections:
            raise ValueError("machine_types and sections must not be empty")
        if len(set(self.machine_types)) != len(self.machine_types):
            raise ValueError(f"machine_types repeats a type: {list(self.machine_types)}")
        if any(not 0 <= s <= 99 for s in self.sections) or len(set(self.sections)) != len(
            self.sections
        ):
            raise ValueError(f"sections must be distinct integers 0..99, got {self.sections}")
        for name in ("source_train_clips", "target_train_clips", "test_clips"):
            if not 0 <= getattr(self, name) <= 9999:
                raise ValueError(f"{name} must be in 0..9999, got {getattr(self, name)}")
        for name in ("source_attribute_levels", "target_attribute_levels"):
            levels = getattr(self, name)
            if not levels or any(not 0 <= level <= 99 for level in levels):
                raise ValueError(f"{name} must be a non-empty list of integers 0..99, got {levels}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.sample_rate < 8000:
            raise ValueError(f"sample_rate must be at least 8000 Hz, got {self.sample_rate}")
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if self.anomaly_strength < 0:
            raise ValueError(f"anomaly_strength must be >= 0, got {self.anomaly_strength}")

    @classmethod
    def from_parameters(cls, parameters: Mapping, what: str = "params:synthetic"
                        ) -> SyntheticSettings:
        """Settings from the ``synthetic`` parameter mapping; unknown keys are an error."""
        values = dict(parameters)
        for name in ("machine_types", "sections", "source_attribute_levels",
                     "target_attribute_levels"):
            if name in values:
                if isinstance(values[name], str | int):
                    raise ValueError(f"synthetic parameter {name} must be a list")
                values[name] = tuple(values[name])
        for name in ("sections", "source_attribute_levels", "target_attribute_levels"):
            if name in values:
                values[name] = tuple(int(v) for v in values[name])
        return super().from_parameters(values, what)

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate))


@dataclass(frozen=True)
class ClipSpec:
    """One clip: its identity in the DCASE grammar and what generates it."""

    machine_type: str
    section: int
    domain: str
    split: str
    label: str
    number: int
    attribute_name: str
    attribute_level: int
    anomaly_kind: str = ""
    anomaly_severity: float = 0.0

    @property
    def attributes(self) -> str:
        """The attribute string of the file name, e.g. ``speed_2``."""
        return f"{self.attribute_name}_{self.attribute_level}"

    @property
    def split_folder(self) -> str:
        return "train" if self.split == "train" else f"{self.domain}_test"

    @property
    def filename(self) -> str:
        """The DCASE 2021 development file name without ``.wav``."""
        return (
            f"section_{self.section:02d}_{self.domain}_{self.split}_{self.label}_"
            f"{self.number:04d}_{self.attributes}"
        )

    @property
    def key(self) -> str:
        """The partition key: ``<machine_type>/<split folder>/<file name>``."""
        return f"{self.machine_type}/{self.split_folder}/{self.filename}"


def plan_clips(settings: SyntheticSettings) -> list[ClipSpec]:
    """Every clip of the data set, in a fixed order (machine type, section, domain, split, label).

    Attribute levels and anomaly kinds are assigned in turn, so each is equally represented; the
    severity of each anomaly is drawn from the clip's own seed.
    """
    clips = []
    for machine_type in settings.machine_types:
        model = MODELS[machine_type]
        for section in settings.sections:
            attribute_name = model.attribute_names[section % len(model.attribute_names)]
            groups = [
                ("source", "train", "normal", settings.source_train_clips),
                ("target", "train", "normal", settings.target_train_clips),
                ("source", "test", "normal", settings.test_clips),
                ("source", "test", "anomaly", settings.test_clips),
                ("target", "test", "normal", settings.test_clips),
                ("target", "test", "anomaly", settings.test_clips),
            ]
            for domain, split, label, count in groups:
                levels = (
                    settings.source_attribute_levels
                    if domain == "source"
                    else settings.target_attribute_levels
                )
                for number in range(count):
                    clip = ClipSpec(machine_type, section, domain, split, label, number,
                                    attribute_name, levels[number % len(levels)])
                    if label == "anomaly":
                        kinds = model.anomaly_kinds
                        # the offset by section varies which attribute meets which anomaly kind
                        kind = kinds[(number + section) % len(kinds)]
                        severity = settings.anomaly_strength * float(
                            seeded_rng(settings.seed, clip.key, "severity").uniform(0.5, 1.5)
                        )
                        clip = ClipSpec(**{**clip.__dict__, "anomaly_kind": kind,
                                           "anomaly_severity": severity})
                    clips.append(clip)
    return clips


def clip_manifest(clips: Sequence[ClipSpec]) -> pd.DataFrame:
    """One row per clip: its partition key (``file_id``) and the parameters that generated it."""
    return pd.DataFrame(
        {
            "file_id": [c.key for c in clips],
            "machine_type": [c.machine_type for c in clips],
            "section": [c.section for c in clips],
            "domain": [c.domain for c in clips],
            "split": [c.split for c in clips],
            "label": [c.label for c in clips],
            "file_number": [c.number for c in clips],
            "attributes": [c.attributes for c in clips],
            "attribute_name": [c.attribute_name for c in clips],
            "attribute_level": [c.attribute_level for c in clips],
            "anomaly_kind": [c.anomaly_kind for c in clips],
            "anomaly_severity": [round(c.anomaly_severity, 4) for c in clips],
        }
    )
