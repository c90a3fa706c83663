"""Backbone weights in a run: resolved once, reported absent with the reason, SHA-256 in run.json,
in the prediction fingerprints and in the table note; the CLI's --offline."""
from __future__ import annotations

import json

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from benchmark.methods.base import MethodInfo  # noqa: E402
from benchmark.runner import RunConfig, _Runner, run  # noqa: E402
from deep.backbones import build_backbone  # noqa: E402


@pytest.fixture(scope="module")
def alexnet_files(tmp_path_factory):
    """Two features-only AlexNet state dicts with different (random) weights."""
    root = tmp_path_factory.mktemp("weights")
    out = []
    for seed in (0, 1):
        sd = {k: v for k, v in build_backbone("alexnet", "random", seed=seed).state_dict().items()
              if k.startswith("features.")}
        torch.save(sd, root / f"alexnet_features_{seed}.pth")
        out.append(str(root / f"alexnet_features_{seed}.pth"))
    return out


def test_fingerprint_follows_the_weights_file(alexnet_files, tmp_path):
    info = MethodInfo("cnn_svr", lambda ctx: None, "NR", "NR deep", "deep", trainable=True, backbone="alexnet")
    test = pd.DataFrame({"image": ["a.png", "b.png"], "score": [1.0, 2.0]})

    def fp(path):
        r = _Runner(RunConfig(out=str(tmp_path), weights={"alexnet": path}, device="cpu", progress=False))
        r.resolve_weights([info])
        assert not r.unbuildable and r.ctx(0, tmp_path).weights_sha256["alexnet"] == r.weights["alexnet"].sha256
        return r._fp(info, test, test, 0)

    assert fp(alexnet_files[0]) == fp(alexnet_files[0]) != fp(alexnet_files[1])


def test_missing_weights_are_a_noted_absence(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    called = []
    info = MethodInfo("cnn_svr", lambda ctx: called.append(1), "NR", "NR deep", "deep", trainable=True,
                      backbone="resnet50")
    r = _Runner(RunConfig(out=str(tmp_path), progress=False))
    r.resolve_weights([info])
    reason = r.unbuildable["cnn_svr"]
    assert "--weights resnet50=PATH" in reason and "resnet50-0676ba61.pth" in reason and "--offline" in reason
    assert r.predict(info, "within", "d", "d", "r00", None, pd.DataFrame({"image": ["a"]}), 0) is None
    assert not called


def test_run_records_weights_and_notes_them(alexnet_files, tmp_path):
    out = tmp_path / "o"
    res = run(RunConfig(suite="deep", methods=["alexnet_svr", "alexnet_fc6_svr"], datasets=["synth"], quick=True,
                        dataset_options={"synth": {"n_contents": 3}}, n_repeats=1,
                        weights={"alexnet": alexnet_files[0]}, out=str(out), progress=False, plots=False,
                        device="cpu", cache_dir=None))
    meta = json.loads((out / "run.json").read_text())
    w = meta["weights"]["alexnet"]
    assert w["path"] == alexnet_files[0] and w["origin"] == "--weights" and w["layers"] == "features only"
    assert len(w["sha256"]) == 64
    assert "classifier (fc) layers" in meta["failed_methods"]["alexnet_fc6_svr"]   # fc6 needs the full file
    md = (out / "tables.md").read_text()
    assert f"AlexNet-conv5+SVR: ImageNet weights alexnet_features_0.pth (features.* only, SHA-256 {w['sha256']})" in md
    assert "5 random 96x96 crops per image ('quick' preset; Kim et al.: 25)" in md
    side = json.loads(next((out / "predictions" / "alexnet_svr" / "within").glob("*.json")).read_text())
    assert side["fingerprint"]
    assert set(res.metrics.loc[res.metrics["status"] == "ok", "method"]) == {"alexnet_svr"}


def test_cli_offline_flag(monkeypatch, tmp_path):
    import benchmark.runner
    from benchmark.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def fake_run(cfg):
        seen["offline"] = cfg.offline
        raise Stop

    monkeypatch.setattr(benchmark.runner, "run", fake_run)
    for argv, expected in ((["--offline"], True), ([], None)):
        with pytest.raises(Stop):
            main(["run", "--suite", "deep", "--out", str(tmp_path), *argv])
        assert seen["offline"] is expected


def test_fine_tuned_rows_are_left_out_of_a_cpu_run_by_default():
    # fine-tuning (100 crops of 224 per image, up to 6-20 epochs) takes hours per split on 2 cores,
    # and VGG16's 25 crops per image 2.7 s of 2 cores (15.5 min for synth); the other features + SVR
    # rows cost a few CPU-minutes once per dataset (features are cached across splits)
    from benchmark.methods.base import get_method_info

    for name in ("mobilenet_v2_ft", "resnet50_ft", "alexnet_ft", "alexnet_fc_ft", "deepbiq", "deepbiq_mobilenet_v2",
                 "vgg16_svr", "vgg16_fc6_svr"):
        assert not get_method_info(name).cpu_default, name
    for name in ("mobilenet_v2_svr", "alexnet_svr", "alexnet_fc6_svr", "resnet50_svr"):
        assert get_method_info(name).cpu_default, name
