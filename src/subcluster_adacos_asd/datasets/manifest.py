"""The recordings manifest (CSV or Parquet) as a Kedro dataset that may be absent.

``conf/base`` has no manifest (``filepath: null``: the file index comes from the DCASE names or
the folders), an environment such as ``conf/own_data`` points ``filepath`` at one; either way
the ``features`` pipeline has the same input. Read-only: the manifest is the user's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError


class ManifestDataset(AbstractDataset[None, "pd.DataFrame | None"]):
    """Loads the manifest with every ``path`` made absolute against the manifest's folder
    (:func:`subcluster_adacos_asd.manifest.read_manifest`), or ``None`` without a ``filepath``."""

    def __init__(self, filepath: str | None = None, metadata: dict | None = None):
        self._filepath = str(filepath) if filepath else None
        self.metadata = metadata

    def load(self) -> pd.DataFrame | None:
        if self._filepath is None:
            return None
        from subcluster_adacos_asd.manifest import read_manifest

        return read_manifest(self._filepath)

    def save(self, data: Any) -> None:
        raise DatasetError("The recordings manifest is read, never written, by the pipelines")

    def _exists(self) -> bool:
        return self._filepath is None or Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
