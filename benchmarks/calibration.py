"""Decision thresholds on unseen normal clips: the calibration ways, measured on a finished run.

    make run                                       # or any kedro run that embedded its files
    python benchmarks/calibration.py               # the default run's data
    python benchmarks/calibration.py --env quality --folds 5 10 --by-type

A threshold promises that about ``100 - threshold_percentile`` % of new normal recordings raise
an alarm. This script takes a finished run's embeddings (nothing is retrained), fits the
backends of every configuration as the score pipeline does, and sets the proposed system's
thresholds (paper 2.6: per machine type, section and domain) from calibration scores obtained
in each way of ``calibration.py``; then it counts, on the labelled test clips, the share of
normal clips flagged (false-alarm rate, the promise is 10 % at the 90th percentile) and of
anomalous clips flagged (detection rate), per domain (mean over sections), and the F1 of the
decisions.

Ways: ``in_sample`` (the paper: the clips the GMMs were fitted on), ``cross_fit`` (k-fold
backends, each training clip scored by the fit without it; ``--folds 5 10``), each with the
target-domain rules ``own`` (the percentile of its own 3 clips), ``shifted`` (the source
distribution moved by the domains' median difference) and ``prediction`` (the Student-t
prediction bound), and the ``empirical`` or ``gamma`` quantile. A second table does the same
for the run's references (leave-one-out training scores) and baselines (their held-out clips,
when the run's ``baselines.calibration`` held some out), from the saved ``baseline_scores``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tables import markdown

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]


def project_context(env: str | None):
    """The catalog and parameters of ``env`` (conf/base with conf/<env>)."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="local",
                               env=env, merge_strategy={"catalog": "soft", "parameters": "soft"})
    return DataCatalog.from_config(loader["catalog"]), loader["parameters"]


def decision_rates(decided: pd.DataFrame, by: tuple[str, ...] = ("domain",)) -> pd.DataFrame:
    """Per domain (or ``by``): mean over sections of the false-alarm and detection rates, and
    the F1."""
    from subcluster_adacos_asd.metrics import decision_metrics

    test = decided[(decided["split"] == "test") & decided["label"].isin(["normal", "anomaly"])]
    rows = []
    for (machine_type, section, domain), group in test.groupby(
            ["machine_type", "section", "domain"]):
        y = (group["label"] == "anomaly").to_numpy(int)
        d = group["decision"].to_numpy(dtype=float)
        if np.isnan(d).any() or y.sum() in (0, len(y)):
            continue
        rows.append({"machine_type": machine_type, "domain": domain,
                     "false_alarm_rate": d[y == 0].mean(),
                     "detection_rate": d[y == 1].mean(),
                     "F1": decision_metrics(y, d.astype(int))["F1"]})
    return pd.DataFrame(rows).groupby(list(by)).mean(numeric_only=True)


def proposed_scores(catalog, parameters: dict, index: pd.DataFrame, folds_list: list[int],
                    seed: int):
    """The proposed system's scores of every file and, per fold count, its cross-fitted
    calibration scores, as the score pipeline computes them (the chosen variant's rows), over
    the configurations of the environment's ``params:grid``."""
    from subcluster_adacos_asd import backends, calibration, ensemble
    from subcluster_adacos_asd.backends import BackendSettings
    from subcluster_adacos_asd.configurations import grid_of_parameters
    from subcluster_adacos_asd.contracts import normal_training
    from subcluster_adacos_asd.mixtures import MixtureSettings

    score = parameters["score"]
    settings = BackendSettings.from_parameters(score["backends"])
    tmax_settings = MixtureSettings.from_parameters(
        {**score["backends"].get("gmm", {}), **(score["tmax"].get("gmm") or {})})
    folds = {k: calibration.assign_folds(index, k, seed) for k in folds_list}
    started = time.perf_counter()
    terms, calibration_terms = {}, {k: {} for k in folds_list}
    for configuration in grid_of_parameters(parameters):
        name = configuration.name
        embeddings, centres = catalog.load(f"{name}.embeddings"), catalog.load(f"{name}.centres")
        fitted = backends.fit_configuration_backends(embeddings, centres, index, settings)
        terms[name] = backends.configuration_score_terms(fitted, embeddings, index)
        for k in folds_list:
            calibration_terms[k][name] = backends.configuration_calibration_terms(
                embeddings, centres, index, folds[k], settings, n_jobs=-1)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    tmax_features = catalog.load("tmax_features")
    machine_types = score["tmax"]["machine_types"]
    tmax = backends.tmax_terms(
        backends.fit_tmax_backend(tmax_features, index, machine_types, tmax_settings),
        tmax_features, index)
    statistics = ensemble.normalisation_statistics(terms, tmax, index, score["normalisation"])
    scores = ensemble.variant_scores(ensemble.sum_members(terms, statistics, index), index,
                                     tmax, statistics)
    choice = ensemble.choose_variants(scores, "fixed", score["variant_choice"].get("fixed"),
                                      score["variant_choice"].get("default", "both"))
    training_index = index[normal_training(index)]
    calibrated = {}
    for k in folds_list:
        tmax_calibration = backends.cross_fitted_tmax_terms(
            tmax_features, index, machine_types, folds[k], tmax_settings)
        calibrated[k] = ensemble._chosen_rows(ensemble.variant_scores(
            ensemble.sum_members(calibration_terms[k], statistics, index), training_index,
            tmax_calibration, statistics), choice)
    seconds = time.perf_counter() - started
    return ensemble._chosen_rows(scores, choice), calibrated, seconds, len(terms)


