"""How many recordings a user needs: hmean AUC against normal training clips per section.

    python benchmarks/learning_curve.py --data toycar              # 25 50 100 200 400 clips
    python benchmarks/learning_curve.py --data synthetic --clips 25 50 100 200 400 1000
    python benchmarks/learning_curve.py --data toycar --no-run     # table and figure again

For each size N, a data set with N normal source-domain training clips per section (a seeded
draw; each size's clips include the smaller sizes'), every target-domain training clip and
every test clip is linked into ``data/learning_curve/<data>/<N>/raw``, and the whole default
pipeline (``kedro run`` with conf/base's budget: the proposed system, both DCASE baselines and
the non-learned references) runs on it with its own data root. The test clips are the same at
every size, so the curve shows what more training clips buy.

- ``toycar``: the real DCASE 2023 ToyCar clips of ``../shared/data/real``: 160 + the 230 of
  ``dcase2023_t2_dev_extra`` = 390 source training clips, 10 target, 100 test (2023 protocol).
- ``synthetic``: the project's generator (``--seed``, one machine type, 3 sections, 50 + 50
  test clips per domain and section): a plant engineer's data, not used to choose a setting.

Prints the table (hmean AUC overall, source, target per system and size, and each run's
wall time), writes it as CSV beside the figure (``--figure``, default
docs/learning_curve_<data>.png).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from kedro_process import conf_copy, run_kedro

PROJECT = Path(__file__).resolve().parents[1]
REAL = PROJECT.parent / "shared" / "data" / "real"
TOYCAR_FOLDERS = (REAL / "dcase2023_t2_dev" / "ToyCar", REAL / "dcase2023_t2_dev_extra" / "ToyCar")
SYSTEMS = ("proposed", "autoencoder", "mobilenetv2", "gaussian_statistics", "knn_statistics",
           "knn_frames")


def toycar_pool() -> list[Path]:
    """Every real ToyCar clip of the shared folders (training and test)."""
    missing = [str(f) for f in TOYCAR_FOLDERS if not f.is_dir()]
    if missing:
        raise SystemExit(f"the shared real ToyCar clips are not there: {missing}")
    return sorted(p for folder in TOYCAR_FOLDERS for p in folder.rglob("*.wav"))


def synthetic_pool(root: Path, seed: int, machine_type: str, clips: int) -> list[Path]:
    """A synthetic data set with ``clips`` source training clips per section, written once."""
    import soundfile

    from subcluster_adacos_asd.synthetic import SyntheticSettings, plan_clips, render_clip

    settings = SyntheticSettings.from_parameters({
        "seed": seed, "machine_types": [machine_type], "sections": [0, 1, 2],
        "source_train_clips": clips, "target_train_clips": 3, "test_clips": 50})
    paths = []
    for clip in plan_clips(settings):
        path = root / f"{clip.key}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, render_clip(clip, settings), settings.sample_rate,
                            subtype="PCM_16")
        paths.append(path)
    return paths


def subset(pool: list[Path], clips: int, seed: int) -> list[Path]:
    """The pool with at most ``clips`` normal source training clips per section (a nested
    seeded draw: the first ``clips`` of one fixed permutation per section), everything else."""
    is_source_train = [("_source_train_normal_" in p.name) for p in pool]
    kept = [p for p, source in zip(pool, is_source_train) if not source]
    by_section: dict[tuple[str, str], list[Path]] = {}
    for path, source in zip(pool, is_source_train):
        if source:
            by_section.setdefault((path.parent.parent.name, path.name[:10]), []).append(path)
    for key in sorted(by_section):
        paths = sorted(by_section[key])
        order = np.random.default_rng(seed).permutation(len(paths))
        kept += [paths[i] for i in order[:clips]]
    return kept


def link_data_set(paths: list[Path], raw: Path) -> None:
    """``raw/<machine>/<train|test>/<name>.wav`` links to the chosen clips (2023 layout for
    ToyCar, the generator's for synthetic data: file names carry everything)."""
    if raw.exists():
        shutil.rmtree(raw)
    for path in paths:
        target = raw / path.parent.parent.name / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())


