"""deepIQA / WaDIQaM (Bosse et al. 2018): architecture, Eq. 1-6, NR and FR training on tiny sets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import spearmanr  # noqa: E402

from deep.losses import BOSSE_EPS, patchwise_l1, weighted_average, weighted_l1  # noqa: E402
from deep.models.bosse import DeepIQA, DeepIQANet, count_parameters  # noqa: E402




def _tiny_set(root, n_content=2, levels=(0, 1, 2), size=64, seed=0):
    """Tiny synthetic FR set: smooth references + Gaussian noise; score = level (DMOS-like)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_content):
        base = gaussian_filter(rng.uniform(0, 255, (size, size, 3)), (3, 3, 0))
        base = (base - base.min()) / (base.max() - base.min()) * 200 + 20
        ref = root / f"ref{c}.png"
        Image.fromarray(base.astype(np.uint8)).save(ref)
        for lv in levels:
            img = np.clip(base + rng.normal(0, 1 + 25 * lv, base.shape), 0, 255).astype(np.uint8)
            p = root / f"c{c}_l{lv}.png"
            Image.fromarray(img).save(p)
            rows.append({"image": str(p), "ref": str(ref), "score": float(lv), "higher_better": False,
                         "content": f"c{c}"})
    return pd.DataFrame(rows)


def test_parameter_counts_match_the_paper():
    # "about 5.2 million trainable parameters" (Sec. III-A) = the NR network with the weighting branch.
    assert count_parameters(DeepIQANet(weighted=True)) == 5_238_562
    assert count_parameters(DeepIQANet(weighted=False)) == 4_975_393
    # FR concat(f_r, f_d, f_r - f_d): the first FC layers take 1536 inputs.
    fr = DeepIQANet(fr=True, weighted=True, fusion="concat3")
    assert fr.quality[0].in_features == 1536 and fr.weight[0].in_features == 1536
    assert DeepIQANet(fr=True, fusion="diff").quality[0].in_features == 512
    assert DeepIQANet(fr=True, fusion="concat").quality[0].in_features == 1024
    with pytest.raises(ValueError):
        DeepIQANet(fr=True, fusion="sum")


def test_forward_shapes_and_siamese_weight_sharing():
    torch.manual_seed(0)
    net = DeepIQANet(fr=True, weighted=True, fusion="concat3").eval()
    x = torch.rand(5, 3, 32, 32)
    assert net.embed(x).shape == (5, 512)
    y, a = net(x, x)
    assert y.shape == (5,) and a.shape == (5,)
    f = net.fuse(net.embed(x), net.embed(x))
    assert torch.all(f[:, 1024:] == 0)          # identical inputs -> f_r - f_d = 0 (shared weights)
    with pytest.raises(ValueError):
        net(x)


def test_weighted_average_eq_3_to_5_hand_computed():
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    alpha = torch.tensor([1.0, -1.0, 3.0, -2.0])
    seg = torch.tensor([0, 0, 0, 1])
    q = weighted_average(y, alpha, seg, 2)
    e = BOSSE_EPS
    expected0 = ((1 + e) * 1 + e * 2 + (3 + e) * 3) / ((1 + e) + e + (3 + e))   # = 2.5 up to eps
    assert q[0].item() == pytest.approx(expected0, rel=1e-6)
    assert q[0].item() == pytest.approx(2.5, abs=1e-5)
    assert q[1].item() == pytest.approx(4.0)     # a lone patch with alpha <= 0 keeps weight eps: q = y
    target = torch.tensor([3.0, 1.0])
    # Eq. 6: |q - q_t| averaged over the two images: (0.5 + 3) / 2
    assert weighted_l1(y, alpha, target, seg).item() == pytest.approx(1.75, abs=1e-5)


def test_patchwise_l1_eq_2_hand_computed():
    y = torch.tensor([1.0, 3.0, 0.0, 2.0])
    seg = torch.tensor([0, 0, 1, 1])
    target = torch.tensor([2.0, 1.0])
    # image 0: (|1-2| + |3-2|) / 2 = 1; image 1: (|0-1| + |2-1|) / 2 = 1; mean 1
    assert patchwise_l1(y, target, seg).item() == pytest.approx(1.0)
    # Eq. 2 is the patch MAE, not |mean - q_t| (which would be 0 for image 0)
    assert patchwise_l1(torch.tensor([1.0, 3.0]), torch.tensor([2.0]), torch.tensor([0, 0])).item() == 1.0


