"""Every parameter a run reads, checked when the run starts: types, ranges, the parameter's name.

A wrong value used to surface where it was first used: ``score.threshold_percentile=150`` only
after every configuration's GMMs had been fitted and saved, ``training.epochs=abc`` as
``'<' not supported between instances of 'str' and 'int'``. :class:`ParameterCheckHooks` runs
before any node (Kedro's ``before_pipeline_run``) and reads each parameter section the
pipeline uses through the settings dataclass its nodes use (``TrainingSettings``,
``LogMelSettings``, ``BackendSettings``, ...; :mod:`settings_base` checks each value's type and
rejects unknown keys), plus the schemas below for the sections whose nodes read plain values.
The first problem of every section is reported at once, each with its parameter's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kedro.framework.hooks import hook_impl

from subcluster_adacos_asd.settings_base import ParameterError, Settings, checked_value

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# helpers


def in_range(name: str, value, low=None, high=None, *, low_open: bool = False,
             high_open: bool = False) -> None:
    """A :class:`ParameterError` naming ``name`` unless ``low <= value <= high`` (``<`` where
    open; ``None``: no bound)."""
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ParameterError(f"{name} must lie in {span}, got {value!r}")


def one_of(name: str, value, choices: Iterable) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(f"{name} must be one of {list(choices)}, got {value!r}")


def settings_of(cls: type[Settings], values: Mapping | None, what: str, **kwargs) -> Settings:
    """``cls.from_parameters`` after every known key's value is checked against its annotation
    (so a classmethod that converts values first, e.g. ``int(e) for e in snapshot_epochs``,
    never meets a value of the wrong type)."""
    if values is not None and not isinstance(values, Mapping):
        raise ParameterError(f"{what} must be a mapping of keys to values, got {values!r}")
    values = dict(values or {})
    hints = _hints(cls)
    checked = {key: checked_value(value, hints[key], f"{what}.{key}") if key in hints else value
               for key, value in values.items()}
    try:
        return cls.from_parameters(checked, what, **kwargs)
    except ParameterError:
        raise
    except (ValueError, TypeError) as error:  # a range check that names the key alone
        message = str(error)
        if "params:" in message or what.removeprefix("params:") in message:
            raise
        raise ParameterError(f"{what}: {message}") from error


def _hints(cls) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _positive_fields(settings, what: str, names: Iterable[str], low=1) -> None:
    for name in names:
        in_range(f"{what}.{name}", getattr(settings, name), low)


# --------------------------------------------------------------------------------------------
# schemas of the sections whose nodes read plain values


@dataclass(frozen=True)
class DataSourceParameters(Settings):
    """``params:data_source``."""

    synthetic: bool = True


@dataclass(frozen=True)
class VariantChoiceParameters(Settings):
    """``params:score.variant_choice`` (ensemble.choose_variants)."""

    method: str = "fixed"
    default: str = "both"
    fixed: Mapping[str, str] | None = None


@dataclass(frozen=True)
class TmaxParameters(Settings):
    """``params:score.tmax``: machine types with the eq. 4 term, mixture overrides."""

    machine_types: tuple[str, ...] = ()
    gmm: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ReductionParameters(Settings):
    """``params:score.reduction``."""

    fraction: float = 0.99


@dataclass(frozen=True)
class ScoreParameters(Settings):
    """``params:score``: each key as the score pipeline's nodes read it."""

    backends: Mapping[str, Any] = field(default_factory=dict)
    tmax: Mapping[str, Any] = field(default_factory=dict)
    normalisation: str = "none"
    variant_choice: Mapping[str, Any] = field(default_factory=dict)
    reduction: Mapping[str, Any] = field(default_factory=dict)
    threshold_percentile: float = 90.0
    calibration: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineParameters(Settings):
    """``params:baselines``: the shared keys; each system's section has its own settings."""

    section_groups: tuple[tuple[int, ...], ...] | None = None
    decision_quantile: float = 0.9
    calibration: Mapping[str, Any] = field(default_factory=dict)
    autoencoder: Mapping[str, Any] = field(default_factory=dict)
    mobilenetv2: Mapping[str, Any] = field(default_factory=dict)
    references: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluateParameters(Settings):
    """``params:evaluate``."""

    protocol: str = "auto"
    ground_truth: str | None = None
    max_fpr: float = 0.1
    roc_systems: tuple[str, ...] = ()
    summary_systems: tuple[str, ...] = ()
    histogram_bins: int = 30


# --------------------------------------------------------------------------------------------
# one check per parameter section


def check_features(values: Mapping) -> None:
    from subcluster_adacos_asd.log_mel import EXTRACTION_KEYS, LogMelSettings
    from subcluster_adacos_asd.manifest import IndexSettings

    log_mel = settings_of(LogMelSettings, {k: v for k, v in values.items()
                                           if k not in EXTRACTION_KEYS}, "params:features")
    settings_of(IndexSettings, {k: v for k, v in values.items() if k in EXTRACTION_KEYS},
                "params:features")
    in_range("params:features.n_fft", log_mel.n_fft, 2)


