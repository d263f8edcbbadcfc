"""Ablation: each change to the paper's method alone, and all together, on the quality set.

    python benchmarks/quality.py        # first: writes the quality set's features
    python benchmarks/ablation.py --epochs 16   # then: the table as in docs/quality.md (25 min)

One configuration (4 sub-clusters, both losses), the default budget of conf/base
(``params:training`` epochs and snapshots; ``--epochs N``: N epochs, snapshots at N/2 and N),
trained and scored with the project's own
functions on the features the ``quality`` run left in data/quality. The reference row is the
paper's method at that budget (conf/dcase2021's training and scoring options); every other row
switches one option to its conf/base value (training options retrain, scoring options reuse the
embeddings of the row they change); the last row is conf/base as a whole. Prints hmean AUC
(all, source, target) and the change against the paper row.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader

from subcluster_adacos_asd import backends, embedding, ensemble, feature_table, metrics, training

PROJECT = Path(__file__).resolve().parents[1]
TRAINING_OPTIONS = ["crop_frames", "statistics_branch", "time_pooling", "frequency_shifts",
                    "statistics_exchange", "class_weights", "scale_update"]
SCORING_OPTIONS = ["covariance", "section_domains", "normalisation"]


def parameters(env: str | None) -> dict:
    loader = OmegaConfigLoader(conf_source=str(PROJECT / "conf"), base_env="base",
                               default_run_env="base", env=env,
                               merge_strategy={"parameters": "soft"})
    return loader["parameters"]


def load_features(root: Path):
    index = pd.read_parquet(latest(root / "02_intermediate/file_index.parquet"))
    log_mel = pd.read_parquet(root / "04_feature/log_mel.parquet", dtype_backend="pyarrow")
    stats = pd.read_parquet(latest(root / "04_feature/feature_stats.parquet"))
    features = feature_table.standardised_features(log_mel, stats)
    rows = feature_table.feature_rows(index, log_mel)
    return index, features[rows] if not np.array_equal(rows, np.arange(len(rows))) else features


def latest(folder: Path) -> Path:
    """The newest version of a versioned dataset folder (Kedro's layout)."""
    versions = sorted(p for p in folder.iterdir() if p.is_dir() and (p / folder.name).exists())
    return versions[-1] / folder.name


def hmean_aucs(index: pd.DataFrame, scores: pd.Series) -> dict:
    test = index[(index["split"] == "test") & index["label"].isin(["normal", "anomaly"])]
    rows = []
    for (_, _, domain), group in test.groupby(["machine_type", "section", "domain"]):
        y = (group["label"] == "anomaly").to_numpy(int)
        rows.append((domain, metrics.roc_auc(y, scores.loc[group["file_id"]].to_numpy())))
    table = pd.DataFrame(rows, columns=["domain", "auc"])
    return {"all": metrics.harmonic_mean(table["auc"]),
            **{d: metrics.harmonic_mean(table.loc[table["domain"] == d, "auc"])
               for d in ("source", "target")}}


def train_and_embed(index, features, training_parameters, label):
    settings = training.TrainingSettings.from_parameters(training_parameters)
    mask = training.training_mask(index)
    labels = training.head_labels(index[mask], "both")
    started = time.perf_counter()
    snapshots, _ = training.train_subcluster_adacos(
        features, np.flatnonzero(mask), labels, 4, settings, label=label)
    seconds = time.perf_counter() - started
    return (embedding.embeddings_table(snapshots, features, index["file_id"]),
            embedding.centres_table(snapshots), seconds)


def score(index, embeddings, centres, score_parameters) -> pd.Series:
    settings = backends.BackendSettings.from_parameters(score_parameters["backends"])
    fitted = backends.fit_configuration_backends(embeddings, centres, index, settings)
    terms = {"sc04_both": backends.configuration_score_terms(fitted, embeddings, index)}
    statistics = ensemble.normalisation_statistics(terms, None, index,
                                                   score_parameters["normalisation"])
    sums = ensemble.sum_members(terms, statistics, index)
    scored = ensemble.variant_scores(sums, index, None, statistics)
    return scored.set_index("file_id")["score"]


def with_scoring_option(score_parameters: dict, default: dict, option: str) -> dict:
    changed = {**score_parameters, "backends": {**score_parameters["backends"],
                                                "gmm": dict(score_parameters["backends"]["gmm"])}}
    if option == "covariance":
        changed["backends"]["gmm"].update(covariance=default["backends"]["gmm"]["covariance"],
                                          reg_covar=default["backends"]["gmm"]["reg_covar"])
    elif option == "section_domains":
        changed["backends"]["section_domains"] = default["backends"]["section_domains"]
    else:
        changed[option] = default[option]
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PROJECT / "data" / "quality"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="instead of conf/base's epochs (snapshots at half and at the end)")
    args = parser.parse_args()
    index, features = load_features(Path(args.data))
    default, paper = parameters(None), parameters("dcase2021")
    budget = {k: default["training"][k] for k in ("epochs", "snapshot_epochs")}
    if args.epochs:
        budget = {"epochs": args.epochs, "snapshot_epochs": [args.epochs // 2, args.epochs]}
    default["training"].update(budget)
    paper_training = {**paper["training"], **budget}
    rows, cache = [], {}

    def evaluate(name, training_parameters, score_parameters):
        key = repr(sorted(training_parameters.items()))
        if key not in cache:
            cache[key] = train_and_embed(index, features, training_parameters, name)
        emb, cen, seconds = cache[key]
        result = hmean_aucs(index, score(index, emb, cen, score_parameters))
        rows.append({"change": name, **result, "train_s": seconds})
        print(f"{name:<40s} AUC {100 * result['all']:.2f} source {100 * result['source']:.2f} "
              f"target {100 * result['target']:.2f} ({seconds:.0f} s training)", flush=True)

    evaluate("paper (conf/dcase2021) at this budget", paper_training, paper["score"])
    for option in TRAINING_OPTIONS:
        if paper_training[option] != default["training"][option]:
            evaluate(f"training.{option}: {default['training'][option]}",
                     {**paper_training, option: default["training"][option]}, paper["score"])
    for option in SCORING_OPTIONS:
        evaluate(f"score: {option} as conf/base", paper_training,
                 with_scoring_option(paper["score"], default["score"], option))
    evaluate("all of conf/base", default["training"], default["score"])
    table = pd.DataFrame(rows)
    reference = table.iloc[0]
    for column in ("all", "source", "target"):
        table[f"d_{column}"] = table[column] - reference[column]
    print("\n| change | AUC | change | source AUC | change | target AUC | change |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in table.itertuples():
        print(f"| {row.change} | {100 * row.all:.2f}% | {100 * row.d_all:+.2f} | "
              f"{100 * row.source:.2f}% | {100 * row.d_source:+.2f} | "
              f"{100 * row.target:.2f}% | {100 * row.d_target:+.2f} |")


if __name__ == "__main__":
    main()
