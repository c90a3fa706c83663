"""deep.features: off-the-shelf CNN features (Kim et al. 2017, Sec. V): crops, cache, shapes, failures."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402

from deep._utils import derived_rng  # noqa: E402
from deep.backbones import WeightsError, build_backbone  # noqa: E402
from deep.features import (CNNFeatures, FeatureNet, crop_corners, crop_outputs, fold_batchnorm,  # noqa: E402
                           image_crops)
from features.cache import file_digest  # noqa: E402

CROP = 64      # small crops keep the tests fast; the default is the backbone's 224




@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut_small):
    """Four 96x112 PNGs (astronaut crops with different noise) and one 40x40 image."""
    root = tmp_path_factory.mktemp("cnnfeat")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(4):
        img = astronaut_small[k * 8:k * 8 + 96, :112].astype(float) + rng.normal(0, 4 * k, (96, 112, 3))
        p = root / f"img{k}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    small = root / "small.png"
    Image.fromarray(astronaut_small[:40, :40]).save(small)
    return paths, str(small)


def _feats(**kw) -> CNNFeatures:
    params = dict(arch="alexnet", weights="random", n_crops=3, crop_size=CROP, cache_dir=None, batch_size=4)
    params.update(kw)
    return CNNFeatures(**params)


def test_crops_deterministic_from_seed(images):
    paths, _ = images
    img = np.asarray(Image.open(paths[0]).convert("RGB"))
    d = file_digest(paths[0])
    a = image_crops(img, 5, CROP, derived_rng(0, d))
    b = image_crops(img, 5, CROP, derived_rng(0, d))
    c = image_crops(img, 5, CROP, derived_rng(1, d))
    assert a.shape == (5, 3, CROP, CROP) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # the crop is a true window of the image
    r, c0 = next((r, c0) for r in range(96 - CROP + 1) for c0 in range(112 - CROP + 1)
                 if np.array_equal(img[r:r + CROP, c0:c0 + CROP].transpose(2, 0, 1), a[0]))
    assert 0 <= r <= 96 - CROP and 0 <= c0 <= 112 - CROP
    # features do not depend on the order of the images or the batch size
    f = _feats()
    X = f.fit_transform(paths)
    f.batch_size = 1
    Xr = f.transform(paths[::-1])[::-1]
    assert np.abs(X).max() > 0
    np.testing.assert_allclose(X, Xr, rtol=1e-4, atol=1e-6 * np.abs(X).max())
    assert not np.allclose(X[0], X[1], rtol=1e-3, atol=0)


def test_cache_hit_on_rerun(images, tmp_path):
    paths, _ = images
    f1 = _feats(cache_dir=tmp_path)
    X1 = f1.fit_transform(paths)
    assert f1.computed_ == len(paths) and f1.cache_hits_ == 0
    f2 = _feats(cache_dir=tmp_path)
    X2 = f2.fit_transform(paths)
    assert f2.cache_hits_ == len(paths) and f2.computed_ == 0
    np.testing.assert_array_equal(X1, X2)
    assert f2.cache_name() == "cnn-alexnet-conv5"
    assert f2.cache_params()["weights"] == "random-seed0"
    f3 = _feats(cache_dir=tmp_path, n_crops=2)          # another parameter: a miss
    f3.fit_transform(paths[:1])
    assert f3.cache_hits_ == 0 and f3.computed_ == 1


@pytest.mark.parametrize("arch,tap,dim", [
    ("mobilenet_v2", None, 1280),
    ("resnet50", None, 2048),
    ("alexnet", None, 256),
    ("alexnet", "fc6", 4096),
    ("vgg16", None, 512),
])
def test_shape_per_arch(images, arch, tap, dim):
    paths, _ = images
    f = _feats(arch=arch, tap=tap, n_crops=2)
    X = f.fit_transform(paths[:2])
    assert X.shape == (2, dim) and np.all(np.isfinite(X))
    assert f.tap_ == (tap or {"mobilenet_v2": "pool", "resnet50": "pool", "alexnet": "conv5", "vgg16": "conv5"}[arch])


def test_alexnet_fc6_needs_classifier_weights(images, tmp_path):
    paths, _ = images
    sd = {k: v for k, v in build_backbone("alexnet", "random").state_dict().items() if k.startswith("features.")}
    torch.save(sd, tmp_path / "feat.pth")
    f = _feats(arch="alexnet", weights=str(tmp_path / "feat.pth"))
    f.fit_transform(paths[:1])
    assert f.tap_ == "conv5"                    # default falls back to the pooled conv block
    with pytest.raises(WeightsError, match="classifier.1"):
        _feats(arch="alexnet", weights=str(tmp_path / "feat.pth"), tap="fc6").fit_transform(paths[:1])


def test_failures_give_nan_rows(images, tmp_path):
    paths, small = images
    missing = str(tmp_path / "missing.png")
    f = _feats()
    X = f.fit_transform([paths[0], small, missing])
    assert np.all(np.isfinite(X[0])) and np.all(np.isnan(X[1])) and np.all(np.isnan(X[2]))
    assert "smaller than the 64x64" in f.failures_[small] and "40x40" in f.failures_[small]
    assert "not found" in f.failures_[missing]
    up = _feats(upsample_small=True).fit_transform([small])
    assert np.all(np.isfinite(up))


def test_clone_and_pickle(images):
    from sklearn.base import clone

    paths, _ = images
    f = _feats()
    X = f.fit_transform(paths[:1])
    g = pickle.loads(pickle.dumps(f))           # the network is not pickled, rebuilt on demand
    assert not hasattr(g, "net_") or g.__dict__.get("net_") is None
    np.testing.assert_allclose(g.transform(paths[:1]), X, rtol=1e-5, atol=1e-6)
    assert clone(f).get_params() == f.get_params()


def test_feature_svr_end_to_end(images, tmp_path):
    import pandas as pd

    from benchmark.methods.regression import FeatureSVR

    paths, _ = images
    rec = pd.DataFrame({"image": paths * 2, "score": [1.0, 2.0, 3.0, 4.0] * 2, "higher_better": True,
                        "content": ["a", "b", "c", "d"] * 2})
    m = FeatureSVR(features=_feats(n_crops=2, cache_dir=tmp_path), quick=True).fit(rec)
    pred = m.predict(rec)
    assert pred.shape == (8,) and np.all(np.isfinite(pred))


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet50"])
def test_fold_batchnorm_keeps_the_function(arch):
    """Every conv -> batch norm pair is folded (ResNet's attribute pairs and MobileNetV2's Sequential
    blocks alike) and the network computes the same features up to float32 rounding."""
    torch.manual_seed(0)
    net = FeatureNet(build_backbone(arch, "random", seed=0), arch, "pool")
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    for m in net.modules():                      # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ref = net(x)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(net.train())
    folded = fold_batchnorm(net.eval())
    assert folded is net and isinstance(folded, FeatureNet)
    assert n_bn > 40 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.inference_mode():
        got = folded(x)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))
    assert not torch.equal(got, ref)             # folded weights: a different rounding, not the same code path


def test_fold_batchnorm_leaves_networks_without_batch_norm():
    net = FeatureNet(build_backbone("alexnet", "random", seed=0), "alexnet", "conv5").eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fold_batchnorm(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_crop_corners_are_prefix_stable(images):
    """The first k of n crops are a k-crop run's (bench_backbones.py's crop-count curve relies on it)."""
    d = file_digest(images[0][0])
    a = crop_corners(96, 112, CROP, 25, derived_rng(0, d))
    b = crop_corners(96, 112, CROP, 5, derived_rng(0, d))
    np.testing.assert_array_equal(a[:5], b)
    assert a[:, 0].max() <= 96 - CROP and a[:, 1].max() <= 112 - CROP and a.min() >= 0
    assert len({tuple(x) for x in a}) > 10


def test_per_crop_outputs(images):
    paths, _ = images
    net = FeatureNet(build_backbone("alexnet", "random"), "alexnet", "conv5")
    digests = [file_digest(p) for p in paths[:2]]
    per = {i: v for i, v, _ in crop_outputs(net, paths[:2], digests, n_crops=4, size=CROP, seed=0, pool=None)}
    mean = {i: v for i, v, _ in crop_outputs(net, paths[:2], digests, n_crops=4, size=CROP, seed=0)}
    assert per[0].shape == (4, 256) and per[0].dtype == np.float32
    np.testing.assert_allclose(per[1].astype(np.float64).mean(0), mean[1], rtol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        next(crop_outputs(net, paths[:1], digests[:1], n_crops=2, size=CROP, seed=0, pool="max"))


def test_registered_methods_resolve_weights_offline(tmp_path, monkeypatch):
    from benchmark.methods import RunContext, build_method, get_method_info
    from deep.backbones import WeightsError, WeightsNotFoundError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    backbones = {"mobilenet_v2_svr": "mobilenet_v2", "alexnet_svr": "alexnet", "alexnet_fc6_svr": "alexnet",
                 "vgg16_svr": "vgg16", "vgg16_fc6_svr": "vgg16", "resnet50_svr": "resnet50",
                 "mobilenet_v2_ft": "mobilenet_v2", "resnet50_ft": "resnet50", "alexnet_ft": "alexnet",
                 "alexnet_fc_ft": "alexnet", "deepbiq": "alexnet", "deepbiq_mobilenet_v2": "mobilenet_v2"}
    for name, arch in backbones.items():
        info = get_method_info(name)
        assert (info.suite, info.group, info.kind, info.trainable) == ("deep", "NR deep", "NR", True)
        assert info.backbone == arch
    assert get_method_info("alexnet_svr").label == "AlexNet-conv5+SVR"
    assert get_method_info("alexnet_fc6_svr").label == "AlexNet-fc6+SVR"
    for name in ("resnet50_svr", "resnet50_ft"):
        with pytest.raises(WeightsNotFoundError, match=r"--weights resnet50=PATH"):
            build_method(name, RunContext())
    path = tmp_path / "mnv2.pth"
    torch.save(build_backbone("mobilenet_v2", "random").state_dict(), path)
    m = build_method("mobilenet_v2_svr", RunContext(weights={"mobilenet_v2": str(path)}, quick=True))
    assert m.features.weights == str(path) and m.features.n_crops == 5
    m = build_method("mobilenet_v2_svr", RunContext(weights={"mobilenet_v2": str(path)}, device="cpu"))
    assert m.features.n_crops == 25 and m.features.crop_size is None          # Kim et al.'s 25 crops of 224
    assert m.param_grid["svr__gamma"] == ["scale"]      # fixed gammas make a 1280-d RBF kernel degenerate
    ft = build_method("mobilenet_v2_ft", RunContext(weights={"mobilenet_v2": str(path)}, quick=True, seed=3))
    assert ft.weights == str(path) and ft.epochs == 1 and ft.seed == 3
    ft = build_method("mobilenet_v2_ft", RunContext(weights={"mobilenet_v2": str(path)}, device="cpu"))
    assert (ft.epochs, ft.n_train_crops, ft.batch_size, ft.n_test_crops) == (None, None, 48, 25)   # no CPU shortcut
    with pytest.raises(WeightsNotFoundError, match="missing.pth"):
        build_method("mobilenet_v2_svr", RunContext(weights={"mobilenet_v2": str(tmp_path / "missing.pth")}))
    # taps that need the classifier layers refuse a features-only file; conv5 rows take it
    feat = tmp_path / "alexnet_features.pth"
    torch.save({k: v for k, v in build_backbone("alexnet", "random").state_dict().items()
                if k.startswith("features.")}, feat)
    for name in ("alexnet_fc6_svr", "alexnet_fc_ft", "deepbiq"):
        with pytest.raises(WeightsError, match=f"{name} needs alexnet's classifier"):
            build_method(name, RunContext(weights={"alexnet": str(feat)}))
    assert build_method("alexnet_svr", RunContext(weights={"alexnet": str(feat)})).features.tap == "conv5"
    assert build_method("alexnet_ft", RunContext(weights={"alexnet": str(feat)})).head == "pool"
