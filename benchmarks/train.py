"""Training speed and memory: the project's loop vs a plain ``model.fit`` on in-memory arrays.

The project's loop (``training.TrainingBatches``, a ``keras.utils.PyDataset``) gathers each batch
from the one standardised feature array; the reference hands ``fit`` numpy arrays of the same
data (the usual way, which lets Keras convert and slice them). Both train the same sub-cluster
AdaCos network (two heads, mixup) with the same batch size. Each mode runs in its own process,
so the peak resident memory (ru_maxrss) of one does not hide the other's.

    python benchmarks/train.py                       # 64 x 128 and 313 x 128, small sizes
    python benchmarks/train.py --frames 313 --files 256 --epochs 3
    python benchmarks/train.py --grid --files 260   # the default run's 10 configurations

Samples per second are measured over the epochs after the first (which traces the graph);
the first epoch's seconds are printed separately, as every configuration pays them once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _synthetic(files: int, frames: int, n_mels: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    sections = rng.integers(0, 6, files)
    attributes = sections * 4 + rng.integers(0, 4, files)
    features = rng.standard_normal((files, frames, n_mels), dtype=np.float32)
    labels = {
        "section": ([f"s{i}" for i in range(6)], sections),
        "attribute": ([f"a{i}" for i in range(24)], attributes),
    }
    return features, labels


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_mode(mode: str, files: int, frames: int, epochs: int, sub_clusters: int,
             workers: int = 1) -> dict:
    import keras
    import numpy as np

    from subcluster_adacos_asd import training

    rss_before_data = _rss_mib()
    features, labels = _synthetic(files, frames, 128)
    feature_mib = features.nbytes / 2**20
    keras.utils.set_random_seed(0)
    model = training.build_embedding_model(
        frames, 128, {h: n for h, (n, _) in labels.items()}, sub_clusters
    )
    trainer = training.build_training_model(model, seed=0)
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={h: training.mixed_label_crossentropy for h in labels},
        metrics={h: [training.mixed_label_accuracy] for h in labels},
    )
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    extra = {}
    if mode == "project":
        batches = training.TrainingBatches(features, np.arange(files), labels, 64, seed=0,
                                           workers=workers)
        start = time.perf_counter()
        for i in range(len(batches)):
            batches[i]
        extra["gather_ms_per_batch"] = round(1000 * (time.perf_counter() - start) / len(batches), 2)
        trainer.fit(batches, epochs=epochs, verbose=0, callbacks=[Timer()])
    else:
        one_hot = {h: np.eye(len(n), dtype=np.float32)[c] for h, (n, c) in labels.items()}
        inputs = {"log_mel": features[..., np.newaxis]}
        inputs.update({training.label_input(h): v for h, v in one_hot.items()})
        trainer.fit(inputs, one_hot, batch_size=64, epochs=epochs, shuffle=True, verbose=0,
                    callbacks=[Timer()])
    steady = times[1:] or times
    return {
        "mode": mode if mode == "numpy" else f"{mode}(workers={workers})",
        "files": files,
        "frames": frames,
        "first_epoch_s": round(times[0], 2),
        "samples_per_s": round(files * len(steady) / sum(steady), 1),
        "feature_array_mib": round(feature_mib, 1),
        "peak_rss_mib": round(_rss_mib(), 1),
        "peak_rss_over_baseline_mib": round(_rss_mib() - rss_before_data, 1),
        **extra,
    }


def run_grid(files: int, frames: int) -> None:
    """Train every configuration of conf/base's grid with conf/base's training parameters on
    ``files`` clips, as ``kedro run --pipelines=train`` does; print the time of each and all."""
    from pathlib import Path

    import numpy as np
    import yaml

    from subcluster_adacos_asd import training
    from subcluster_adacos_asd.configurations import grid_of_project

    conf = Path(__file__).resolve().parents[1] / "conf" / "base"
    parameters = yaml.safe_load((conf / "parameters_train.yml").read_text())["training"]
    settings = training.TrainingSettings.from_parameters(parameters)
    features, labels = _synthetic(files, frames, 128)
    total = 0.0
    grid = grid_of_project(conf.parent.parent)
    for configuration in grid:
        heads = training.VARIANT_HEADS[configuration.variant]
        start = time.perf_counter()
        training.train_subcluster_adacos(
            features, np.arange(files), {h: labels[h] for h in heads},
            configuration.sub_clusters, settings, label=configuration.name,
        )
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{configuration.name}: {seconds:.1f} s")
    print(f"grid of {len(grid)} configurations, {files} clips of "
          f"{frames}x128, {settings.epochs} epochs: {total:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="*", default=[64, 313])
    parser.add_argument("--files", type=int, default=None,
                        help="training clips (default: 512 for 64 frames, 192 for 313)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sub-clusters", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="*", default=[1],
                        help="data_workers of the project's loop (threads gathering batches)")
    parser.add_argument("--grid", action="store_true",
                        help="time the default grid with conf/base's training parameters")
    parser.add_argument("--mode", choices=["project", "numpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grid:
        run_grid(args.files or 260, args.frames[0] if len(args.frames) == 1 else 313)
        return
    if args.mode:
        frames = args.frames[0]
        print(json.dumps(run_mode(args.mode, args.files, frames, args.epochs, args.sub_clusters,
                                  args.workers[0])))
        return
    import keras

    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for frames in args.frames:
        files = args.files or (512 if frames <= 128 else 192)
        results = {}
        for mode, workers in [("numpy", 1)] + [("project", w) for w in args.workers]:
            out = subprocess.run(
                [sys.executable, __file__, "--mode", mode, "--frames", str(frames), "--files",
                 str(files), "--epochs", str(args.epochs), "--sub-clusters",
                 str(args.sub_clusters), "--workers", str(workers)],
                check=True, capture_output=True, text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[result["mode"]] = result
            print(json.dumps(result))
        reference = results.pop("numpy")
        for name, result in results.items():
            ratio = result["samples_per_s"] / reference["samples_per_s"]
            print(f"{frames}x128, {files} clips: {name} / plain fit speed {ratio:.2f}; peak RSS "
                  f"{result['peak_rss_mib']:.0f} vs {reference['peak_rss_mib']:.0f} MiB "
                  f"(features {result['feature_array_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
