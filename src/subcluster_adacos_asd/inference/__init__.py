"""Scoring new recordings with an already trained system: inputs, checks, error rows, the table.

A plant engineer drops new recordings into a folder and wants, per file, an anomaly score and a
normal/anomalous decision from the system that the ``train`` / ``embed`` / ``score`` pipelines
built. Everything that system needs is loaded from the catalog (model snapshots, fitted GMMs,
temporal-max Gaussians, standardisation statistics, loss-variant choice, thresholds); nothing is
refitted here. The score of a file is computed by the same library functions the ``score``
pipeline used (:mod:`log_mel`, :mod:`training`, :mod:`embedding`, :mod:`backends`,
:mod:`ensemble`), so a file scored here gets the score that pipeline gave it.

New recordings are less tidy than a data set, so every file is checked and a bad one becomes an
*error row* (``status`` = ``error``, ``reason`` naming the file and what is wrong, score NaN)
instead of stopping the others: a name that does not say what machine it is, a machine type or
section the system was not trained on, another sample rate or several channels (converted only
where the parameters allow it), a clip too short for the trained frame count, an unreadable file,
digital silence or a level far from the training clips' (levels.py).

No Kedro in here: the ``inference`` pipeline's nodes call these functions.
"""

from subcluster_adacos_asd.contracts import TERM_COLUMNS
from subcluster_adacos_asd.inference.files import (
    AUDIO_SUFFIXES,
    DOMAINS,
    FILE_COLUMNS,
    OUTPUT_COLUMNS,
    SPLIT_FOLDERS,
    STATUS_ERROR,
    STATUS_SCORED,
    InferenceSettings,
    check_levels,
    check_trained,
    describe_files,
    describe_manifest,
    extract_log_mel,
    list_input_files,
    machine_folder,
    scored_files,
    trained_sections,
    worker_count,
)
from subcluster_adacos_asd.inference.scoring import (
    check_snapshots,
    configuration_terms,
    expected_false_alarms,
    log_summary,
    score_table,
    summary,
    temporal_max_terms,
)

__all__ = [
    "AUDIO_SUFFIXES", "DOMAINS", "FILE_COLUMNS", "OUTPUT_COLUMNS", "SPLIT_FOLDERS",
    "STATUS_ERROR", "STATUS_SCORED", "TERM_COLUMNS", "InferenceSettings", "check_levels",
    "check_snapshots", "check_trained", "configuration_terms", "describe_files",
    "describe_manifest", "expected_false_alarms", "extract_log_mel",
    "list_input_files", "log_summary", "machine_folder", "score_table", "scored_files",
    "summary", "temporal_max_terms", "trained_sections", "worker_count",
]
