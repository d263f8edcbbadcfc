"""Kedro datasets this project needs beyond kedro-datasets: WAV audio, Keras snapshots, the
log-mel table with its piece-wise readable cache, and a wrapper that makes any file-based
dataset's saves atomic."""

from subcluster_adacos_asd.datasets.atomic import AtomicDataset, atomic_write
from subcluster_adacos_asd.datasets.keras_snapshots import KerasSnapshotsDataset
from subcluster_adacos_asd.datasets.log_mel import LogMelDataset
from subcluster_adacos_asd.datasets.wav import Audio, WavDataset

__all__ = ["AtomicDataset", "Audio", "KerasSnapshotsDataset", "LogMelDataset", "WavDataset",
           "atomic_write"]
