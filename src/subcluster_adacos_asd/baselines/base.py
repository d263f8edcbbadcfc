"""The interface every baseline system implements, and the loops over model groups they share.

A baseline (:class:`Baseline`) says four things: the frozen dataclass of its parameters, whether
a model group gets a model at all, how one group's model is trained on the log-mel of its
training clips, and how a model scores clips. Training one model per model group
(:meth:`Baseline.fit`) and scoring every file with gamma-threshold decisions
(:meth:`Baseline.score`) are the same for every system, so they are written once, here, and no
code branches on a system's name; ``systems.SYSTEMS`` names the implementations.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from subcluster_adacos_asd.baselines.groups import (
    ModelGroup,
    check_every_file_in_a_group,
    group_rows,
    log_mel_of_files,
    model_groups,
    section_indices,
    training_ids,
)
from subcluster_adacos_asd.baselines.seeded_models import SeededModels
from subcluster_adacos_asd.baselines.thresholds import decide, gamma_threshold
from subcluster_adacos_asd.calibration import HELD_OUT, HoldoutSettings, holdout_thresholds
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)


class Baseline(abc.ABC):
    """One baseline system: its settings, its model per group and its scores (module docstring).

    Subclasses set ``name`` (the ``system`` of its score rows and the ``params:baselines.<name>``
    section) and ``settings_type`` (a frozen dataclass on :class:`Settings` with a ``seed``),
    and implement :meth:`train` and :meth:`scores`; arrays of clips are (files, frames, mels)
    raw log-mel, and ``sections`` each clip's section as an index into ``group.sections``.
    """

    name: ClassVar[str]
    settings_type: ClassVar[type[Settings]]

    def settings(self, parameters: Mapping[str, Any] | Settings, what: str | None = None):
        """The system's settings from a parameter mapping (an unknown key is an error naming
        the known ones; ``what`` names the mapping there), or the settings as given."""
        if isinstance(parameters, self.settings_type):
            return parameters
        return self.settings_type.from_parameters(parameters, what)

    def skip_reason(self, group: ModelGroup) -> str | None:
        """Why ``group`` gets no model (so its files get no scores), or None when it gets one."""
        return None

    @abc.abstractmethod
    def train(self, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray, settings,
              models: SeededModels):
        """The trained model of ``group`` from its training clips (``models``: the compiled
        models to start from, shared by the groups of one :meth:`fit`)."""

    @abc.abstractmethod
    def scores(self, model, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray,
               settings, training: bool) -> np.ndarray:
        """The anomaly score of each clip (higher: more anomalous). ``training``: the clips are
        the group's training clips, whose scores the decision threshold is fitted to."""

    def fit(
        self,
        file_index: pd.DataFrame,
        log_mel: pd.DataFrame,
        n_mels: int,
        settings: Mapping[str, Any] | Settings,
        section_groups: Sequence[Sequence[int]] | None = None,
    ) -> dict:
        """One trained model per model group (that gets one): ``{group.key: keras.Model}``."""
        settings = self.settings(settings)
        models = {}
        seeded = SeededModels(settings.seed)
        for group in model_groups(file_index, section_groups):
            reason = self.skip_reason(group)
            if reason is not None:
                logger.warning("%s %s: %s", self.name, group.key, reason)
                continue
            ids = training_ids(file_index, group)
            models[group.key] = self.train(
                group,
                log_mel_of_files(log_mel, ids, n_mels),
                section_indices(file_index, group, ids),
                settings,
                seeded,
            )
        return models

    def score(
        self,
        models: dict,
        file_index: pd.DataFrame,
        log_mel: pd.DataFrame,
        n_mels: int,
        settings: Mapping[str, Any] | Settings,
        section_groups: Sequence[Sequence[int]] | None = None,
        quantile: float = 0.9,
        calibration: HoldoutSettings | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Scores and decisions of this baseline for every file of the index, and its thresholds.

        In-sample (the official code): the threshold of a model group is fitted to the scores
        of its training clips; those scores are also the training clips' output rows. With
        ``calibration`` ``holdout``, the ``file_index`` marks the clips held out of training
        (split ``held_out``, :func:`calibration.without_clips`): they are scored as new clips
        are, and each section and domain gets its threshold from them
        (:func:`calibration.holdout_thresholds`). The files of a group without a model
        (:meth:`skip_reason`) get no rows.

        Returns (scores: ``file_id, system, score, decision`` in file-index order; thresholds:
        one row per model group, or per section and domain when held out).
        """
        if calibration is not None and calibration.held_out:
            return self._score_held_out(models, file_index, log_mel, n_mels, settings,
                                        section_groups, quantile, calibration)
        settings = self.settings(settings)
        groups = model_groups(file_index, section_groups)
        check_every_file_in_a_group(file_index, groups)
        scores = pd.Series(np.nan, index=file_index["file_id"].astype(str).to_numpy())
        decisions = pd.Series(0, index=scores.index, dtype=np.int64)
        threshold_rows = []
        for group in groups:
            if self.skip_reason(group) is not None:
                continue
            if group.key not in models:
                raise ValueError(
                    f"No trained {self.name} model for {group.key} (models: {sorted(models)}): "
                    "the models were trained on another file index or section grouping; retrain "
                    "them"
                )
            model = models[group.key]
            train_ids = training_ids(file_index, group)
            rows = group_rows(file_index, group)
            trained = set(train_ids)
            other_ids = [f for f in file_index.loc[rows, "file_id"].astype(str) if f not in trained]
            train_scores = self._clip_scores(
                model, group, file_index, log_mel, n_mels, settings, train_ids, training=True
            )
            other_scores = self._clip_scores(
                model, group, file_index, log_mel, n_mels, settings, other_ids, training=False
            )
            threshold, (shape, loc, scale) = gamma_threshold(
                train_scores, quantile, f"the {self.name} of {group.key}"
            )
            scores.loc[train_ids] = train_scores
            scores.loc[other_ids] = other_scores
            decisions.loc[train_ids] = decide(train_scores, threshold)
            decisions.loc[other_ids] = decide(other_scores, threshold)
            threshold_rows.append(
                {
                    "system": self.name,
                    "model": group.key,
                    "machine_type": group.machine_type,
                    "sections": ",".join(str(s) for s in group.sections),
                    "n_training_files": len(train_ids),
                    "gamma_shape": shape,
                    "gamma_loc": loc,
                    "gamma_scale": scale,
                    "quantile": float(quantile),
                    "threshold": threshold,
                }
            )
            logger.info("%s %s: threshold %.4g", self.name, group.key, threshold)
        frame = pd.DataFrame(
            {
                "file_id": scores.index.astype(str),
                "system": self.name,
                "score": scores.to_numpy(dtype=np.float64),
                "decision": pd.array(decisions.to_numpy(), dtype="Int64"),
            }
        )
        return frame[scores.notna().to_numpy()].reset_index(drop=True), pd.DataFrame(threshold_rows)

    def _score_held_out(self, models, file_index, log_mel, n_mels, settings, section_groups,
                        quantile, calibration: HoldoutSettings):
        """:meth:`score` with thresholds per section and domain from held-out clips."""
        # score every clip of the groups as in-sample, then the held-out ones read as new clips
        scores, _ = self.score(models, file_index, log_mel, n_mels, settings, section_groups,
                               quantile)
        columns = ["file_id", "machine_type", "section", "domain", "split", "label"]
        rows = scores.drop(columns="decision").merge(
            file_index.loc[:, columns].assign(file_id=lambda f: f["file_id"].astype(str)),
            on="file_id", how="left")
        calibrating = rows[rows["split"].isin(["train", HELD_OUT]).to_numpy()]
        table = holdout_thresholds(calibrating, 100.0 * quantile, calibration.target,
                                   calibration.distribution)
        keys = ["machine_type", "section", "domain"]
        decided = rows.merge(table, on=keys, how="left")
        above = decided["score"].to_numpy(float) > decided["threshold"].to_numpy(float)
        decision = np.where(decided["threshold"].isna(), pd.NA, above.astype(int))
        scores = scores.assign(decision=pd.array(decision, dtype="Int64"))
        counts = file_index[file_index["split"] == HELD_OUT].groupby(
            ["machine_type", "section"]).size()
        model_of = {(group.machine_type, section): group.key
                    for group in model_groups(file_index, section_groups)
                    for section in group.sections}
        thresholds = table.assign(
            system=self.name,
            model=[model_of.get((m, int(s))) for m, s in zip(table["machine_type"],
                                                             table["section"], strict=True)],
            sections=table["section"].astype(str),
            n_held_out=[int(counts.get((m, s), 0)) for m, s in
                        zip(table["machine_type"], table["section"], strict=True)],
            quantile=float(quantile), calibration="holdout")
        return scores, thresholds[["system", "model", "machine_type", "sections", "domain",
                                   "n_held_out", "quantile", "calibration", "threshold"]]

    def _clip_scores(self, model, group, file_index, log_mel, n_mels, settings, ids, training):
        if not ids:
            return np.zeros(0, dtype=np.float64)
        values = log_mel_of_files(log_mel, ids, n_mels)
        return self.scores(
            model, group, values, section_indices(file_index, group, ids), settings, training
        )