def check_training(values: Mapping) -> None:
    from subcluster_adacos_asd.training import TrainingSettings

    what = "params:training"
    settings = settings_of(TrainingSettings, values, what)
    _positive_fields(settings, what, ("embedding_dim", "embed_batch_size", "data_workers"))
    in_range(f"{what}.learning_rate", settings.learning_rate, 0, low_open=True)
    in_range(f"{what}.l2_weight_decay", settings.l2_weight_decay, 0)
    in_range(f"{what}.seed", settings.seed, 0)


def check_score(values: Mapping) -> None:
    from subcluster_adacos_asd.backends import BackendSettings
    from subcluster_adacos_asd.calibration import CalibrationSettings
    from subcluster_adacos_asd.contracts import VARIANTS
    from subcluster_adacos_asd.ensemble import CHOICE_METHODS, NORMALISATIONS
    from subcluster_adacos_asd.mixtures import MixtureSettings

    what = "params:score"
    score = settings_of(ScoreParameters, values, what)
    in_range(f"{what}.threshold_percentile", score.threshold_percentile, 0, 100)
    one_of(f"{what}.normalisation", score.normalisation, NORMALISATIONS)
    backend_values = dict(score.backends)
    gmm = dict(backend_values.pop("gmm", None) or {})
    mixture = settings_of(MixtureSettings, gmm, f"{what}.backends.gmm")
    _check_mixture(mixture, f"{what}.backends.gmm")
    settings_of(BackendSettings, {**backend_values, "gmm": mixture}, f"{what}.backends")
    tmax = settings_of(TmaxParameters, score.tmax, f"{what}.tmax")
    tmax_mixture = settings_of(MixtureSettings, {**gmm, **dict(tmax.gmm or {})},
                               f"{what}.tmax.gmm")
    _check_mixture(tmax_mixture, f"{what}.tmax.gmm")
    choice = settings_of(VariantChoiceParameters, score.variant_choice, f"{what}.variant_choice")
    one_of(f"{what}.variant_choice.method", choice.method, CHOICE_METHODS)
    one_of(f"{what}.variant_choice.default", choice.default, VARIANTS)
    for machine_type, variant in dict(choice.fixed or {}).items():
        one_of(f"{what}.variant_choice.fixed.{machine_type}", variant, VARIANTS)
    reduction = settings_of(ReductionParameters, score.reduction, f"{what}.reduction")
    in_range(f"{what}.reduction.fraction", reduction.fraction, 0, 1, low_open=True)
    calibration = settings_of(CalibrationSettings, score.calibration, f"{what}.calibration")
    in_range(f"{what}.calibration.seed", calibration.seed, 0)


def _check_mixture(settings, what: str) -> None:
    _positive_fields(settings, what, ("max_iter",))
    in_range(f"{what}.tol", settings.tol, 0, low_open=True)
    in_range(f"{what}.seed", settings.seed, 0)


def check_baselines(values: Mapping) -> None:
    from subcluster_adacos_asd.baselines.autoencoder import AutoencoderSettings
    from subcluster_adacos_asd.baselines.mobilenetv2 import MobileNetV2Settings
    from subcluster_adacos_asd.calibration import HoldoutSettings
    from subcluster_adacos_asd.references import ReferenceSettings

    what = "params:baselines"
    shared = settings_of(BaselineParameters, values, what)
    in_range(f"{what}.decision_quantile", shared.decision_quantile, 0, 1, low_open=True,
             high_open=True)
    holdout = settings_of(HoldoutSettings, shared.calibration, f"{what}.calibration")
    in_range(f"{what}.calibration.seed", holdout.seed, 0)
    for i, group in enumerate(shared.section_groups or ()):
        for section in group:
            in_range(f"{what}.section_groups[{i}]", section, 0)
    autoencoder = settings_of(AutoencoderSettings, shared.autoencoder, f"{what}.autoencoder")
    mobilenet = settings_of(MobileNetV2Settings, shared.mobilenetv2, f"{what}.mobilenetv2")
    for name, settings, counts in (
        ("autoencoder", autoencoder, ("n_frames", "hop_frames", "hidden_units", "bottleneck_units",
                                      "epochs", "batch_size", "predict_batch_size",
                                      "steps_per_execution")),
        ("mobilenetv2", mobilenet, ("n_frames", "train_hop_frames", "test_hop_frames", "epochs",
                                    "batch_size", "predict_batch_size")),
    ):
        section = f"{what}.{name}"
        _positive_fields(settings, section, counts)
        in_range(f"{section}.learning_rate", settings.learning_rate, 0, low_open=True)
        in_range(f"{section}.validation_split", settings.validation_split, 0, 1, high_open=True)
        in_range(f"{section}.seed", settings.seed, 0)
        in_range(f"{section}.verbose", settings.verbose, 0, 2)
    in_range(f"{what}.autoencoder.hidden_layers", autoencoder.hidden_layers, 0)
    in_range(f"{what}.mobilenetv2.alpha", mobilenet.alpha, 0, low_open=True)
    references = settings_of(ReferenceSettings, shared.references, f"{what}.references")
    in_range(f"{what}.references.threshold_percentile", references.threshold_percentile, 0, 100)


