"""Project settings: soft-merged parameters across environments, the grid of trained networks
and parameter checks at the start of a run, progress and tracking hooks, no telemetry."""

from kedro.config import OmegaConfigLoader

from subcluster_adacos_asd.configurations import GridHooks
from subcluster_adacos_asd.hooks import ProgressHooks
from subcluster_adacos_asd.parameter_checks import ParameterCheckHooks
from subcluster_adacos_asd.tracking import tracking_hooks

# The run's params:grid given to the pipeline registry (configurations.py); every parameter the
# pipeline reads checked before its first node (parameter_checks.py);
# progress logging for long runs; MLflow tracking where `tracking.enabled` is true (off by
# default: the hooks then return at once and MLflow is never imported, see tracking.py).
HOOKS = (GridHooks(), ParameterCheckHooks(), ProgressHooks(), *tracking_hooks())

# kedro-telemetry must never prompt or reach the network; kedro-viz's run hooks would write
# dataset statistics into .viz/ on every run, which `kedro viz` does not need.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry", "kedro-viz")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # A conf/<env>/parameters*.yml overrides single keys instead of replacing whole sections,
    # so conf/dcase2021 only states what differs from the embedded default.
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
}
