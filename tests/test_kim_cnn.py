"""Kim et al. 2017 image-wise CNN: architecture, Eq. 3 aggregation, image-wise training on a tiny set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import spearmanr  # noqa: E402

from deep.losses import imagewise_l2  # noqa: E402
from deep.models.bosse import count_parameters  # noqa: E402
from deep.models.kim import KimCNN, KimNet  # noqa: E402
from deep.patches import ImageDataset, collate_images  # noqa: E402




def _tiny_set(root, n_content=2, levels=(0, 1, 2), size=48, seed=0, sizes=None):
    """Tiny synthetic set: smooth images + Gaussian noise; score = level (DMOS-like)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_content):
        h, w = (sizes[c] if sizes else (size, size))
        base = gaussian_filter(rng.uniform(0, 255, (h, w, 3)), (3, 3, 0))
        base = (base - base.min()) / (base.max() - base.min()) * 200 + 20
        for lv in levels:
            img = np.clip(base + rng.normal(0, 1 + 25 * lv, base.shape), 0, 255).astype(np.uint8)
            p = root / f"c{c}_l{lv}.png"
            Image.fromarray(img).save(p)
            rows.append({"image": str(p), "ref": "", "score": float(lv), "higher_better": False,
                         "content": f"c{c}"})
    return pd.DataFrame(rows)


def test_parameter_count_about_0_4_million_and_28x28_maps():
    net = KimNet()
    n = count_parameters(net)
    assert n == 415_217 and abs(n - 0.4e6) < 0.05e6
    assert net.features(torch.zeros(1, 3, 112, 112)).shape == (1, 128, 28, 28)   # two stride-2 layers
    assert net(torch.zeros(2, 3, 112, 112)).shape == (2,)


def test_eq3_aggregation_averages_the_maps_of_all_patches():
    torch.manual_seed(0)
    net = KimNet().eval()
    x = torch.rand(3, 3, 32, 32)
    seg = torch.tensor([0, 0, 1])
    emb = net.embed(x, seg, 2)
    maps = net.features(x)                                    # (3, 128, 8, 8)
    all0 = maps[:2].permute(1, 0, 2, 3).reshape(128, -1).mean(1)   # average over every position of both patches
    expected = net.head(torch.stack([all0, maps[2].mean(dim=(1, 2))]))
    assert torch.allclose(emb, expected, rtol=1e-4, atol=1e-6)
    assert torch.allclose(net(x, seg, 2), net.out(expected).squeeze(-1), rtol=1e-4, atol=1e-6)
    # images of different sizes in one batch (full-size input) are handled one by one
    y = net([torch.rand(3, 40, 48), torch.rand(3, 32, 32)])
    assert y.shape == (2,)
    assert imagewise_l2(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(2.5)


def test_flip_augmentation_mirrors_whole_images(tmp_path):
    rec = _tiny_set(tmp_path, n_content=1, levels=(1,))
    ds = ImageDataset(rec["image"], rec["score"], flip=True, seed=0)
    plain = ImageDataset(rec["image"], rec["score"], flip=False)[0]["image"]
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        im = ds[0]["image"]
        if torch.equal(im, plain):
            seen.add("same")
        elif torch.equal(im, torch.flip(plain, dims=[2])):
            seen.add("flipped")
        else:
            raise AssertionError("neither the image nor its mirror")
    assert seen == {"same", "flipped"}
    batch = collate_images([ds[0], {"error": ("x.png", "unreadable")}])
    assert batch["image"].shape == (1, 3, 48, 48) and batch["errors"] == [("x.png", "unreadable")]


def test_overfits_a_handful_of_full_images(tmp_path):
    rec = _tiny_set(tmp_path, sizes=[(48, 48), (40, 56)])         # full-size input, two image sizes
    m = KimCNN(max_epochs=25, patience=None, val_fraction=0, batch_size=2, lr=3e-4, device="cpu", seed=0)
    m.fit(rec)
    assert m.hyper_parameters_["input"] == "full"
    loss = m.history_["train_loss"].to_numpy()
    # image-wise L2 on targets {0, 0.5, 1}: predicting the mean gives 1/6
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.03
    pred = m.predict(rec)
    assert np.all(np.isfinite(pred))
    assert spearmanr(pred, -rec["score"]).statistic > 0.9


def test_patch_input_quick_preset(tmp_path):
    rec = _tiny_set(tmp_path, levels=(0, 2), size=64)
    m = KimCNN(quick=True, device="cpu", work_dir=tmp_path / "w").fit(rec)
    hp = m.hyper_parameters_
    assert hp["input"] == "patches" and hp["patch_size"] == 64 and len(m.history_) == 3
    pred = m.predict(rec)
    assert np.all(np.isfinite(pred))
    with pytest.raises(ValueError, match="input"):
        KimCNN(input="tiles").hyper_parameters()


@pytest.mark.parametrize("dataset,expected", [("live", "patches"), ("tid2013", "full")])
def test_paper_preset_partitions_into_patches_on_live_only(tmp_path, dataset, expected):
    """Sec. V: 112x112 non-overlapping patches when training on LIVE, full-sized images elsewhere."""
    rec = _tiny_set(tmp_path, levels=(0, 2), size=64)
    rec["dataset"] = dataset
    m = KimCNN(patch_size=32, max_epochs=1, val_fraction=0, device="cpu").fit(rec)     # paper preset, input "auto"
    assert m.hyper_parameters()["input"] == "auto"
    assert m.hyper_parameters_["input"] == expected
    assert np.all(np.isfinite(m.predict(rec)))
    if expected == "patches":        # all 4 non-overlapping patches of each 64x64 image, maps averaged (Eq. 3)
        assert m.history_["train_units"].iloc[0] == 4 * len(rec)
