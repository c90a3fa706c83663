"""deep.backbones: offline weights (files, torch cache layout, features-only files), never a download."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from deep.backbones import (WeightsError, WeightsNotFoundError, build_backbone, find_cached_weights,  # noqa: E402
                            is_offline, normalize, resolve_imagenet, torch_cache_file)

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"   # torchvision's IMAGENET1K_V1 file




@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """TORCH_HOME pointing at an empty folder, and every download entry point made to fail loudly."""
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args} {kwargs}")

    import torch.hub
    import torchvision.models._api as tv_api

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", no_download)
    return home


def _cat_batch() -> torch.Tensor:
    """skimage's chelsea (a tabby cat): shorter side to 256 (antialiased bilinear), centre 224 crop."""
    from skimage import data

    img = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float()
    h, w = img.shape[-2:]
    s = 256 / min(h, w)
    img = torch.nn.functional.interpolate(img, size=(round(h * s), round(w * s)), mode="bilinear",
                                          antialias=True, align_corners=False)
    h, w = img.shape[-2:]
    top, left = (h - 224) // 2, (w - 224) // 2
    crop = img[..., top:top + 224, left:left + 224].clamp(0, 255).round().to(torch.uint8)
    return normalize(crop)


def test_mobilenet_real_weights_classify_cat(shared):
    path = shared("weights", MOBILENET_FILE)
    model = build_backbone("mobilenet_v2", path)
    assert model.weights_info.missing == ()
    with torch.inference_mode():
        logits = model(_cat_batch())[0]
    top5 = set(torch.topk(logits, 5).indices.tolist())
    assert top5 & set(range(281, 286)), f"no ImageNet cat class (281-285) in top-5 {sorted(top5)}"
    # pretrained features differ from random initialisation
    rand = build_backbone("mobilenet_v2", "random")
    with torch.inference_mode():
        fa = model.features(_cat_batch()).mean((2, 3))
        fb = rand.features(_cat_batch()).mean((2, 3))
    assert not torch.allclose(fa, fb, atol=1e-3)
    assert model.weights_info.sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert rand.weights_info.ident == "random-seed0"


def test_torch_cache_layout(shared, empty_torch_home):
    src = shared("weights", MOBILENET_FILE)
    os.symlink(src, empty_torch_home / "hub" / "checkpoints" / MOBILENET_FILE)
    for spec in ("IMAGENET1K_V1", "MobileNet_V2_Weights.IMAGENET1K_V1", "imagenet"):
        model = build_backbone("mobilenet_v2", spec)
        assert model.weights_info.tv_name == "IMAGENET1K_V1"
        assert model.weights_info.source == str(empty_torch_home / "hub" / "checkpoints" / MOBILENET_FILE)
    from torchvision.models import MobileNet_V2_Weights

    assert find_cached_weights("mobilenet_v2") is MobileNet_V2_Weights.IMAGENET1K_V1
    ref = build_backbone("mobilenet_v2", src)
    got = build_backbone("mobilenet_v2", MobileNet_V2_Weights.IMAGENET1K_V1)
    for (k, a), b in zip(ref.state_dict().items(), got.state_dict().values()):
        assert torch.equal(a, b), k


def test_default_without_cached_file_errors_offline(empty_torch_home):
    assert is_offline()                                   # tests/conftest.py sets IQABENCH_OFFLINE=1
    expected = empty_torch_home / "hub" / "checkpoints" / "mobilenet_v2-7ebf99e0.pth"   # DEFAULT = V2
    with pytest.raises(WeightsNotFoundError) as err:
        build_backbone("mobilenet_v2", "DEFAULT")
    assert str(expected) in str(err.value) and "--weights mobilenet_v2=PATH" in str(err.value)
    with pytest.raises(WeightsNotFoundError, match="resnet50-11ad3fa6.pth"):
        build_backbone("resnet50", "imagenet")
    assert find_cached_weights("resnet50") is None


