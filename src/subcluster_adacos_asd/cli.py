"""Project commands added to the ``kedro`` CLI (Kedro loads ``<package>.cli.cli``).

``kedro prune-versions --keep N [--dry-run] [--env ENV]``: every run keeps its own versions of
the models and results, so ``data/`` grows with each run; this removes all but the ``N`` newest
complete versions of each versioned dataset of the environment's catalog, never the latest one
(see :mod:`subcluster_adacos_asd.versions`). The built-in commands (``run``, ``viz``,
``catalog``...) are unchanged.
"""

from __future__ import annotations

from pathlib import Path

import click
from kedro.framework.cli.utils import CONTEXT_SETTINGS, env_option

from subcluster_adacos_asd.versions import (
    apply_plan,
    dataset_versions,
    describe_plans,
    plan_pruning,
    versioned_dataset_paths,
)


@click.group(context_settings=CONTEXT_SETTINGS, name=__file__)
def cli():
    """Commands of the subcluster-adacos-asd project."""


def catalog_config(project_path: Path, env: str | None) -> dict:
    """The merged catalog configuration of ``env`` as ``kedro run --env`` reads it."""
    from kedro.framework.project import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_path / settings.CONF_SOURCE),
        env=env,
        **settings.CONFIG_LOADER_ARGS,
    )
    return dict(loader["catalog"])


@cli.command("prune-versions")
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Versions to keep per dataset, the latest always among them.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@env_option
@click.pass_obj
def prune_versions(metadata, keep: int, dry_run: bool, env: str | None):
    """Remove old versions of the versioned datasets (never the latest of any)."""
    project_path = Path(metadata.project_path)
    entries = versioned_dataset_paths(catalog_config(project_path, env), project_path)
    plans = plan_pruning([dataset_versions(e, p) for e, p in entries], keep)
    lines = describe_plans(plans, project_path, dry_run)  # sizes, before anything is removed
    if not dry_run:
        apply_plan(plans)
    for line in lines:
        click.echo(line)
