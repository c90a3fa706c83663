"""The prepared GPU run (bench/gpu_paper_presets.sh, issue 15), dry-run on the CPU in CI size.

The script is run as the GPU machine would run it (``--quick``: no CUDA needed), from a fake
carried folder built here in BIQ2021's native layout (a handful of images), with two methods: one
trained network (Kang: a training-throughput line) and one transfer backbone (AlexNet conv5 + SVR,
with a random-weights ``features.*`` file: a feature-extraction line).  Also the pieces on their own: the
subset rule and size check of ``bench/gpu_prepare.py``, the plugin's budget rule, the trainer's
time budget and the device-deferred loss sum.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_prepare


def _fake_carry(root: Path, n_train: int = 8, n_test: int = 4, weights: bool = True) -> Path:
    from PIL import Image

    from deep.backbones import build_backbone

    carry = root / "carry"
    img_dir = carry / "data" / "BIQ2021" / "Images"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = {"train": [f"ss01 ({k}).jpg" for k in range(1, n_train + 1)],
             "test": [f"ss02 ({k}).jpg" for k in range(1, n_test + 1)]}
    yy, xx = np.mgrid[0:96, 0:128]
    for split, fname in gpu_prepare.SPLIT_FILES.items():
        with open(carry / "data" / "BIQ2021" / fname, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Image Name", "MOS", "", ""])
            for k, name in enumerate(names[split]):
                noise = rng.normal(0, 4 + 6 * k, (96, 128, 3))
                base = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1) % 256
                Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(img_dir / name, quality=90)
                w.writerow([name, f"{0.2 + 0.6 * rng.random():.4f}", "", ""])
    (carry / "weights").mkdir()
    carried = {}
    if weights:   # a features.*-only AlexNet file (as ../shared/weights holds), random weights
        sd = {k: v for k, v in build_backbone("alexnet", "random", seed=0).state_dict().items()
              if k.startswith("features.")}
        torch.save(sd, carry / "weights" / "alexnet_features.pth")
        carried["alexnet"] = {"file": "weights/alexnet_features.pth"}
    (carry / "wheels").mkdir()
    manifest = {"rule": "test subset: every fake image", "n_train": n_train, "n_test": n_test,
                "weights": carried}
    (carry / "MANIFEST.json").write_text(json.dumps(manifest))
    return carry


def test_quick_dry_run_writes_tables_and_throughput(tmp_path):
    carry = _fake_carry(tmp_path)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, IQABENCH_CACHE=str(tmp_path / "cache"))
    env.pop("IQABENCH_GPU_LOG", None)
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_paper_presets.sh"), str(out), "--quick",
                           "--carry", str(carry), "--budget", "0.001,0.2,1", "--", "--methods", "kang_cnn", "alexnet_svr",
                           "--synth-contents", "2", "--no-plots", "--n-jobs", "1"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "device: cpu" in text
    # the tables and run.json of `python -m benchmark run`, with the subset rule in the notes
    run = out / "run"
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["suite"] == "deep" and meta["deep_preset"] == "quick"
    assert set(meta["datasets"]) == {"biq2021", "synth"}
    tables = list(run.rglob("single_dataset*.md"))
    assert tables, sorted(p.name for p in run.rglob("*"))
    md = tables[0].read_text()
    assert "Kang CNN" in md and "AlexNet-conv5+SVR" in md
    assert "test subset: every fake image" in md and "GPU run (bench/gpu_paper_presets.sh)" in md
    assert not (run / "checkpoints").exists()
    # throughput printed last: training units/s, feature crops/s, memory, wall-time check
    tail = text[text.index("== throughput (printed last) =="):]
    assert "kang_cnn" in tail and "units/s" in tail
    assert "alexnet/conv5" in tail and "crops/s" in tail
    assert "GPU memory peak" in tail and "wall time:" in tail
    summary = json.loads((out / "gpu_summary.json").read_text())
    trains = [r for r in summary["log"] if r["kind"] == "train"]
    assert {r["method"] for r in trains} == {"kang_cnn"}
    assert len(trains) == 2                      # BIQ2021's official split + one synth split (quick)
    assert all(r["units_per_s"] > 0 and r["epochs"] >= 1 for r in trains)
    feats = [r for r in summary["log"] if r["kind"] == "features"]
    assert feats and all(r["arch"] == "alexnet" and r["crops_per_s"] > 0 for r in feats)
    assert summary["feature_bench"][0]["crops_per_s"] > 0


def test_without_cuda_the_full_run_stops_before_any_work(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    carry = _fake_carry(tmp_path, 2, 1, weights=False)
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_paper_presets.sh"), str(tmp_path / "out"),
                           "--carry", str(carry)], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 3
    assert "CUDA is not available" in proc.stderr
    assert not (tmp_path / "out" / "run").exists()


def test_bad_budget_is_one_line_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_presets.py"), str(tmp_path / "o"),
                           "--quick", "--budget", "1,5,2"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2 and "--budget" in proc.stderr


def test_subset_rule_is_a_prefix_of_a_fixed_permutation():
    names = [f"ss0{k % 3 + 1} ({k}).jpg" for k in range(50)]
    a = gpu_prepare.subset_order(names)
    assert a == gpu_prepare.subset_order(list(reversed(names)))       # depends on the names only
    assert sorted(a) == sorted(names) and a != sorted(names)
    sizes = {"train": [10] * 50, "test": [10] * 20}
    assert gpu_prepare.choose_counts(sizes, 50, 20, 10_000) == (50, 20)
    n_tr, n_te = gpu_prepare.choose_counts(sizes, 50, 20, 350)       # shrinks in the 5:2 ratio
    assert n_tr * 10 + n_te * 10 <= 350 and (n_tr, n_te) == (25, 10)


def test_budget_rule():
    import gpu_presets

    rule = gpu_presets.budget_rule("0.02,3,20")
    assert gpu_presets.budget_for(945, rule) == pytest.approx(18.9)
    assert gpu_presets.budget_for(10, rule) == 3.0 and gpu_presets.budget_for(5000, rule) == 20.0
    assert gpu_presets.budget_for(100, None) is None
    with pytest.raises(ValueError, match="per_image_s"):
        gpu_presets.budget_rule("1,2")


def test_time_budget_stops_training_at_the_step_that_reaches_it():
    from deep.trainer import TrainConfig, Trainer, time_budget

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    data = torch.utils.data.TensorDataset(x, y)
    model = torch.nn.Linear(4, 1)

    def loss(m, batch):
        return torch.nn.functional.mse_loss(m(batch[0]), batch[1])

    cfg = TrainConfig(max_epochs=50, patience=None, batch_size=16, device="cpu")
    with time_budget(1e-9):
        res = Trainer(model, loss, config=cfg).fit(data)
    # cut at the first step: one batch of 16 of the 64 items trained, that epoch validated and kept
    assert res.epochs_run == 1 and res.stopped_by_budget and res.budget_cut_epoch and not res.stopped_early
    assert res.items_seen == 16 and res.best_epoch == 0
    res = Trainer(torch.nn.Linear(4, 1), loss, config=TrainConfig(max_epochs=3, patience=None, batch_size=16,
                                                                 device="cpu")).fit(data)
    assert res.epochs_run == 3 and not res.stopped_by_budget and res.items_seen == 3 * 64
    with time_budget(3600):
        res = Trainer(torch.nn.Linear(4, 1), loss, config=TrainConfig(max_epochs=2, patience=None, batch_size=16,
                                                                     device="cpu")).fit(data)
    assert res.epochs_run == 2 and not res.stopped_by_budget and not res.budget_cut_epoch
    with pytest.raises(ValueError), time_budget(0):
        pass


def test_deferred_loss_sum_matches_the_per_batch_sum_and_names_a_nan_batch():
    from deep.trainer import _deferred_total

    losses = [(0, torch.tensor(0.1234567, dtype=torch.float32), 4), (1, torch.tensor(2.5e-3), 3),
              (3, torch.tensor(7.75), 1)]
    expect = 0.0
    for _, v, k in losses:
        expect += float(v.detach().float()) * k
    assert _deferred_total(losses, "m", 0) == expect                   # exactly the CPU path's arithmetic
    with pytest.raises(FloatingPointError, match="epoch 2, batch 4"):
        _deferred_total(losses[:2] + [(3, torch.tensor(float("nan")), 1)], "m", 1)


def test_image_bank_moves_to_a_device(tmp_path):
    from PIL import Image

    from deep.imagebank import ImageBank

    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(p)
    bank, bad = ImageBank.load([str(p)], device="cpu")
    assert not bad and bank.device == torch.device("cpu") and bank[0].shape == (3, 40, 50)
    assert bank.to("meta").device == torch.device("meta") and bank[0].is_meta
