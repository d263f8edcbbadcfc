"""Scale-out: configurations trained side by side on Dask workers against one process.

    make run                        # first: the default run's features in data/
    python benchmarks/scaling.py    # 2 configurations: 1 process (2 threads) vs 2 Dask workers x 1 thread
    python benchmarks/scaling.py --configurations 4 --workers 2

Trains the first ``--configurations`` configurations of `params:grid` with the project's
``train`` pipeline on the default run's features (copied into a temporary data folder, so the
project's own versions stay as they are), once with Kedro's SequentialRunner in this process
(TensorFlow uses every core for one network at a time) and once with the DaskRunner on a local
cluster of ``--workers`` processes of one thread each (one network per core). Prints wall times,
the speed-up and the peak memory of this process and of each worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]
FEATURES = ("file_index", "log_mel", "feature_stats")


def catalog_config(data_root: Path) -> dict:
    """The features and train catalog entries of conf/base, every path below ``data_root``."""
    config = {}
    for name in ("features", "train"):
        config.update(yaml.safe_load((PROJECT / "conf/base" / f"catalog_{name}.yml").read_text()))
    return json.loads(json.dumps(config).replace("${globals:data_root}", str(data_root)))


def fresh_catalog(data_root: Path, parameters: dict):
    from kedro.io import DataCatalog

    catalog = DataCatalog.from_config(catalog_config(data_root))
    catalog["params:training"] = parameters
    return catalog


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configurations", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from distributed import Client, LocalCluster
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import configure_project
    from kedro.runner import SequentialRunner

    from subcluster_adacos_asd.configurations import grid_of_parameters
    from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline
    from subcluster_adacos_asd.runners import DaskRunner, local_cluster_options

    configure_project("subcluster_adacos_asd")
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    parameters = loader["parameters"]["training"]
    grid = grid_of_parameters(loader["parameters"])
    configurations = grid[: args.configurations]
    pipeline = create_pipeline(configurations)
    project = fresh_catalog(PROJECT / "data", parameters)
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("sequential", "dask"):
            catalog = fresh_catalog(Path(tmp) / label, parameters)
            for name in FEATURES:
                catalog.save(name, project.load(name))
        index = project.load("file_index")
        clips = int(((index["split"] == "train") & (index["label"] == "normal")).sum())
        print(f"{len(configurations)} configurations, {clips} training clips, "
              f"{parameters['epochs']} epochs, {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f}")

        started = time.perf_counter()
        SequentialRunner().run(pipeline, fresh_catalog(Path(tmp) / "sequential", parameters))
        sequential = time.perf_counter() - started

        os.environ["SUBCLUSTER_ADACOS_DASK_WORKERS"] = str(args.workers)
        cluster = LocalCluster(dashboard_address=None, **local_cluster_options())
        with Client(cluster) as client:
            started = time.perf_counter()
            DaskRunner(client=client).run(pipeline, fresh_catalog(Path(tmp) / "dask", parameters))
            parallel = time.perf_counter() - started
            worker_rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
        cluster.close()
    print("| runner | wall s | speed-up | peak memory |")
    print("|---|---:|---:|---|")
    print(f"| SequentialRunner, 1 process (TensorFlow on all cores) | {sequential:.1f} | 1.00 | "
          f"{peak_rss_mib():.0f} MiB (this process) |")
    memory = ", ".join(f"{rss / 2**20:.0f}" for rss in worker_rss.values())
    print(f"| DaskRunner, {args.workers} workers x 1 thread (cluster start excluded) | "
          f"{parallel:.1f} | {sequential / parallel:.2f} | {memory} MiB per worker (after) |")


if __name__ == "__main__":
    main()