def rates_record(decided: pd.DataFrame, record: dict, by_type: bool) -> dict:
    """``record`` with the per-domain rates (in %) of ``decided``; per machine type printed."""
    for domain, values in decision_rates(decided).iterrows():
        for metric, value in values.items():
            record[f"{domain} {metric.replace('_rate', 's').replace('_', ' ')}"] = round(
                100 * value, 1)
    if by_type:
        by = decision_rates(decided, ("machine_type", "domain"))["false_alarm_rate"]
        print(record["system"], record["calibration"], record["target"],
              record.get("distribution", ""), "false alarms per type:",
              {f"{t}/{d}": round(100 * v, 1) for (t, d), v in by.items()})
    return record


def proposed_table(chosen, calibrated, percentile, by_type) -> pd.DataFrame:
    """The proposed system's decisions with thresholds from each way."""
    from subcluster_adacos_asd import calibration, ensemble
    from subcluster_adacos_asd.contracts import normal_training

    in_sample = chosen[normal_training(chosen)]
    ways = [("in_sample", in_sample, "own", "empirical")]
    for k, rows in calibrated.items():
        ways += [(f"cross_fit, {k} folds", rows, rule, "empirical")
                 for rule in calibration.TARGET_RULES]
        ways.append((f"cross_fit, {k} folds", rows, "prediction", "gamma"))
    records = []
    for method, rows, rule, distribution in ways:
        table = calibration.thresholds_table(rows, percentile, "threshold_score", "section_term",
                                             rule, distribution)
        record = {"system": "proposed", "calibration": method, "target": rule,
                  "distribution": distribution}
        records.append(rates_record(ensemble.decide(chosen, table), record, by_type))
    return pd.DataFrame(records)


def other_systems_table(catalog, parameters, index, percentile, by_type) -> pd.DataFrame:
    """The references (leave-one-out training scores) and the baselines (held-out clips, when
    the run held them out) of the run's ``baseline_scores``, with each target rule."""
    from subcluster_adacos_asd import calibration, ensemble

    scores = catalog.load("baseline_scores").merge(
        index[["file_id", "machine_type", "section", "domain", "split", "label"]], on="file_id")
    holdout = calibration.HoldoutSettings.from_parameters(
        parameters["baselines"].get("calibration"))
    held = set(holdout.clips(index))
    records = []
    for system, rows in scores.groupby("system", sort=False):
        baseline = system in ("autoencoder", "mobilenetv2")
        if baseline and not held:
            continue  # in-sample baselines: one gamma threshold per model, as the run decided
        for rule in calibration.TARGET_RULES:
            if baseline:
                marked = rows.assign(split=np.where(rows["file_id"].isin(held),
                                                    calibration.HELD_OUT, rows["split"]))
                table = calibration.holdout_thresholds(
                    marked[marked["split"].isin(["train", calibration.HELD_OUT])], percentile,
                    rule)
                method = f"holdout {holdout.share:g}"
            else:
                table = calibration.thresholds_table(rows, percentile, "score", None, rule)
                method = "leave-one-out"
            decided = ensemble.decide(rows, table, "score")
            record = {"system": system, "calibration": method, "target": rule}
            records.append(rates_record(decided, record, by_type))
    return pd.DataFrame(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--folds", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--percentile", type=float, default=90.0)
    parser.add_argument("--by-type", action="store_true", help="rates per machine type too")
    parser.add_argument("--no-proposed", action="store_true",
                        help="only the references and baselines (no backends refitted)")
    args = parser.parse_args()
    os.chdir(PROJECT)

    catalog, parameters = project_context(args.env)
    index = catalog.load("file_index")
    if not args.no_proposed:
        chosen, calibrated, seconds, networks = proposed_scores(
            catalog, parameters, index, args.folds, args.seed)
        print(markdown(proposed_table(chosen, calibrated, args.percentile, args.by_type)))
        print(f"\nbackends of {networks} configurations fitted {1 + sum(args.folds)} times each in "
              f"{seconds:.0f} s (folds on all cores)\n")
    print(markdown(other_systems_table(catalog, parameters, index, args.percentile,
                                       args.by_type)))


if __name__ == "__main__":
    main()
