"""The worked example of docs/own_recordings.md: real recordings under arbitrary names with a
manifest train and score exactly as under their DCASE names; then daily scoring into the score
history.

    python benchmarks/own_recordings.py                      # about 10 minutes on 2 cores
    python benchmarks/own_recordings.py --keep /tmp/own      # keep the data, look at it after
    python benchmarks/own_recordings.py --figure docs/own_recordings_history.png

1. The 270 real DCASE 2023 ToyCar clips (``../shared/data/real/dcase2023_t2_dev``) are copied
   under arbitrary names (``line_3/<date>/rec_<random>.wav``) into the recordings folder of the
   ``own_data`` environment template, with a manifest (``manifest.csv``: path, machine,
   section, domain, split, label, attributes, timestamp) that lists them in the order of their
   DCASE names.
2. ``kedro run --pipelines=features,train,embed,score`` runs twice with the same small budget
   (``--epochs`` epochs, one snapshot): in ``toycar2023`` (the DCASE names) and in
   ``own_data`` (the manifest), each in a copy of conf/ whose outputs go to a folder of their
   own (``--conf-source``), so nothing of the project's data is touched.
3. The check: every file's ``anomaly_scores`` row (score, threshold, decision) of one run
   against the other's, matched through the manifest; the script stops if any differs.
4. ``kedro run --pipelines=inference --params=inference.manifest=<day>.csv`` scores the 100
   test clips as if they arrived over ``--days`` days (20 a day, simulated timestamps), then
   the last day once more: the history grows by each day's files and not by the repeat, and
   the inference scores equal the ``score`` pipeline's. The figure of the history is copied to
   ``--figure``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from kedro_process import run_kedro

PROJECT = Path(__file__).resolve().parents[1]
TOYCAR = PROJECT.parent / "shared" / "data" / "real" / "dcase2023_t2_dev"
SCORE_COLUMNS = ["score", "threshold", "decision"]


def budget(epochs: int) -> dict:
    """The small training budget of both runs (everything else: the environments' own)."""
    return {"training": {"epochs": epochs, "snapshot_epochs": [epochs]}}


def make_conf(root: Path, epochs: int) -> Path:
    """conf/base, conf/toycar2023 (as ``names``) and conf/own_data (as ``own_data``), each
    environment writing below ``root/<env>``."""
    conf = root / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    for source, env in (("toycar2023", "names"), ("own_data", "own_data")):
        shutil.copytree(PROJECT / "conf" / source, conf / env)
        (conf / env / "globals.yml").write_text(yaml.safe_dump({"data_root": str(root / env)}))
        (conf / env / "parameters_budget.yml").write_text(yaml.safe_dump(budget(epochs)))
        # the names are what is compared: the auxiliary clips (on in own_data) would be the
        # same in both runs and only double their time
        (conf / env / "parameters_auxiliary.yml").write_text(
            yaml.safe_dump({"auxiliary": {"source": "none"}}))
    return conf


def arbitrary_names(seed: int) -> pd.DataFrame:
    """The manifest of the ToyCar clips as ``line_3/<date>/rec_<hex>.wav`` (rows in the order of
    their DCASE names), with the original names beside it (column ``original``)."""
    from subcluster_adacos_asd.dcase_names import parse_file_name

    rng = np.random.default_rng(seed)
    rows = []
    wavs = sorted(TOYCAR.rglob("*.wav"), key=lambda p: p.relative_to(TOYCAR).as_posix())
    start = pd.Timestamp("2024-03-01 08:00")
    for i, wav in enumerate(wavs):
        key = wav.relative_to(TOYCAR).with_suffix("").as_posix()
        parsed = parse_file_name(key)
        recorded = start + pd.Timedelta(minutes=37 * i)
        rows.append({"path": f"line_3/{recorded:%Y-%m-%d}/rec_{rng.integers(16**8):08x}.wav",
                     "machine": parsed.machine_type, "section": parsed.section,
                     "domain": parsed.domain, "split": parsed.split, "label": parsed.label,
                     "attributes": parsed.attributes, "timestamp": f"{recorded:%Y-%m-%d %H:%M}",
                     "original": key})
    return pd.DataFrame(rows)


def copy_under_arbitrary_names(manifest: pd.DataFrame, recordings: Path) -> None:
    """Copies every clip to its new name below ``recordings`` and writes ``manifest.csv``."""
    for name, original in zip(manifest["path"], manifest["original"]):
        target = recordings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TOYCAR / f"{original}.wav", target)
    manifest.drop(columns="original").to_csv(recordings / "manifest.csv", index=False)


def kedro(conf: Path, env: str, pipelines: str, *params: str) -> float:
    """One ``kedro run`` in a new process; its wall seconds."""
    arguments = ["run", f"--conf-source={conf}", f"--env={env}", f"--pipelines={pipelines}"]
    if params:
        arguments.append("--params=" + ",".join(params))
    return run_kedro(*arguments, capture=True)


