"""Log-mel extraction speed and memory: worker processes vs a plain one-process loop.

Writes ``--clips`` WAVs of ``--seconds`` of noise (16 kHz, PCM 16) into a temporary folder in
the DCASE layout, reads them through the same PartitionedDataset of WavDataset as the
``raw_audio`` catalog entry, and times, over the same files:

- ``plain loop``: a loop a user would write, ``librosa.feature.melspectrogram`` +
  ``power_to_db`` per file in this process (BLAS threads as numpy sets them);
- ``one process``: ``extract_log_mels(n_jobs=1)`` (same loop, mel basis built once, BLAS held to
  one thread);
- ``workers, cold``: ``extract_log_mels(n_jobs)`` including starting the worker processes;
- ``workers, warm``: the same again with the loky workers already running (the steady state
  of a long extraction, e.g. the ~50 000 files of DCASE 2021).

Memory: tracemalloc peak of this process during the parallel extraction (numpy buffers are
traced), the feature array's own size for comparison, the Arrow memory that
``array_to_frame`` adds (zero-copy: about the file ids only), and the peak resident size of this
process and of the worker processes (getrusage).

    python benchmarks/features.py                 # 200 x 10 s, all cores
    python benchmarks/features.py --clips 400 --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile


def write_clips(root: Path, clips: int, seconds: float, rate: int = 16000) -> None:
    rng = np.random.default_rng(0)
    folder = root / "fan" / "train"
    folder.mkdir(parents=True)
    for i in range(clips):
        samples = 0.1 * rng.standard_normal(int(seconds * rate))
        soundfile.write(
            folder / f"section_00_source_train_normal_{i:04d}.wav", samples, rate, subtype="PCM_16"
        )


def busy_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def control_speedup(workers: int, n: int = 2_000_000) -> float:
    """Speed-up of a pure-Python busy loop on ``workers`` processes: what the cores give now.

    On a machine shared with other jobs this is far below ``workers``, and so is any
    parallel speed-up measured at the same time.
    """
    from joblib import Parallel, delayed

    Parallel(n_jobs=workers)(delayed(busy_loop)(10) for _ in range(workers))
    start = time.perf_counter()
    for _ in range(2 * workers):
        busy_loop(n)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    Parallel(n_jobs=workers)(delayed(busy_loop)(n) for _ in range(2 * workers))
    return serial / (time.perf_counter() - start)


def children_cpu_seconds() -> dict[int, float]:
    """User + system CPU seconds of each live child process (the loky workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # fields[1] is the parent pid
            out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--chunk-size", type=int, default=64)
    args = parser.parse_args()

    import librosa
    import pyarrow as pa
    from joblib import effective_n_jobs
    from joblib.externals.loky import get_reusable_executor
    from kedro_datasets.partitions import PartitionedDataset

    from subcluster_adacos_asd.feature_table import array_to_frame
    from subcluster_adacos_asd.log_mel import LogMelSettings, extract_log_mels

    n_frames = 1 + int(args.seconds * 16000) // 512
    settings = LogMelSettings(n_frames=min(313, n_frames))
    with tempfile.TemporaryDirectory() as tmp:
        write_clips(Path(tmp), args.clips, args.seconds)
        partitions = PartitionedDataset(
            path=tmp, dataset="subcluster_adacos_asd.datasets.WavDataset", filename_suffix=".wav"
        ).load()
        items = sorted(partitions.items())
        extract_log_mels(items[:2], settings, n_jobs=1)  # librosa's lazy imports, file cache

        def plain_loop():
            out = []
            for _, load in items:
                y, rate, _ = load()
                power = librosa.feature.melspectrogram(
                    y=y, sr=rate, n_fft=1024, hop_length=512, n_mels=128
                )
                db = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
                out.append(db[:, : settings.n_frames].T)
            return np.stack(out)

        t_plain, plain = timed(plain_loop)
        t_one, one = timed(lambda: extract_log_mels(items, settings, n_jobs=1))
        tracemalloc.start()
        t_cold, cold = timed(
            lambda: extract_log_mels(items, settings, args.n_jobs, args.chunk_size)
        )
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        cpu_one = time.process_time()
        extract_log_mels(items, settings, n_jobs=1)
        cpu_one = time.process_time() - cpu_one
        t_warm = min(
            timed(lambda: extract_log_mels(items, settings, args.n_jobs, args.chunk_size))[0]
            for _ in range(2)
        )
        before, parent_before = children_cpu_seconds(), time.process_time()
        extract_log_mels(items, settings, args.n_jobs, args.chunk_size)
        after, parent_cpu = children_cpu_seconds(), time.process_time() - parent_before
        worker_cpu = [after[pid] - before.get(pid, 0.0) for pid in after]
        arrow_before = pa.total_allocated_bytes()
        frame = array_to_frame([f for f, _ in items], cold)
        arrow_added = pa.total_allocated_bytes() - arrow_before
        del frame
        control = control_speedup(effective_n_jobs(args.n_jobs))
        get_reusable_executor().shutdown(wait=True)

    assert np.allclose(plain, one, atol=1e-3) and np.array_equal(one, cold)
    workers = effective_n_jobs(args.n_jobs)
    serial = min(t_plain, t_one)
    mib = 1024 * 1024
    print(f"{args.clips} clips of {args.seconds:g} s -> ({settings.n_frames}, 128) log-mel each")
    print(f"cores: {os.cpu_count()}, worker processes: {workers}, chunk size: {args.chunk_size}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, seconds in [
        ("plain loop (librosa.feature.melspectrogram)", t_plain),
        ("one process (extract_log_mels n_jobs=1)", t_one),
        (f"workers, cold (n_jobs={args.n_jobs}, incl. start)", t_cold),
        (f"workers, warm (n_jobs={args.n_jobs})", t_warm),
    ]:
        print(f"  {label:<48} {seconds:7.2f} s  {args.clips / seconds:8.1f} clips/s")
    print(
        f"speed-up vs the faster one-process loop: warm {serial / t_warm:.2f}x, cold {serial / t_cold:.2f}x"
    )
    print(f"control (pure-Python busy loop on {workers} processes): {control:.2f}x")
    busiest = max(worker_cpu + [parent_cpu])
    print(
        f"CPU seconds: one process {cpu_one:.2f}; workers run: busiest worker {busiest:.2f}, "
        f"all workers {sum(worker_cpu):.2f}, parent {parent_cpu:.2f}"
    )
    print(
        "speed-up on free cores, estimated from CPU time (one-process CPU / busiest worker "
        f"CPU): {cpu_one / busiest:.2f}x"
    )
    print(f"feature array: {cold.nbytes / mib:.1f} MiB")
    print(f"tracemalloc peak in this process during the parallel run: {traced_peak / mib:.1f} MiB")
    print(f"Arrow memory added by array_to_frame: {arrow_added / mib:.2f} MiB")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {self_rss:.0f} MiB, largest worker {child_rss:.0f} MiB")


if __name__ == "__main__":
    main()
