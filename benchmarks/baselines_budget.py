"""Time both DCASE 2021 baselines on data the size of the default synthetic data set.

3 machine types x 2 sections x 43 training clips and 80 test clips per machine type, 313 frames
x 128 mels (random log-mel: timing only). Prints the wall and CPU time of training and scoring for the
settings in conf/base/parameters_baselines.yml, or for the ones given on the command line:

    python benchmarks/baselines_budget.py [ae_epochs mnv2_epochs mnv2_train_hop mnv2_test_hop]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from subcluster_adacos_asd import baselines
from subcluster_adacos_asd.feature_table import array_to_frame


def synthetic_index(machine_types=3, sections=2, train_per_section=43, test_per_section=40):
    rows = []
    for m in range(machine_types):
        for s in range(sections):
            for split, count in (("train", train_per_section), ("test", test_per_section)):
                for n in range(count):
                    rows.append(
                        {
                            "file_id": f"machine{m}/{split}/section_{s:02d}_{split}_{n:04d}",
                            "machine_type": f"machine{m}",
                            "section": s,
                            "split": split,
                            "label": "normal"
                            if split == "train"
                            else ("anomaly" if n % 2 else "normal"),
                        }
                    )
    return pd.DataFrame(rows)


def main() -> None:
    parameters = yaml.safe_load(
        (Path(__file__).parents[1] / "conf/base/parameters_baselines.yml").read_text()
    )["baselines"]
    ae, mnv2 = parameters["autoencoder"], parameters["mobilenetv2"]
    if len(sys.argv) == 5:
        ae["epochs"], mnv2["epochs"] = int(sys.argv[1]), int(sys.argv[2])
        mnv2["train_hop_frames"], mnv2["test_hop_frames"] = int(sys.argv[3]), int(sys.argv[4])
    index = synthetic_index()
    rng = np.random.default_rng(0)
    values = rng.normal(-40, 10, size=(len(index), 313, 128)).astype(np.float32)
    log_mel = array_to_frame(index["file_id"], values)
    print(
        f"{len(index)} clips; autoencoder {ae['epochs']} epochs; MobileNetV2 {mnv2['epochs']} "
        f"epochs, hops {mnv2['train_hop_frames']}/{mnv2['test_hop_frames']}"
    )
    for system, baseline in baselines.SYSTEMS.items():
        settings = baseline.settings(parameters[system], f"params:baselines.{system}")
        start = time.perf_counter(), time.process_time()
        models = baseline.fit(index, log_mel, 128, settings)
        trained = time.perf_counter(), time.process_time()
        baseline.score(models, index, log_mel, 128, settings)
        scored = time.perf_counter(), time.process_time()
        print(
            f"{system}: train {trained[0] - start[0]:.1f} s (CPU {trained[1] - start[1]:.1f} s), "
            f"score {scored[0] - trained[0]:.1f} s (CPU {scored[1] - trained[1]:.1f} s)"
        )


if __name__ == "__main__":
    main()
