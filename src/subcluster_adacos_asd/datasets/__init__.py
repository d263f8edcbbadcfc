"""Kedro datasets this project needs beyond kedro-datasets: WAV audio and Keras snapshots."""

from subcluster_adacos_asd.datasets.keras_snapshots import KerasSnapshotsDataset
from subcluster_adacos_asd.datasets.wav import Audio, WavDataset

__all__ = ["Audio", "KerasSnapshotsDataset", "WavDataset"]
