"""Time the score library (GMM backends + ensemble) and evaluate's metrics/figures at the size
of the default run: 10 configurations x 2 snapshots, 3 machine types x 2 sections x (40 source
+ 3 target training clips, 40 test clips), 3 attributes per section, 128-d embeddings.

Embeddings are random clusters (timing only, not accuracy). Prints wall times:

    python benchmarks/score_budget.py [snapshots] [dim]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from subcluster_adacos_asd import backends, ensemble, metrics, reporting
from subcluster_adacos_asd.configurations import TrainingConfiguration


def file_index(types=("fan", "gearbox", "valve"), sections=(0, 1), source_train=40,
               target_train=3, test=10, attributes=(1, 2, 3)):
    rows = []
    for t in types:
        for s in sections:
            sc = f"{t}_section_{s:02d}"

            def add(domain, split, label, n, attr):
                name = f"section_{s:02d}_{domain}_{split}_{label}_{n:04d}_attr_{attr}"
                rows.append(dict(file_id=f"{t}/{split}/{name}", filename=name + ".wav",
                                 machine_type=t, section=s, domain=domain, split=split,
                                 label=label, section_class=sc,
                                 attribute_class=f"{sc}_attr_{attr}"))
            for n in range(source_train):
                add("source", "train", "normal", n, attributes[n % len(attributes)])
            for n in range(target_train):
                add("target", "train", "normal", n, 9)
            for domain in ("source", "target"):
                for label in ("normal", "anomaly"):
                    for n in range(test):
                        add(domain, "test", label, n, attributes[n % len(attributes)]
                            if domain == "source" else 9)
    return pd.DataFrame(rows)


def fake_configuration(index, configuration, snapshots, dim, rng):
    classes = sorted(index["section_class"].unique())
    attrs = sorted(index["attribute_class"].unique())
    direction = {c: rng.normal(size=dim) for c in [*classes, *attrs]}
    emb, centres = [], []
    for snap in snapshots:
        base = np.stack([direction[s] + 0.5 * direction[a] for s, a in
                         zip(index["section_class"], index["attribute_class"], strict=True)])
        values = base + 0.3 * rng.normal(size=base.shape)
        frame = pd.DataFrame(values, columns=[f"emb_{i:03d}" for i in range(dim)])
        frame.insert(0, "snapshot", snap)
        frame.insert(0, "file_id", index["file_id"].to_numpy())
        emb.append(frame)
        heads = [("section", classes)] + ([("attribute", attrs)]
                                          if configuration.variant == "both" else [])
        for head, names in heads:
            for name in names:
                for k in range(configuration.sub_clusters):
                    c = direction[name] + 0.1 * rng.normal(size=dim)
                    centres.append({"snapshot": snap, "head": head, "class_name": name,
                                    "sub_cluster": k,
                                    **{f"c_{i:03d}": c[i] for i in range(dim)}})
    return pd.concat(emb, ignore_index=True), pd.DataFrame(centres)


def main():
    n_snapshots = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    snapshots = [f"epoch_{i:04d}" for i in range(1, n_snapshots + 1)]
    rng = np.random.default_rng(0)
    index = file_index()
    configurations = [TrainingConfiguration(s, v) for v in ("both", "sections")
                      for s in (1, 2, 4, 8, 16)]
    data = {c.name: fake_configuration(index, c, snapshots, dim, rng) for c in configurations}
    print(f"{len(index)} files, {len(configurations)} configurations x {n_snapshots} snapshots,"
          f" {dim}-d embeddings")
    terms = {}
    start = time.perf_counter()
    for name, (emb, centres) in data.items():
        t0 = time.perf_counter()
        fitted = backends.fit_configuration_backends(emb, centres, index)
        t1 = time.perf_counter()
        terms[name] = backends.configuration_score_terms(fitted, emb, index)
        t2 = time.perf_counter()
        print(f"  {name}: fit {t1 - t0:.2f} s, score {t2 - t1:.2f} s")
    t0 = time.perf_counter()
    scores = ensemble.variant_scores(ensemble.sum_members(terms), index)
    choice = ensemble.choose_variants(scores)
    anomaly, _ = ensemble.anomaly_scores(scores, choice)
    systems = ensemble.system_scores(scores, choice)
    t1 = time.perf_counter()
    print(f"score total {t1 - start:.1f} s (ensemble/thresholds {t1 - t0:.2f} s)")
    per_section = metrics.section_metrics(systems, index)
    summary = metrics.summary(per_section)
    reporting.table_per_section(per_section, summary, ["proposed"])
    t2 = time.perf_counter()
    figures = {**reporting.roc_curve_figures(systems, index, ["proposed", "loss_both"]),
               **reporting.score_histogram_figures(anomaly)}
    for figure in figures.values():
        figure.savefig("/dev/null", format="png", dpi=100)
    t3 = time.perf_counter()
    print(f"metrics + tables {t2 - t1:.2f} s, {len(figures)} figures {t3 - t2:.2f} s")


if __name__ == "__main__":
    main()