def write_conf(root: Path, raw: Path, data_root: Path) -> Path:
    """A copy of conf/ whose ``curve`` environment points raw_audio at ``raw`` and keeps every
    output below ``data_root`` (real data: nothing synthetic is written)."""
    env = conf_copy(root, "curve", data_root)
    (env / "catalog_raw.yml").write_text(
        "raw_audio:\n  type: partitions.PartitionedDataset\n"
        f"  path: {raw}\n  dataset: subcluster_adacos_asd.datasets.WavDataset\n"
        "  filename_suffix: .wav\n  overwrite: false\n")
    (env / "parameters.yml").write_text("data_source:\n  synthetic: false\n")
    return env.parent


def run(conf: Path) -> float:
    return run_kedro("run", "--conf-source", str(conf), "--env", "curve")


def results(data_root: Path, clips: int, seconds: float | None) -> pd.DataFrame:
    table = pd.read_csv(data_root / "08_reporting" / "tables" / "overview.csv")
    table = table[table["system"].isin(SYSTEMS)][["system", "AUC", "source AUC", "target AUC"]]
    return table.assign(clips=clips, minutes=np.nan if seconds is None else seconds / 60)


def figure(table: pd.DataFrame, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, column in zip(axes, ("AUC", "source AUC", "target AUC")):
        for system in SYSTEMS:
            rows = table[table["system"] == system].sort_values("clips")
            if rows[column].notna().any():
                ax.plot(rows["clips"], 100 * rows[column], marker="o", label=system,
                        linewidth=2.5 if system == "proposed" else 1.2)
        ax.axhline(50, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sorted(table["clips"].unique()))
        ax.set_xticklabels([str(c) for c in sorted(table["clips"].unique())])
        ax.set_xlabel("normal source training clips per section")
        ax.set_title(f"harmonic-mean {column}")
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("toycar", "synthetic"), default="toycar")
    parser.add_argument("--clips", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--seed", type=int, default=0, help="the draw (and the synthetic set)")
    parser.add_argument("--machine-type", default="slider", help="synthetic: the one type")
    parser.add_argument("--no-run", action="store_true", help="tables of the last runs only")
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()

    base = Path("data") / "learning_curve" / args.data
    if args.data == "toycar":
        pool, title = toycar_pool(), "Real DCASE 2023 ToyCar (one section; 100 test clips)"
    else:
        pool = synthetic_pool(PROJECT / base / "pool", args.seed, args.machine_type,
                              max(args.clips))
        title = (f"Synthetic {args.machine_type}, seed {args.seed} (3 sections; 50 + 50 test "
                 "clips per section and domain)")
    frames = []
    for clips in sorted(args.clips):
        data_root = base / str(clips)
        seconds = None
        if not args.no_run:
            raw = PROJECT / data_root / "raw"
            link_data_set(subset(pool, clips, args.seed), raw)
            seconds = run(write_conf(PROJECT / data_root, raw, data_root))
        frames.append(results(PROJECT / data_root, clips, seconds))
    table = pd.concat(frames, ignore_index=True)
    path = args.figure or PROJECT / "docs" / f"learning_curve_{args.data}.png"
    figure(table, title, path)
    table.to_csv(path.with_suffix(".csv"), index=False)
    wide = table.pivot(index="system", columns="clips", values="AUC").reindex(
        [s for s in SYSTEMS if s in set(table["system"])])
    print(f"hmean AUC (%) by normal source training clips per section; {title}")
    print("| system | " + " | ".join(str(c) for c in wide.columns) + " |")
    print("|---|" + "---:|" * len(wide.columns))
    for system, row in wide.iterrows():
        print(f"| {system} | " + " | ".join("-" if pd.isna(v) else f"{100 * v:.2f}"
                                            for v in row) + " |")
    print(table.groupby("clips")["minutes"].first().round(1).to_string())
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
