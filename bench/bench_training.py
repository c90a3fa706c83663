"""CPU training throughput of the trained-from-scratch IQA CNNs against their networks' own.

For each method (at a preset, default ``cpu``), in one process:

1. ``prepare`` the method on a dataset's training split exactly as ``fit`` does (decode once
   into the in-memory bank; the decode rate is reported);
2. **loop**: the real :class:`deep.trainer.Trainer` for one epoch on that training set (no
   validation), timed over its training steps: building each batch from the bank (patch
   corners, tensor-indexing cuts, uint8 -> float input), the forward and backward passes and
   the optimiser step;
3. **network**: the same network, loss and optimiser on random tensors of the shapes of the
   epoch's first batches (forward, backward and optimiser step; no data handling);

repeated ``--repeats`` times, interleaved, so that both see the same machine load.  Reported:
medians of patches (or crops, images) per second and training images per second, and the
loop/network ratio of each repeat (median); both by wall time and by process CPU time (on a
machine shared with other jobs the CPU-time rates, with ``--threads 1``, are the steadier ones).

    python bench/bench_training.py                                  # synth, every method
    python bench/bench_training.py --data-root ../shared/data --dataset biq2021 --max-images 160
    python bench/bench_training.py --methods kang_cnn --threads 1 --repeats 5
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_METHODS = ["kang_cnn", "deepiqa_nr_patchwise", "deepiqa_nr_weighted", "deepiqa_fr_weighted", "kim_cnn",
                   "yang_siamese"]


def _random_like(batch):
    import torch

    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v) and v.is_floating_point():
            out[k] = torch.rand_like(v)
        elif isinstance(v, list):
            out[k] = [torch.rand_like(t) for t in v]
        else:
            out[k] = v
    return out


def network_rate(model, loss_fn, optimizer, batches, units_of) -> tuple[float, float]:
    """Units per second (wall, process CPU) of forward + backward + optimiser step on random tensors
    shaped like ``batches``."""
    model.train()
    fake = [_random_like(b) for b in batches]
    # one warm-up step
    optimizer.zero_grad(set_to_none=True)
    loss_fn(model, fake[0]).backward()
    optimizer.step()
    t0, c0 = time.perf_counter(), time.process_time()
    for b in fake:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, b)
        loss.backward()
        optimizer.step()
        float(loss.detach())
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    n = sum(units_of(b) for b in fake)
    return n / dt, n / dc


def bench_method(name: str, train, preset: str, repeats: int, n_batches: int) -> dict:
    import torch

    from benchmark.methods.base import RunContext, build_method
    from deep.trainer import TrainConfig, Trainer, batch_units

    m = build_method(name, RunContext(device="cpu", seed=0, progress=False, quick=preset == "quick"))
    if preset not in ("cpu", "quick"):
        m.set_params(preset=preset)
    m.set_params(val_fraction=0.0)                  # the loop is timed on training steps only
    t0 = time.perf_counter()
    run = m.prepare(train)
    prep_s = time.perf_counter() - t0
    hp, model, src = run["hp"], run["model"], run["train"]
    n_img = len(src)
    loss_fn = m._loss(hp)
    batches = list(src.iter_batches(0))[:n_batches]
    loops, nets, ratios, img_rates, cpu_loops, cpu_nets, cpu_ratios = [], [], [], [], [], [], []
    for _ in range(repeats):
        tr = Trainer(model, loss_fn, m._optimizer(hp), TrainConfig(max_epochs=1, patience=None, device="cpu", seed=0))
        res = tr.fit(src)
        loop, cpu_loop = res.units_per_second, res.units_seen / res.train_cpu_seconds
        net, cpu_net = network_rate(model, loss_fn,
                                    m._optimizer(hp)([p for p in model.parameters() if p.requires_grad]),
                                    batches, batch_units)
        loops.append(loop)
        nets.append(net)
        ratios.append(loop / net)
        cpu_loops.append(cpu_loop)
        cpu_nets.append(cpu_net)
        cpu_ratios.append(cpu_loop / cpu_net)
        img_rates.append(res.items_per_second)
    unit = "patches" if "patches" in batches[0] else "images"
    return {"method": name, "preset": preset, "train_images": n_img, "unit": unit,
            "units_per_image": round(sum(batch_units(b) for b in batches) / sum(len(b["index"]) for b in batches), 1),
            "batch_units": batch_units(batches[0]),
            "decode_images_per_s": round(len(run["bank"]) / prep_s, 1), "bank_mb": round(run["bank"].nbytes / 2 ** 20, 1),
            "network_units_per_s": round(statistics.median(nets), 1),
            "loop_units_per_s": round(statistics.median(loops), 1),
            "loop_images_per_s": round(statistics.median(img_rates), 2),
            "loop_over_network": round(statistics.median(ratios), 3),
            "ratios": " ".join(f"{r:.3f}" for r in ratios),
            "network_units_per_cpu_s": round(statistics.median(cpu_nets), 1),
            "loop_units_per_cpu_s": round(statistics.median(cpu_loops), 1),
            "cpu_loop_over_network": round(statistics.median(cpu_ratios), 3),
            "cpu_ratios": " ".join(f"{r:.3f}" for r in cpu_ratios), "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="synth")
    ap.add_argument("--data-root")
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--max-images", type=int, default=None, help="train on the first N training records")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=8, help="batches timed by the network measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    a = ap.parse_args()

    import pandas as pd
    import torch

    from benchmark.datasets import load_dataset
    from benchmark.protocol import plan_splits

    if a.threads:
        torch.set_num_threads(a.threads)
    rec = load_dataset(a.dataset, data_root=a.data_root)
    sp = plan_splits(rec, "auto", n_repeats=1, test_size=0.2, seed=0)[0]
    train, _ = sp.frames(rec)
    if a.max_images:
        train = train.iloc[: a.max_images].reset_index(drop=True)
    rows = []
    for name in a.methods:
        r = bench_method(name, train, a.preset, a.repeats, a.batches)
        r["dataset"] = a.dataset
        rows.append(r)
        print(r, flush=True)
    df = pd.DataFrame(rows)
    print(f"\n{a.dataset}, {len(train)} training images, torch threads {torch.get_num_threads()}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    cols = ["method", "unit", "units_per_image", "batch_units", "network_units_per_s", "loop_units_per_s",
            "loop_images_per_s", "loop_over_network", "ratios", "network_units_per_cpu_s", "loop_units_per_cpu_s",
            "cpu_loop_over_network", "cpu_ratios", "decode_images_per_s", "bank_mb"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for _, r in df[cols].iterrows():
        print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
