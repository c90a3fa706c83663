"""Learning curves of the trained-from-scratch IQA CNNs at a preset (a benchmark, not a test).

For each dataset and method: the split the benchmark's first within-dataset run uses (the
official split, else the first content-disjoint 80/20 split), the method built exactly as the
runner builds it (``benchmark.methods.build_method`` on a CPU: the ``cpu`` preset), trained
to early stopping on its content-disjoint validation split; then tested.  Each (dataset,
method) runs in its own process (its peak RSS is its own), resumable: a finished run's JSON
in ``--work`` is reused, an interrupted training resumes from its checkpoint.

Writes to ``--out``:

* ``learning_curves.png`` - validation SROCC (and loss) per epoch, one panel per dataset;
* ``curves.csv`` - every epoch (counted from 1): train loss, validation loss / SROCC / PLCC, seconds;
* ``summary.csv`` - per run: preset, epochs to convergence (best epoch, epochs run, early stop
  or ``capped`` by ``--max-epochs``), wall and process CPU seconds (fit, per epoch, predict),
  training images/s and patches/s (training steps only), decoded-set memory, peak RSS, test
  SROCC/PLCC (logistic-mapped PLCC as in the tables), and ``est_3_splits_cpu_min``: the CPU
  minutes of the 3 splits a run without a GPU trains (3 x this split's fit + predict; a lower
  bound when capped); ``epochs_s`` / ``epochs_cpu_s`` sum every epoch's seconds, also those of
  an earlier process that a resumed run continued (``fit_s`` / ``fit_cpu_s`` time the last one).

    python bench/learning_curves.py --data-root ../shared/data --out results/learning_curves
    python bench/learning_curves.py --datasets synth --methods kang_cnn kim_cnn --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_METHODS = ["kang_cnn", "deepiqa_nr_patchwise", "deepiqa_nr_weighted", "deepiqa_fr_weighted", "kim_cnn",
                   "yang_siamese"]


def _first_split(rec, protocol: str = "auto", seed: int = 0):
    from benchmark.protocol import plan_splits

    return plan_splits(rec, protocol, n_repeats=1, test_size=0.2, seed=seed)[0]


def run_one(dataset: str, method: str, data_root: str | None, work: Path, threads: int | None,
            preset: str, max_epochs: int | None = None) -> dict:
    """Train and test one method on one dataset (in this process); the run's record."""
    import numpy as np
    import torch

    from benchmark.datasets import load_dataset
    from benchmark.evaluation import evaluate
    from benchmark.methods.base import RunContext, get_method_info

    if threads:
        torch.set_num_threads(int(threads))
    rec = load_dataset(dataset, data_root=data_root)
    sp = _first_split(rec)
    train, test = sp.frames(rec)
    info = get_method_info(method)
    if info.kind == "FR" and not (rec["ref"] != "").all():
        return {"dataset": dataset, "method": method, "skipped": "no references"}
    seed = sp.seed if sp.seed is not None else 0
    ctx = RunContext(device="cpu", seed=seed, work_dir=work / "checkpoints" / dataset / method, progress=False,
                     quick=preset == "quick")
    m = info.factory(ctx)
    if preset not in ("cpu", "quick"):
        m.set_params(preset=preset)
    if max_epochs:
        m.set_params(max_epochs=int(max_epochs))
    t0, c0 = time.perf_counter(), time.process_time()
    m.fit(train)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    pred = m.predict(test)
    pred_s, pred_cpu = time.perf_counter() - t1, time.process_time() - c1
    ok = np.isfinite(pred)
    ev = evaluate(test["score"].to_numpy()[ok], pred[ok], true_higher_better=bool(test["higher_better"].iloc[0]),
                  pred_higher_better=True)
    r = m.train_result_
    hist = m.history_
    return {
        "dataset": dataset, "method": method, "preset": m.preset or ("quick" if m.quick else "paper"),
        "split": sp.name, "seed": seed, "n_train": int(m.n_train_), "n_val": int(m.n_val_), "n_test": int(ok.sum()),
        "epochs_run": int(r.last_epoch + 1), "best_epoch": int(r.best_epoch + 1), "stopped_early": bool(r.stopped_early),
        "max_epochs": int(m.hyper_parameters_["max_epochs"]), "stop_on": m.hyper_parameters_["stop_on"],
        "capped": bool(max_epochs) and not r.stopped_early and r.last_epoch + 1 >= int(max_epochs),
        "fit_s": round(fit_s, 1), "fit_cpu_s": round(fit_cpu, 1), "predict_s": round(pred_s, 1), "predict_cpu_s": round(pred_cpu, 1),
        "epoch_cpu_s": round(float(hist["cpu_seconds"].median()), 2),
        "train_s": round(float(hist["train_seconds"].sum()), 1) if "train_seconds" in hist else None,
        "train_images_per_s": round(float(hist["train_items"].sum() / hist["train_seconds"].sum()), 2),
        "train_units_per_s": round(float(hist["train_units"].sum() / hist["train_seconds"].sum()), 1),
        "bank_mb": round(m.bank_bytes_ / 2 ** 20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "test_srocc": round(float(ev["srocc"]), 4), "test_plcc": round(float(ev["plcc"]), 4),
        "torch_threads": torch.get_num_threads(), "hp": {k: v for k, v in m.hyper_parameters_.items()},
        "history": hist.to_dict(orient="list"),
    }


def plot(curves, summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(2, len(datasets), figsize=(6.2 * len(datasets), 7.0), squeeze=False)
    for j, ds in enumerate(datasets):
        for k, (method, g) in enumerate(curves[curves["dataset"] == ds].groupby("method", sort=False)):
            s = summary[(summary["dataset"] == ds) & (summary["method"] == method)].iloc[0]
            col = f"C{k}"
            ep = g["epoch"].to_numpy()
            end = "capped" if s.get("capped") else ("early stop" if s["stopped_early"] else "epoch budget")
            lab = f"{method} (best {s['best_epoch']}/{s['epochs_run']}, {end}, test {s['test_srocc']:.2f})"
            axes[0, j].plot(ep, g["val_srocc"], color=col, lw=1.2, label=lab)
            axes[0, j].plot([s["best_epoch"]], [g["val_srocc"].iloc[int(s["best_epoch"]) - 1]], "o", color=col, ms=4)
            axes[1, j].plot(ep, g["val_loss"] / g["val_loss"].iloc[0], color=col, lw=1.2, label=method)
            axes[1, j].plot(ep, g["train_loss"] / g["train_loss"].iloc[0], color=col, lw=0.8, ls=":")
        axes[0, j].set_title(f"{ds}: validation SROCC per epoch ({summary['preset'].iloc[0]} preset)", fontsize=9)
        axes[0, j].set_xlabel("epoch", fontsize=8)
        axes[0, j].set_ylabel("validation SROCC", fontsize=8)
        axes[0, j].legend(fontsize=6, loc="lower right")
        axes[1, j].set_title(f"{ds}: loss / first-epoch loss (solid: validation, dotted: training)", fontsize=9)
        axes[1, j].set_xlabel("epoch", fontsize=8)
        axes[1, j].set_yscale("log")
        for ax in axes[:, j]:
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="folder with real datasets (e.g. ../shared/data for biq2021)")
    ap.add_argument("--datasets", nargs="+", help="default: synth, plus biq2021 when --data-root is given")
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    ap.add_argument("--preset", default="cpu", help="cpu (what a CPU run uses), quick or paper")
    ap.add_argument("--out", default="results/learning_curves")
    ap.add_argument("--work", default=None, help="per-run JSON and checkpoints (default: <cache>/learning_curves)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads per run (default: torch's)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (each in its own process)")
    ap.add_argument("--max-epochs", type=int, default=None,
                    help="cap the preset's epoch budget (the summary says 'capped'; a later run with a larger "
                         "cap resumes from the checkpoint)")
    ap.add_argument("--collect-only", action="store_true",
                    help="train nothing: tabulate and plot the runs already finished in --work")
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "METHOD"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    from features.cache import default_cache_dir

    work = Path(a.work) if a.work else Path(default_cache_dir()) / "learning_curves" / a.preset
    work.mkdir(parents=True, exist_ok=True)
    if a.one:
        ds, method = a.one
        res = run_one(ds, method, a.data_root, work, a.threads, a.preset, a.max_epochs)
        (work / f"{ds}__{method}.json").write_text(json.dumps(res, default=str))
        return

    import pandas as pd

    datasets = a.datasets or (["synth"] + (["biq2021"] if a.data_root else []))
    def done(ds: str, m: str) -> bool:
        f = work / f"{ds}__{m}.json"
        if not f.exists():
            return False
        r = json.loads(f.read_text())
        return not r.get("capped") or (a.max_epochs is not None and r["epochs_run"] >= a.max_epochs)

    todo = [] if a.collect_only else [(ds, m) for ds in datasets for m in a.methods if not done(ds, m)]
    procs: list[tuple[subprocess.Popen, str, str]] = []
    while todo or procs:
        while todo and len(procs) < max(1, a.jobs):
            ds, m = todo.pop(0)
            cmd = [sys.executable, __file__, "--one", ds, m, "--preset", a.preset, "--work", str(work)]
            cmd += ["--max-epochs", str(a.max_epochs)] if a.max_epochs else []
            cmd += (["--data-root", a.data_root] if a.data_root else []) + (["--threads", str(a.threads)] if a.threads else [])
            log = open(work / f"{ds}__{m}.log", "w")
            print(f"start {ds} {m}", flush=True)
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()), ds, m))
        time.sleep(2)
        for p, ds, m in list(procs):
            if p.poll() is not None:
                procs.remove((p, ds, m))
                print(f"done {ds} {m} (exit {p.returncode})", flush=True)

    runs, curves = [], []
    for ds in datasets:
        for m in a.methods:
            f = work / f"{ds}__{m}.json"
            if not f.exists():
                continue
            r = json.loads(f.read_text())
            if r.get("skipped"):
                continue
            h = pd.DataFrame(r.pop("history"))
            h.insert(0, "method", m)
            h.insert(0, "dataset", ds)
            curves.append(h)
            r["hp"] = json.dumps(r["hp"], sort_keys=True)
            # every epoch's seconds, also those of earlier (resumed) processes: fit_s / fit_cpu_s time
            # this process only
            r["epochs_s"] = round(float(h["seconds"].sum()), 1)
            r["epochs_cpu_s"] = round(float(h["cpu_seconds"].sum()), 1)
            # what a default CPU run (3 splits per trained network) costs at this split's figures;
            # a lower bound when the curve was capped
            train_cpu = max(r["fit_cpu_s"], r["epochs_cpu_s"])
            r["est_3_splits_cpu_min"] = round(3 * (train_cpu + r.get("predict_cpu_s", r["predict_s"])) / 60, 1)
            runs.append(r)
    if not runs:
        raise SystemExit("no finished runs")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(runs)
    curves_df = pd.concat(curves, ignore_index=True)
    curves_df["epoch"] = curves_df["epoch"] + 1      # counted from 1, like best_epoch / epochs_run and the plot
    cols = ["dataset", "method", "epoch", "train_loss", "val_loss", "val_srocc", "val_plcc", "seconds", "cpu_seconds",
            "train_seconds", "train_items", "train_units"]
    curves_df[[c for c in cols if c in curves_df]].to_csv(out / "curves.csv", index=False, float_format="%.5g")
    summary.to_csv(out / "summary.csv", index=False)
    plot(curves_df, summary, out / "learning_curves.png")
    print(summary.drop(columns=["hp"]).to_string())


if __name__ == "__main__":
    main()
