"""Trained CNNs that do not converge within a CPU run's budget: left out without a GPU, with a note."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from benchmark.methods.base import MethodInfo, get_method_info
from benchmark.report import build_tables
from benchmark.runner import RunConfig, cpu_excluded, run


def _info(name, cpu_default):
    return MethodInfo(name=name, factory=lambda ctx: None, kind="NR", group="NR deep", suite="deep",
                      trainable=True, cpu_default=cpu_default)


def test_cpu_default_methods_are_left_out_only_without_a_gpu_and_without_cpu_train():
    fast, slow = _info("fast", True), _info("slow", False)
    assert cpu_excluded(RunConfig(device="cpu"), [fast, slow]) == [slow]
    assert cpu_excluded(RunConfig(device="cpu", cpu_train=True), [fast, slow]) == []
    assert cpu_excluded(RunConfig(device="cuda:0"), [fast, slow]) == []
    assert cpu_excluded(RunConfig(device="cpu", quick=True), [fast, slow]) == [slow]   # quick too
    assert cpu_excluded(RunConfig(device="cpu", quick=True, cpu_train=True), [fast, slow]) == []


def test_registered_defaults():
    pytest.importorskip("torch")
    # decided from the measured learning curves (README: "Trained CNNs on a CPU")
    assert get_method_info("kang_cnn").cpu_default
    for name in ("kim_cnn", "yang_siamese", "deepiqa_nr_patchwise", "deepiqa_nr_weighted", "deepiqa_fr_weighted",
                 "deepiqa_fr_patchwise", "deepiqa_fr_weighted_diff", "deepiqa_fr_patchwise_concat"):
        assert not get_method_info(name).cpu_default, name
    assert MethodInfo(name="x", factory=lambda ctx: None, kind="NR", group="FR", suite="fr").cpu_default


def test_a_run_without_gpu_skips_them_and_says_how_to_include_them(tmp_path, monkeypatch):
    from benchmark import runner
    from benchmark.methods import base

    slow_psnr = dataclasses.replace(get_method_info("psnr"), cpu_default=False)
    monkeypatch.setattr(runner, "list_methods", lambda suite: [slow_psnr, get_method_info("ssim")])
    with base.METHODS.temporarily(slow_psnr):
        _run_without_gpu(tmp_path, run)


def _run_without_gpu(tmp_path, run):
    res = run(RunConfig(suite="fr", datasets=["synth"], methods=None, device="cpu", out=str(tmp_path / "a"),
                        n_repeats=1, plots=False, progress=False, cache_dir=None,
                        dataset_options={"synth": {"n_contents": 3, "distortions": ["jpeg"], "size": 64}}))
    assert "psnr" not in set(res.metrics["method"]) and "ssim" in set(res.metrics["method"])
    text = (tmp_path / "a" / "tables.md").read_text()
    assert "Not in this CPU run: PSNR" in text and "--cpu-train" in text and "--suite deep` on a GPU" in text
    with pytest.raises(ValueError, match="psnr: not run on a CPU by default"):
        run(RunConfig(suite="fr", datasets=["synth"], methods=["psnr"], device="cpu", out=str(tmp_path / "b")))


def test_cli_refuses_an_explicit_slow_method_on_cpu_in_one_line(capsys):
    pytest.importorskip("torch")
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--methods", "deepiqa_nr_weighted", "--device", "cpu", "--datasets", "synth"])
    assert "deepiqa_nr_weighted" in str(exc.value) and "--cpu-train" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_quick_tables_say_they_are_a_smoke_test():
    metrics = pd.DataFrame([{"method": "psnr", "label": "PSNR", "group": "FR", "kind": "FR", "plan": "within",
                             "train_set": "synth", "test_set": "synth", "split": f"r0{k}", "n_failed": 0, "n": 10,
                             "srocc": 0.5, "krocc": 0.4, "plcc": 0.5, "plcc_raw": 0.5, "rmse": 1.0,
                             "mapping": "logistic5"} for k in range(3)])
    tables, _ = build_tables(metrics, pd.DataFrame(), meta={"config": {"quick": True}})
    assert any("smoke test of the pipeline" in n and "not results" in n for n in tables[0][1].notes)
    tables, _ = build_tables(metrics, pd.DataFrame())
    assert not any("smoke test" in n for n in tables[0][1].notes)
