"""Pruning old versions of the versioned datasets, never the latest (``kedro prune-versions``).

Every run writes new versions of the models, backends and scores (``versioned: true`` in the
catalog), so ``data/`` only grows: on the default data each ``score`` run adds about a GB of
backends. This module finds the version folders of every versioned catalog entry (dataset
factory patterns such as ``{configuration}.backends`` included), decides which to keep, and
removes the rest. It sees versions as Kedro does: a version is the newest complete one when
``<filepath>/<version>/<name>`` exists and no later version folder has it
(``AbstractVersionedDataset._fetch_latest_load_version``), so the version that the next
``kedro run`` would load is always among those kept. Version folders without the dataset's file
(a save in progress in another run, or the remains of a failed one) are never removed.
No Kedro session in here: the CLI (``cli.py``) passes the environment's catalog configuration.
"""

from __future__ import annotations

import glob
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class DatasetVersions:
    """The version folders of one versioned dataset: ``path / <version> / path.name``."""

    entry: str
    path: Path
    complete: tuple[str, ...]  # newest first, as Kedro orders them
    incomplete: tuple[str, ...]

    @property
    def latest(self) -> str | None:
        return self.complete[0] if self.complete else None


@dataclass(frozen=True)
class PrunePlan:
    """What ``keep`` leaves of one dataset and what it removes."""

    dataset: DatasetVersions
    keep: tuple[str, ...]
    remove: tuple[str, ...]

    def removed_bytes(self) -> int:
        return sum(folder_size(self.dataset.path / v) for v in self.remove)


def versioned_dataset_paths(
    catalog_config: Mapping[str, Mapping], project_path: Path
) -> list[tuple[str, Path]]:
    """``(catalog entry, dataset folder)`` of every versioned entry whose folder exists.

    A factory pattern's placeholders (``{configuration}``) match any folder name, so every
    configuration's backends are found, whichever grid wrote them.
    """
    found: dict[Path, str] = {}
    for entry, config in catalog_config.items():
        if entry.startswith("_") or not isinstance(config, Mapping):
            continue
        if not config.get("versioned") or "filepath" not in config:
            continue
        pattern = str(project_path / _PLACEHOLDER.sub("*", str(config["filepath"])))
        for match in glob.glob(pattern):
            if Path(match).is_dir():
                found.setdefault(Path(match), entry)
    return sorted(((entry, path) for path, entry in found.items()), key=lambda item: item[1])


def dataset_versions(entry: str, path: Path) -> DatasetVersions:
    """The version folders of the dataset at ``path``, newest first (version names are Kedro's
    UTC timestamps, which sort in time order; Kedro sorts them the same way)."""
    folders = sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.name, reverse=True)
    complete = tuple(p.name for p in folders if (p / path.name).exists())
    incomplete = tuple(p.name for p in folders if not (p / path.name).exists())
    return DatasetVersions(entry, path, complete, incomplete)


def plan_pruning(datasets: Iterable[DatasetVersions], keep: int) -> list[PrunePlan]:
    """Keep the ``keep`` newest complete versions of each dataset (at least the latest)."""
    if int(keep) < 1:
        raise ValueError(f"keep must be at least 1 (the latest version is never removed), got {keep}")
    return [PrunePlan(d, d.complete[:keep], d.complete[keep:]) for d in datasets]


def apply_plan(plans: Iterable[PrunePlan]) -> int:
    """Remove the planned version folders; returns the bytes freed. Refuses to remove the
    newest complete version, should a plan ever name it."""
    freed = 0
    for plan in plans:
        latest = dataset_versions(plan.dataset.entry, plan.dataset.path).latest
        for version in plan.remove:
            if version == latest or version in plan.keep:
                raise RuntimeError(f"Refusing to remove {plan.dataset.path / version}: it is kept")
            folder = plan.dataset.path / version
            freed += folder_size(folder)
            shutil.rmtree(folder)
    return freed


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1000
    return f"{size:.1f} GB"


def describe_plans(plans: Iterable[PrunePlan], project_path: Path, dry_run: bool) -> list[str]:
    """Lines for the terminal: per dataset what is kept and removed, then the total."""
    lines, total = [], 0
    for plan in plans:
        if not plan.dataset.complete:
            continue
        where = _relative(plan.dataset.path, project_path)
        size = plan.removed_bytes()
        total += size
        lines.append(
            f"{where}: {_count(len(plan.dataset.complete), 'version')}, keeping {len(plan.keep)} "
            f"(latest {plan.dataset.latest}), "
            + (f"{'would remove' if dry_run else 'removing'} {len(plan.remove)} "
               f"({human_size(size)})" if plan.remove else "nothing to remove")
        )
        lines.extend(f"  {'would remove' if dry_run else 'remove'} {v}" for v in plan.remove)
        if plan.dataset.incomplete:
            lines.append(
                f"  left alone (no {plan.dataset.path.name} inside: a save in progress or the "
                f"remains of a failed one): {', '.join(plan.dataset.incomplete)}"
            )
    verb = "Would free" if dry_run else "Freed"
    lines.append(f"{verb} {human_size(total)}" + (" (dry run: nothing removed)" if dry_run else ""))
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