def latest(folder: Path) -> Path:
    """The newest version of a versioned dataset folder."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))[-1] / folder.name


def compare(root: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Both runs' anomaly scores side by side, one row per file (its DCASE name)."""
    names = pd.read_parquet(latest(root / "names/07_model_output/anomaly_scores.parquet"))
    own = pd.read_parquet(latest(root / "own_data/07_model_output/anomaly_scores.parquet"))
    index = pd.read_parquet(latest(root / "own_data/02_intermediate/file_index.parquet"))
    original = dict(zip(manifest["path"], manifest["original"]))
    recordings = root / "own_data/01_raw/recordings"
    key_of = {fid: original[Path(p).relative_to(recordings).as_posix()]
              for fid, p in zip(index["file_id"], index["path"])}
    own = own.assign(file_id=own["file_id"].map(key_of))
    return names.merge(own, on="file_id", suffixes=("_names", "_manifest"), validate="1:1")


def daily_manifests(root: Path, manifest: pd.DataFrame, days: int) -> list[Path]:
    """The test clips as if they arrived over ``days`` days, with simulated timestamps."""
    tests = manifest[manifest["split"] == "test"].sample(frac=1.0, random_state=0)
    folder = root / "own_data/01_raw/recordings"
    paths = []
    bounds = np.linspace(0, len(tests), days + 1).round().astype(int)
    for day in range(days):
        chunk = tests.iloc[bounds[day]:bounds[day + 1]]
        date = pd.Timestamp("2024-06-03") + pd.Timedelta(days=day)
        stamps = [date + pd.Timedelta(hours=6, minutes=45 * i) for i in range(len(chunk))]
        table = chunk.drop(columns=["original", "split"]).assign(
            timestamp=[f"{s:%Y-%m-%d %H:%M}" for s in stamps])
        path = folder / f"new_{date:%Y-%m-%d}.csv"
        table.to_csv(path, index=False)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="training epochs (one snapshot)")
    parser.add_argument("--days", type=int, default=5, help="days the test clips arrive over")
    parser.add_argument("--seed", type=int, default=3, help="seed of the arbitrary names")
    parser.add_argument("--keep", type=Path, help="work here and keep everything")
    parser.add_argument("--figure", type=Path, help="copy the score history figure here")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: the two training runs are there already; compare "
                             "and score only")
    args = parser.parse_args()
    if not TOYCAR.is_dir():
        raise SystemExit(f"{TOYCAR} is missing: the shared real clips are needed")
    root = args.keep or Path(tempfile.mkdtemp(prefix="own_recordings_"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}; working in {root}")
    manifest = arbitrary_names(args.seed)
    conf = root / "conf"
    if not (args.reuse and args.keep and conf.is_dir()):
        conf = make_conf(root, args.epochs)
        copy_under_arbitrary_names(manifest, root / "own_data/01_raw/recordings")
        print(f"{len(manifest)} clips copied under arbitrary names, e.g. "
              f"{manifest['original'].iloc[0]}.wav -> {manifest['path'].iloc[0]}")
        stages = "features,train,embed,score"
        for env in ("names", "own_data"):
            seconds = kedro(conf, env, stages)
            print(f"kedro run --env {env} --pipelines={stages}: {seconds:.0f} s")
    both = compare(root, manifest)
    print("\n| files | scores bit-identical | max abs score difference | thresholds equal | "
          "decisions equal |\n|---:|---:|---:|---|---|")
    same = (both["score_names"] == both["score_manifest"]).sum()
    difference = (both["score_names"] - both["score_manifest"]).abs().max()
    thresholds = np.array_equal(both["threshold_names"], both["threshold_manifest"],
                                equal_nan=True)
    decisions = (both["decision_names"] == both["decision_manifest"]).all()
    print(f"| {len(both)} | {same} | {difference:.3g} | {thresholds} | {decisions} |")
    if len(both) != len(manifest) or same != len(both) or not (thresholds and decisions):
        raise SystemExit("the manifest run does not reproduce the DCASE-named run")

    print("\n| inference run | files | scored | history rows | seconds |\n|---|---:|---:|---:|---:|")
    history = root / "own_data/08_reporting/inference/score_history.parquet"
    shutil.rmtree(history.parent, ignore_errors=True)  # a history from this example only
    days = daily_manifests(root, manifest, args.days)
    own_scores = pd.read_parquet(latest(root / "own_data/07_model_output/anomaly_scores.parquet"))
    index = pd.read_parquet(latest(root / "own_data/02_intermediate/file_index.parquet"))
    by_path = own_scores.merge(index[["file_id", "path"]], on="file_id").set_index("path")
    largest = 0.0
    for label, day in [*((d.stem, d) for d in days), (f"{days[-1].stem} again", days[-1])]:
        seconds = kedro(conf, "own_data", "inference", f"inference.manifest={day}")
        table = pd.read_parquet(latest(root / "own_data/07_model_output/inference"
                                       "/inference_scores.parquet"))
        scored = table[table["status"] == "scored"]
        largest = max(largest, float((scored.set_index("file")["score"]
                                      - by_path.loc[scored["file"], "score"].to_numpy()).abs().max()))
        rows = len(pd.read_parquet(latest(history)))
        print(f"| {label} | {len(table)} | {len(scored)} | {rows} | {seconds:.0f} |")
    print(f"\ninference scores against the score pipeline's: max abs difference {largest:.3g}")
    figure = root / "own_data/08_reporting/inference/score_history/ToyCar_section_00.png"
    if args.figure:
        shutil.copy(figure, args.figure)
        print(f"figure: {figure} -> {args.figure}")


if __name__ == "__main__":
    main()