@pytest.mark.parametrize("weighted", [False, True])
def test_nr_overfits_a_handful_of_images(tmp_path, weighted):
    rec = _tiny_set(tmp_path, n_content=2, levels=(0, 1, 2))
    # dropout off and lr 2e-4 so that a handful of images can be fitted in a few epochs
    m = DeepIQA(weighted=weighted, max_epochs=10, patience=None, val_fraction=0, n_patches=4, batch_size=2,
                lr=2e-4, dropout=0.0, device="cpu", seed=0)
    m.fit(rec)
    loss = m.history_["train_loss"].to_numpy()
    # targets are scaled to {0, 0.5, 1}: predicting their mean gives an MAE of 1/3
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.3
    pred = m.predict(rec)
    assert np.all(np.isfinite(pred)) and m.failures_ == {}
    assert spearmanr(pred, -rec["score"]).statistic > 0.9          # DMOS-like: higher level = worse


def test_fr_trains_on_ref_dist_pairs_and_needs_references(tmp_path):
    rec = _tiny_set(tmp_path, n_content=2, levels=(0, 1, 2))
    m = DeepIQA(weighted=True, fr=True, max_epochs=10, patience=None, val_fraction=0, n_patches=4, batch_size=2,
                lr=2e-4, dropout=0.0, device="cpu", seed=0, work_dir=tmp_path / "work")
    assert m.kind == "FR" and m.name == "deepiqa_fr_weighted"
    m.fit(rec)
    loss = m.history_["train_loss"].to_numpy()
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.3
    pred = m.predict(rec)
    assert spearmanr(pred, -rec["score"]).statistic > 0.9
    assert any((tmp_path / "work").glob("deepiqa_fr_weighted-*/best.pt"))
    bad = rec.iloc[:2].copy()
    bad.loc[bad.index[0], "ref"] = ""
    out = m.predict(bad)
    assert np.isnan(out[0]) and np.isfinite(out[1])
    assert "no reference" in m.failures_[bad["image"].iloc[0]]
    with pytest.raises(ValueError, match="ref"):
        DeepIQA(fr=True).fit(rec.drop(columns=["ref"]))
    one = DeepIQA(fr=True, max_epochs=1, patience=None, val_fraction=0, n_patches=2, device="cpu").fit(
        pd.concat([bad, rec.iloc[2:4]], ignore_index=True))          # a record without reference is left out
    assert one.n_train_ == 3 and "no reference" in one.failures_[bad["image"].iloc[0]]


def test_small_images_are_nan_with_a_reason(tmp_path):
    from PIL import Image

    rec = _tiny_set(tmp_path, n_content=2, levels=(0, 2), size=40)
    small = tmp_path / "small.png"
    Image.fromarray(np.full((20, 50, 3), 100, np.uint8)).save(small)
    extra = pd.DataFrame([{"image": str(small), "ref": "", "score": 1.0, "higher_better": False, "content": "s"}])
    m = DeepIQA(weighted=False, max_epochs=1, patience=None, val_fraction=0, n_patches=2, device="cpu")
    m.fit(pd.concat([rec, extra], ignore_index=True))          # the small image is left out of training
    assert "smaller" in m.failures_[str(small)] and m.n_train_ == len(rec)
    pred = m.predict(pd.concat([extra, rec], ignore_index=True))
    assert np.isnan(pred[0]) and np.all(np.isfinite(pred[1:]))
    assert "20x50" in m.failures_[str(small)]


def test_validation_split_is_content_disjoint(tmp_path):
    rec = _tiny_set(tmp_path, n_content=4, levels=(0, 2), size=32)
    m = DeepIQA(weighted=True, max_epochs=1, patience=None, val_fraction=0.25, n_patches=2, device="cpu")
    m.fit(rec)
    assert m.n_val_ == 2 and m.n_train_ == 6 and len(m.val_contents_) == 1
    h = m.history_
    assert np.isfinite(h["val_metric"]).all()


def test_registered_methods_build_with_the_run_context(tmp_path):
    from benchmark.methods.base import RunContext, build_method, get_method_info

    expected = {"kang_cnn": ("NR", "NR deep"), "deepiqa_nr_patchwise": ("NR", "NR deep"),
                "deepiqa_nr_weighted": ("NR", "NR deep"), "deepiqa_fr_weighted": ("FR", "FR"),
                "kim_cnn": ("NR", "NR deep"), "yang_siamese": ("NR", "NR deep")}
    ctx = RunContext(quick=True, seed=3, device="cpu", work_dir=tmp_path, progress=False)
    for name, (kind, group) in expected.items():
        info = get_method_info(name)
        assert (info.kind, info.group, info.suite, info.trainable) == (kind, group, "deep", True)
        assert info.requires == ("torch",) and info.higher_better
        m = build_method(name, ctx)
        assert m.quick and m.seed == 3 and m.work_dir == tmp_path and m.device == "cpu"
        assert m.name == name and m.kind == kind
    fr = build_method("deepiqa_fr_weighted", ctx)
    assert fr.fr and fr.weighted and fr.fusion == "concat3"