def check_evaluate(values: Mapping) -> None:
    from subcluster_adacos_asd.protocols import PROTOCOLS

    what = "params:evaluate"
    settings = settings_of(EvaluateParameters, values, what)
    one_of(f"{what}.protocol", settings.protocol, PROTOCOLS)
    in_range(f"{what}.max_fpr", settings.max_fpr, 0, 1, low_open=True)
    in_range(f"{what}.histogram_bins", settings.histogram_bins, 1)


def check_synthetic(values: Mapping) -> None:
    from subcluster_adacos_asd.synthetic.plan import SyntheticSettings

    settings_of(SyntheticSettings, values, "params:synthetic")


def check_inference(values: Mapping) -> None:
    from subcluster_adacos_asd.inference import InferenceSettings

    settings_of(InferenceSettings, values, "params:inference")


def check_tracking(values: Mapping) -> None:
    from subcluster_adacos_asd.tracking import TrackingSettings

    settings_of(TrackingSettings, values, "params:tracking")


def check_auxiliary(values: Mapping) -> None:
    from subcluster_adacos_asd.auxiliary import AuxiliarySettings

    settings = settings_of(AuxiliarySettings, values, "params:auxiliary")
    in_range("params:auxiliary.seed", settings.seed, 0)
    for section in settings.sections:
        in_range("params:auxiliary.sections", section, 0, 99)


def check_data_source(values: Mapping) -> None:
    settings_of(DataSourceParameters, values, "params:data_source")


#: The check of each top-level parameter section.
SECTION_CHECKS: dict[str, Callable[[Mapping], None]] = {
    "data_source": check_data_source,
    "synthetic": check_synthetic,
    "features": check_features,
    "auxiliary": check_auxiliary,
    "training": check_training,
    "score": check_score,
    "baselines": check_baselines,
    "evaluate": check_evaluate,
    "inference": check_inference,
    "tracking": check_tracking,
}


def sections_read(pipeline_inputs: Iterable[str]) -> set[str]:
    """The top-level parameter sections a pipeline reads (``params:score.backends`` ->
    ``score``; the whole ``parameters`` input: every section)."""
    inputs = set(pipeline_inputs)
    if "parameters" in inputs:
        return set(SECTION_CHECKS)
    return {name[len("params:"):].split(".")[0] for name in inputs if name.startswith("params:")}


def parameter_problems(parameters: Mapping[str, Any], sections: Iterable[str]) -> list[str]:
    """Every problem of the given sections of ``parameters``, one message each."""
    problems = []
    for section in sorted(sections):
        check = SECTION_CHECKS.get(section)
        if check is None:
            continue
        values = parameters.get(section)
        try:
            if values is not None and not isinstance(values, Mapping):
                raise ParameterError(f"params:{section} must be a mapping, got {values!r}")
            check(values or {})
        except (ValueError, TypeError) as error:
            message = str(error)
            if "params:" not in message and f"{section}." not in message:
                message = f"params:{section}: {message}"
            problems.append(message)
    return problems


def check_parameters(parameters: Mapping[str, Any], sections: Iterable[str]) -> None:
    """A :class:`ParameterError` listing every problem of the sections, or nothing."""
    problems = parameter_problems(parameters, sections)
    if problems:
        raise ParameterError(
            f"{len(problems)} parameter problem(s); nothing was run:\n  "
            + "\n  ".join(problems))


class ParameterCheckHooks:
    """Checks the parameters a pipeline reads before its first node runs (module docstring).

    ``tryfirst``: before the other ``before_pipeline_run`` hooks (MLflow tracking would
    otherwise open a run for a run that never starts).
    """

    def __init__(self):
        self._parameters: Mapping[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._parameters = context.params

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        sections = sections_read(pipeline.inputs() | _all_inputs(pipeline))
        check_parameters(self._parameters, sections)
        logger.info("Parameters checked: %s", ", ".join(sorted(sections)) or "none read")


def _all_inputs(pipeline) -> set[str]:
    return {name for node in pipeline.nodes for name in node.inputs}


__all__ = [
    "ParameterCheckHooks", "ParameterError", "SECTION_CHECKS", "check_parameters",
    "parameter_problems", "sections_read",
]
