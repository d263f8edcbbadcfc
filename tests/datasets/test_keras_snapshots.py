"""KerasSnapshotsDataset: versions never overwrite each other; an empty dict round-trips."""

import keras
import numpy as np
from kedro.io import Version

from subcluster_adacos_asd.datasets import KerasSnapshotsDataset


def _model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_two_saved_versions_both_stay_and_reload_with_identical_outputs(tmp_path):
    x = np.arange(8, dtype="float32").reshape(2, 4)
    first, second = _model(0), _model(1)
    KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, "v1")).save(
        {"epoch_0001": first}
    )
    KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, "v2")).save(
        {"epoch_0001": second}
    )
    old = KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version("v1", None)).load()
    latest = KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, None)).load()
    np.testing.assert_array_equal(old["epoch_0001"].predict(x, verbose=0), first.predict(x, verbose=0))
    np.testing.assert_array_equal(
        latest["epoch_0001"].predict(x, verbose=0), second.predict(x, verbose=0)
    )


def test_an_empty_dict_saves_and_loads_as_empty(tmp_path):
    KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, "v1")).save({})
    assert KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, None)).load() == {}
