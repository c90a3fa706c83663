"""The GPU run of the papers' deep presets (issue 15): the Python side of ``bench/gpu_paper_presets.sh``.

    python bench/gpu_presets.py OUT [--quick] [--carry gpu_carry] [--budget 0.015,2,15] [-- EXTRA RUN ARGS]

1. **device**: prints the CUDA device (name, memory, capability, bf16) after a bf16 matmul on it;
   without CUDA it stops with exit status 3 before any work, unless ``--quick`` (the CPU dry run).
2. **run**: ``python -m benchmark run --suite deep`` on BIQ2021 (the carried subset of BIQ2021-dev,
   ``gpu_carry/data``, official-style split) and ``synth`` (3 content-disjoint random splits), on
   ``cuda`` (hence every CNN at its ``paper`` preset, :func:`benchmark.methods.base.deep_preset`;
   ``--quick``: the ``quick`` presets on the default device), offline, with the carried weights
   (``--weights ARCH=gpu_carry/weights/...``), the subset rule and the time budget as table notes, and
   ``--plugin bench/gpu_plugin.py`` (per-fit training budgets, throughput log).  Tables, ``run.json``
   and predictions go to ``OUT/run/``; checkpoints are deleted afterwards, the feature cache lives
   outside ``OUT``.
3. **feature throughput**: crops/s of each transfer backbone (the carried ones and ResNet50, random
   weights: the rate does not depend on them) at 224 x 224, batch 256, as the feature extractor runs
   them on a GPU (bf16 autocast, ``channels_last``); ``--quick``: the carried ones only, 64 x 64, batch 4.
4. **summary** (printed last, also ``OUT/gpu_summary.json``): per training run the units/s of its
   training steps (patches for Kang/deepIQA/Yang, crops for the fine-tuned backbones, images for
   Kim at full size), epochs and why it stopped; feature-extraction crops/s per backbone (in the
   run and in the step-3 benchmark); the GPU memory peak; the wall time against the 600 s budget.

Training budget (``--budget per_image_s,min_s,max_s``, default ``0.015,2,15``): each training run of
a network stops at the first training step after ``clip(per_image_s x n_train, min_s, max_s)``
seconds of training (the epoch in progress is cut there, validated and kept as usual), unless its
preset's epoch cap or early stopping ends it first (see
``bench/gpu_plugin.py``, :func:`deep.trainer.time_budget`).  The default gives 14.2 s for the
945 BIQ2021 training images and 4.2 s for synth's 280; with 6 networks trained on BIQ2021 and 12
on each of synth's 3 splits (with the MobileNetV2 file carried; no VGG16 for Yang's paper core)
the budgets sum to 236 s, leaving ~360 s of the 600 s for validation, decoding (945 images x
4-9 ms per fit), prediction, features, the SVR grids and start-up (the estimate and its basis:
README, 'GPU run (paper presets)').
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WALL_BUDGET_S = 600.0
DEFAULT_BUDGET = "0.015,2,15"
FEATURE_ARCHS = ("mobilenet_v2", "alexnet", "vgg16", "resnet50")


def budget_rule(text: str | None = None) -> tuple[float, float, float] | None:
    """``(per_image_s, min_s, max_s)`` from ``IQABENCH_GPU_BUDGET`` (``None`` when unset or empty)."""
    text = os.environ.get("IQABENCH_GPU_BUDGET") if text is None else text
    if not text:
        return None
    try:
        per, lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"IQABENCH_GPU_BUDGET must be 'per_image_s,min_s,max_s', got {text!r}") from None
    if not (per > 0 and 0 < lo <= hi):
        raise ValueError(f"IQABENCH_GPU_BUDGET: need per_image_s > 0 and 0 < min_s <= max_s, got {text!r}")
    return per, lo, hi


def budget_for(n_train: int, rule: tuple[float, float, float] | None) -> float | None:
    if rule is None:
        return None
    per, lo, hi = rule
    return float(min(hi, max(lo, per * n_train)))


def check_device(quick: bool) -> tuple[str, dict[str, Any]]:
    """``(device, facts)``; raises ``SystemExit(3)`` without a working CUDA device unless ``quick``."""
    import torch

    if not torch.cuda.is_available():
        if quick:
            print("device: cpu (no CUDA; --quick dry run)", flush=True)
            return "cpu", {"device": "cpu", "torch": torch.__version__}
        print("gpu_presets: CUDA is not available: this run needs a GPU (use --quick for a CPU dry run)",
              file=sys.stderr)
        raise SystemExit(3)
    props = torch.cuda.get_device_properties(0)
    a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
    ok = bool(torch.isfinite((a @ a).float()).all().item())
    torch.cuda.synchronize()
    if not ok:
        print("gpu_presets: a bf16 matmul on the GPU gave non-finite values", file=sys.stderr)
        raise SystemExit(3)
    facts = {"device": torch.cuda.get_device_name(0), "memory_gib": round(props.total_memory / 2 ** 30, 1),
             "capability": f"{props.major}.{props.minor}", "bf16": bool(torch.cuda.is_bf16_supported()),
             "torch": torch.__version__, "cuda": torch.version.cuda}
    print(f"device: cuda:0 {facts['device']}, {facts['memory_gib']} GiB, capability {facts['capability']}, "
          f"bf16 {facts['bf16']}, torch {facts['torch']} (CUDA {facts['cuda']})", flush=True)
    return "cuda", facts


def manifest(carry: Path) -> dict[str, Any]:
    p = carry / "MANIFEST.json"
    if not p.is_file():
        raise SystemExit(f"gpu_presets: {p} not found: run bench/gpu_prepare.py first (or give --carry)")
    return json.loads(p.read_text())


def run_args(out: Path, carry: Path, man: dict[str, Any], device: str, quick: bool, budget: str,
             cache: Path, extra: list[str]) -> list[str]:
    """The ``python -m benchmark run`` command line."""
    args = [sys.executable, "-m", "benchmark", "run", "--suite", "deep", "--datasets", "biq2021", "synth",
            "--data-root", str(carry / "data"), "--out", str(out), "--repeats", "3", "--offline",
            "--cache-dir", str(cache), "--no-progress", "--plugin", str(ROOT / "bench" / "gpu_plugin.py")]
    if device == "cuda":
        args += ["--device", "cuda"]
    if quick:
        args += ["--quick"]
    for arch, w in sorted((man.get("weights") or {}).items()):
        args += ["--weights", f"{arch}={carry / w['file']}"]
    per, lo, hi = budget.split(",")
    args += ["--note", f"biq2021: {man['rule']}.",
             "--note", (f"GPU run (bench/gpu_paper_presets.sh): every network at its "
                       f"'{'quick' if quick else 'paper'}' preset, each training run stopped at the first step after "
                       f"min({hi}, max({lo}, {per} x training images)) s of training when its epoch cap or early "
                       f"stopping had not ended it (the epoch in progress cut there and validated); epochs and stop "
                       f"reasons in gpu_summary.json.")]
    return args + extra


def feature_throughput(device: str, quick: bool, carried: dict[str, Any]) -> list[dict[str, Any]]:
    """Crops/s of each backbone's feature net on ``device`` (random weights; bf16 + channels_last on CUDA)."""
    import torch

    from deep._utils import autocast
    from deep.backbones import build_backbone, normalize
    from deep.features import FeatureNet, default_tap

    size, batch, reps = (64, 4, 1) if quick else (224, 256, 10)
    dev = torch.device(device)
    rows = []
    archs = [a for a in FEATURE_ARCHS if a in carried or (a == "resnet50" and not quick)]
    for arch in archs:
        net = FeatureNet.for_inference(build_backbone(arch, "random", seed=0), arch, default_tap(arch)).to(dev)
        if dev.type == "cuda":
            net = net.to(memory_format=torch.channels_last)
            torch.cuda.reset_peak_memory_stats()
        crops = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=dev)

        def step(net: torch.nn.Module, crops: torch.Tensor) -> None:
            x = normalize(crops)
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), autocast(dev, True):
                net(x)

        step(net, crops)
        step(net, crops)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            step(net, crops)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        row = {"arch": arch, "tap": net.tap, "crop_size": size, "batch": batch, "crops": batch * reps,
               "seconds": round(dt, 4), "crops_per_s": round(batch * reps / dt, 1)}
        if dev.type == "cuda":
            row["peak_bytes"] = int(torch.cuda.max_memory_allocated())
        rows.append(row)
        del net, crops
    return rows


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _gib(b: float | None) -> str:
    return "n/a" if b is None else f"{b / 2 ** 30:.2f} GiB"


