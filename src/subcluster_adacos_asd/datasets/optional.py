"""An :class:`AtomicDataset` that loads as ``None`` while nothing has been saved.

For inputs that a run may find missing without it being an error: the previous version of the
score history (the first ``inference`` run starts it) and a trained system's level reference
(systems trained before it existed are scored without the level check, with a warning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import VersionNotFoundError, get_filepath_str

from subcluster_adacos_asd.datasets.atomic import AtomicDataset


class OptionalAtomicDataset(AtomicDataset):
    """:class:`AtomicDataset` whose ``load`` returns ``None`` when no (versioned) file exists;
    a file that exists but cannot be read is still an error."""

    def load(self) -> Any:
        try:
            path = self._get_load_path()
        except VersionNotFoundError:
            return None
        if not Path(get_filepath_str(path, self._protocol)).exists():
            return None
        return super().load()
