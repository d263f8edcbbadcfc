"""Kedro datasets this project needs beyond kedro-datasets: WAV audio, Keras snapshots, the
log-mel table with its piece-wise readable cache, a wrapper that makes any file-based dataset's
saves atomic (and its variant that may be absent), and the recordings manifest."""

from subcluster_adacos_asd.datasets.atomic import AtomicDataset, atomic_write
from subcluster_adacos_asd.datasets.keras_snapshots import KerasSnapshotsDataset
from subcluster_adacos_asd.datasets.log_mel import LogMelDataset
from subcluster_adacos_asd.datasets.manifest import ManifestDataset
from subcluster_adacos_asd.datasets.optional import OptionalAtomicDataset
from subcluster_adacos_asd.datasets.wav import Audio, WavDataset

__all__ = ["AtomicDataset", "Audio", "KerasSnapshotsDataset", "LogMelDataset",
           "ManifestDataset", "OptionalAtomicDataset", "WavDataset", "atomic_write"]