@pytest.mark.parametrize("name,weighted,fusion", [
    ("deepiqa_fr_patchwise", False, "concat3"), ("deepiqa_fr_patchwise_diff", False, "diff"),
    ("deepiqa_fr_patchwise_concat", False, "concat"), ("deepiqa_fr_weighted_diff", True, "diff"),
    ("deepiqa_fr_weighted_concat", True, "concat")])
def test_diqam_fr_and_the_table_iv_fusions_are_registered(name, weighted, fusion):
    from benchmark.methods.base import RunContext, build_method, get_method_info

    info = get_method_info(name)
    assert (info.kind, info.group, info.trainable, info.cpu_default) == ("FR", "FR", True, False)
    m = build_method(name, RunContext(quick=True, device="cpu"))
    assert (m.fr, m.weighted, m.fusion, m.name) == (True, weighted, fusion, name)
    width = {"diff": 512, "concat": 1024, "concat3": 1536}[fusion]
    assert m._build_network(m.hyper_parameters()).quality[0].in_features == width


def test_np32_random_test_patches_per_image_beside_all_grid_patches(tmp_path, monkeypatch):
    import shutil

    from deep.models import bosse

    rec = _tiny_set(tmp_path, n_content=2, levels=(0, 2), size=64)
    m = DeepIQA(weighted=False, max_epochs=1, patience=None, val_fraction=0, n_patches=2, device="cpu", seed=0)
    m.fit(rec)
    seen: list[tuple[int, int]] = []
    orig = bosse.sample_positions

    def spy(h, w, size, n, sampling, rng):
        pos = orig(h, w, size, n, sampling, rng)
        seen.append((sampling, len(pos), pos.tobytes()))
        return pos

    monkeypatch.setattr(bosse, "sample_positions", spy)
    grid = m.predict(rec)
    assert {(s, n) for s, n, _ in seen} == {("grid", 4)}              # every non-overlapping patch (default)
    seen.clear()
    np32 = m.set_params(n_predict_patches=32).predict(rec)             # same trained model, the papers' N_p = 32
    assert {(s, n) for s, n, _ in seen} == {("random", 32)}
    assert len({p for _, _, p in seen}) == len(rec)                    # each image its own random patches
    assert not np.allclose(grid, np32) and np.all(np.isfinite(np32))
    # the draw depends on the image (its bytes), not on its place in the records or its path
    np.testing.assert_array_equal(m.predict(rec.iloc[::-1].reset_index(drop=True))[::-1], np32)
    copy = tmp_path / "copy.png"
    shutil.copy(rec["image"].iloc[1], copy)
    moved = rec.iloc[[1]].assign(image=str(copy))
    assert m.predict(moved)[0] == np32[1]


def test_np32_rows_reuse_the_training_run_of_their_all_patches_row(tmp_path):
    """``deepiqa_*_np32``: the same network as the N_p = all row (its checkpoint, no second
    training), predictions from 32 random patches per image."""
    from benchmark.methods.base import RunContext, build_method, get_method_info

    rec = _tiny_set(tmp_path, n_content=2, levels=(0, 2), size=64)
    info = get_method_info("deepiqa_nr_patchwise_np32")
    assert (info.kind, info.group, info.cpu_default, info.label) == ("NR", "NR deep", False, "DIQaM-NR (N_p = 32)")
    from benchmark.runner import checkpoint_dir

    def ctx(name):           # the runner's context for this method, plan and split
        return RunContext(quick=True, device="cpu", seed=0,
                          work_dir=checkpoint_dir(tmp_path, get_method_info(name), "within", "d", "d", "r00"))

    base = build_method("deepiqa_nr_patchwise", ctx("deepiqa_nr_patchwise"))
    np32 = build_method("deepiqa_nr_patchwise_np32", ctx("deepiqa_nr_patchwise_np32"))
    assert np32.n_predict_patches == 32 and base.n_predict_patches is None
    assert np32.work_dir == base.work_dir                      # the base row's checkpoint folder
    base.fit(rec)
    np32.fit(rec)
    assert base.train_result_.epochs_run >= 1
    assert np32.train_result_.epochs_run == 0 and np32.train_result_.resumed_from is not None
    for a, b in zip(base.model_.state_dict().values(), np32.model_.state_dict().values()):
        assert torch.equal(a, b)
    p_all, p32 = base.predict(rec), np32.predict(rec)
    assert np.all(np.isfinite(p32)) and not np.allclose(p_all, p32)