def test_offline_failure_names_the_three_ways(empty_torch_home, monkeypatch):
    """Offline (the environment variable or offline=True) fails at once, naming --weights, the
    cache path and the download; the download entry points (made to raise) are never called."""
    for env, arg in (("1", None), ("", True)):
        monkeypatch.setenv("IQABENCH_OFFLINE", env)
        with pytest.raises(WeightsNotFoundError) as err:
            resolve_imagenet("alexnet", offline=arg)
        msg = str(err.value)
        assert "--weights alexnet=PATH" in msg
        assert str(empty_torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
        assert "--offline" in msg and "IQABENCH_OFFLINE=1" in msg


@pytest.fixture
def fake_download(empty_torch_home, monkeypatch):
    """torchvision's download (``torchvision.models._api.load_state_dict_from_url``) replaced by a
    fake that records the request and writes ``fake_download.payload`` where torch.hub would."""
    import shutil

    import torchvision.models._api as tv_api

    calls = []

    def fake(url, *args, **kwargs):
        calls.append((url, kwargs))
        dest = empty_torch_home / "hub" / "checkpoints" / os.path.basename(url)
        shutil.copyfile(fake.payload, dest)
        return torch.load(dest, weights_only=True)

    fake.calls = calls
    fake.payload = None
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", fake)
    return fake


def test_online_path_asks_torchvision_for_the_preferred_enum(fake_download, tmp_path):
    """Online, an empty cache makes torchvision download IMAGENET1K_V1 (with its progress bar and
    hash check) into torch's cache; a file whose bytes do not match the hash is rejected."""
    from torchvision.models import MobileNet_V2_Weights

    fake_download.payload = tmp_path / "wrong.pth"
    torch.save(build_backbone("mobilenet_v2", "random").state_dict(), fake_download.payload)
    with pytest.raises(WeightsError, match="does not match"):
        build_backbone("mobilenet_v2", "imagenet", offline=False)
    assert len(fake_download.calls) == 1
    url, kwargs = fake_download.calls[0]
    assert url == MobileNet_V2_Weights.IMAGENET1K_V1.url and url.endswith("/" + MOBILENET_FILE)
    assert kwargs == {"progress": True, "check_hash": True}


def test_online_download_lands_in_torch_cache(fake_download, shared, empty_torch_home):
    fake_download.payload = shared("weights", MOBILENET_FILE)
    r = resolve_imagenet("mobilenet_v2", offline=False)
    assert (r.origin, r.tv_name, r.complete) == ("download", "IMAGENET1K_V1", True)
    assert r.path == str(empty_torch_home / "hub" / "checkpoints" / MOBILENET_FILE)
    assert r.sha256.startswith("b0353104")
    again = resolve_imagenet("mobilenet_v2", offline=True)          # now in the cache: no second download
    assert again.origin == "torch cache" and len(fake_download.calls) == 1


def test_download_failure_is_clear(empty_torch_home, monkeypatch):
    import torchvision.models._api as tv_api

    def fail(url, *args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", fail)
    with pytest.raises(WeightsNotFoundError, match=r"download of .*alexnet-owt-7be5be79.pth failed.*unreachable"):
        resolve_imagenet("alexnet", offline=False)


def test_resolve_given_files(shared):
    r = resolve_imagenet("mobilenet_v2", shared("weights", MOBILENET_FILE))
    assert (r.origin, r.tv_name, r.complete) == ("--weights", "IMAGENET1K_V1", True)   # torchvision's own file
    a = resolve_imagenet("alexnet", shared("weights", "alexnet_features-imagenet.pth"))
    assert a.complete is False and a.tv_name is None and a.as_dict()["layers"] == "features only"
    assert a.sha256 in a.describe() and "features.* only" in a.describe()


def test_corrupt_cached_file_is_rejected(empty_torch_home):
    path = empty_torch_home / "hub" / "checkpoints" / MOBILENET_FILE
    torch.save(build_backbone("mobilenet_v2", "random").state_dict(), path)   # right keys, wrong bytes
    with pytest.raises(WeightsError, match="does not match"):
        build_backbone("mobilenet_v2", "IMAGENET1K_V1")


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope" / "alexnet.pth"
    with pytest.raises(WeightsNotFoundError) as err:
        build_backbone("alexnet", missing)
    assert str(missing) in str(err.value) and "--weights alexnet=PATH" in str(err.value)


def test_features_only_file_warns_and_loads(tmp_path):
    donor = build_backbone("alexnet", "random", seed=7)
    sd = {k: v for k, v in donor.state_dict().items() if k.startswith("features.")}
    path = tmp_path / "alexnet_features.pth"
    torch.save(sd, path)
    with pytest.warns(UserWarning, match=r"classifier\.1, classifier\.4, classifier\.6 not in .*alexnet_features"):
        model = build_backbone("alexnet", path)
    assert model.weights_info.missing == ("classifier.1", "classifier.4", "classifier.6")
    assert not model.weights_info.loaded("classifier.1") and model.weights_info.loaded("features.0")
    assert torch.equal(model.features[0].weight, donor.features[0].weight)
    assert not torch.equal(model.classifier[1].weight, donor.classifier[1].weight)


def test_shared_features_only_files(shared):
    for arch, fname, missing in (("alexnet", "alexnet_features-imagenet.pth", "classifier.1, classifier.4, classifier.6"),
                                 ("vgg16", "vgg16_features-imagenet.pth", "classifier.0, classifier.3, classifier.6")):
        path = shared("weights", fname)
        with pytest.warns(UserWarning, match=missing.replace(".", r"\.")):
            model = build_backbone(arch, path)
        assert model.weights_info.pretrained


def test_unexpected_keys_and_shape_mismatch_are_errors(tmp_path):
    sd = build_backbone("mobilenet_v2", "random").state_dict()
    bad_keys = dict(sd, **{"head.weight": torch.zeros(3)})
    torch.save(bad_keys, tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match="head.weight"):
        build_backbone("mobilenet_v2", tmp_path / "extra.pth")
    bad_shape = dict(sd)
    bad_shape["classifier.1.weight"] = torch.zeros(10, 1280)
    bad_shape["classifier.1.bias"] = torch.zeros(10)
    torch.save(bad_shape, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"shape mismatch.*classifier\.1\.weight"):
        build_backbone("mobilenet_v2", tmp_path / "shape.pth")
    torch.save({"a": 1}, tmp_path / "notsd.pth")
    with pytest.raises(WeightsError, match="state dict"):
        build_backbone("mobilenet_v2", tmp_path / "notsd.pth")
    # a checkpoint wrapping the state dict, saved from DataParallel, is accepted
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "wrapped.pth")
    assert build_backbone("mobilenet_v2", tmp_path / "wrapped.pth").weights_info.missing == ()


def test_random_init_is_seeded_and_resnet50_runs():
    a = build_backbone("resnet50", "random", seed=3)
    b = build_backbone("resnet50", "random", seed=3)
    c = build_backbone("resnet50", "random", seed=4)
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)
    with torch.inference_mode():
        out = a(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1000) and not a.training


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown arch"):
        build_backbone("lenet", "random")
    from torchvision.models import ResNet50_Weights

    with pytest.raises(WeightsError, match="not alexnet weights"):
        build_backbone("alexnet", ResNet50_Weights.IMAGENET1K_V1)
    with pytest.raises(WeightsError, match="no weights"):
        build_backbone("alexnet", None)


def test_normalize_and_cache_path(monkeypatch, tmp_path):
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    y = normalize(x)
    np.testing.assert_allclose(y[0, :, 0, 0].numpy(), [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224,
                                                       (1 - 0.406) / 0.225], rtol=1e-6)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from torchvision.models import AlexNet_Weights

    assert torch_cache_file(AlexNet_Weights.IMAGENET1K_V1) == tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