def summarise(log: list[dict[str, Any]], bench: list[dict[str, Any]], wall: float, run_wall: float,
              device: str) -> list[str]:
    lines = ["", "== throughput (printed last) =="]
    train = [r for r in log if r.get("kind") == "train"]
    lines.append("training runs: method, training images, epochs (stop), units/s of the training steps, "
                 "train s / budget s")
    for r in train:
        stop = ("budget, last epoch cut" if r.get("budget_cut_epoch") else "budget" if r.get("stopped_by_budget")
                else "early stop" if r.get("stopped_early") else "epoch cap") if "epochs" in r else "n/a"
        ups = r.get("units_per_s")
        lines.append(f"  {r['method']:<28} n={r['n_train']:<5} epochs={r.get('epochs', 'n/a')} ({stop}), "
                     f"{ups if ups is not None else 'n/a'} units/s, {r.get('train_s', 'n/a')} s / "
                     f"{r.get('budget_s')} s (fit {r['fit_s']} s)")
    feats = [r for r in log if r.get("kind") == "features"]
    if feats:
        lines.append("feature extraction in the run (images decoded and cropped, cache misses only count):")
        for r in feats:
            lines.append(f"  {r['arch']}/{r['tap']}: {r['crops']} crops of {r['crop_size']} in {r['seconds']} s = "
                         f"{r['crops_per_s']} crops/s")
    lines.append("feature network alone (random crops on the device, bf16 autocast + channels_last on CUDA):")
    for r in bench:
        lines.append(f"  {r['arch']}/{r['tap']}: {r['crops_per_s']} crops/s of {r['crop_size']}x{r['crop_size']} "
                     f"(batch {r['batch']})")
    mem = [r for r in log if r.get("kind") == "memory"]
    peak = max([r["max_allocated_bytes"] for r in mem] + [r.get("peak_bytes", 0) for r in bench], default=None)
    lines.append(f"GPU memory peak: {_gib(peak) if device == 'cuda' else 'n/a (cpu)'}"
                 + (f" (reserved {_gib(max(r['max_reserved_bytes'] for r in mem))})" if mem else ""))
    verdict = "within" if wall < WALL_BUDGET_S else "OVER"
    lines.append(f"wall time: {wall:.1f} s in all ({run_wall:.1f} s in benchmark run), {verdict} the "
                 f"{WALL_BUDGET_S:.0f} s budget")
    return lines


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="output folder (tables, run.json, gpu_summary.json)")
    ap.add_argument("--quick", action="store_true", help="CPU dry run: quick presets, no CUDA required")
    ap.add_argument("--carry", type=Path, default=ROOT / "gpu_carry", help="carried folder (bench/gpu_prepare.py)")
    ap.add_argument("--budget", default=DEFAULT_BUDGET, help="per_image_s,min_s,max_s training budget per fit")
    a = ap.parse_args(argv)
    try:
        budget_rule(a.budget)
    except ValueError as exc:
        ap.error(f"--budget: {exc}")
    a.out, a.carry = a.out.resolve(), a.carry.resolve()
    man = manifest(a.carry)
    device, facts = check_device(a.quick)
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "gpu_log.jsonl"
    log_path.unlink(missing_ok=True)
    run_out = out / "run"
    env = dict(os.environ, IQABENCH_GPU_LOG=str(log_path), IQABENCH_GPU_BUDGET=a.budget, IQABENCH_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with tempfile.TemporaryDirectory(prefix="iqabench-gpu-cache-") as cache:
        cmd = run_args(run_out, a.carry, man, device, a.quick, a.budget, Path(cache), extra)
        print("run:", " ".join(f"'{c}'" if " " in c else c for c in cmd), flush=True)
        t_run = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        run_wall = time.perf_counter() - t_run
    shutil.rmtree(run_out / "checkpoints", ignore_errors=True)
    bench = feature_throughput(device, a.quick, man.get("weights") or {})
    log = read_log(log_path)
    wall = time.perf_counter() - t0
    summary = {"facts": facts, "manifest": {k: man[k] for k in ("rule", "n_train", "n_test", "weights")},
               "budget": a.budget, "run_rc": rc, "run_wall_s": round(run_wall, 1), "wall_s": round(wall, 1),
               "wall_budget_s": WALL_BUDGET_S, "log": log, "feature_bench": bench, "quick": bool(a.quick)}
    (out / "gpu_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print("\n".join(summarise(log, bench, wall, run_wall, device)), flush=True)
    if rc != 0:
        print(f"gpu_presets: the benchmark run ended with status {rc}", file=sys.stderr)
        return rc
    return 0 if (a.quick or wall < WALL_BUDGET_S) else 4


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
