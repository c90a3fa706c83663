"""Yang et al. 2019 Siamese NR-IQA: ranking loss (Eq. 1-2), same-content batches, attribute heads."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep_helpers import tiny_noise_set  # noqa: E402

from scipy.stats import spearmanr  # noqa: E402

from deep.losses import euclidean_loss, ranking_hinge_loss  # noqa: E402
from deep.models.yang import ATTRIBUTE_NAMES, YangNet, YangSiamese, yang_loss  # noqa: E402
from deep.patches import GroupedBatchSampler  # noqa: E402






def test_ranking_loss_eq_1_2_hand_computed():
    y = torch.tensor([0.5, 0.45, 0.3])
    t = torch.tensor([1.0, 0.0, 2.0])
    # ordered pairs (i, j), delta = +1 if t_i >= t_j else -1, term max(0, 0.1 - delta (y_i - y_j)):
    # (0,1) 0.05  (1,0) 0.05  (0,2) 0.3  (2,0) 0.3  (1,2) 0.25  (2,1) 0.25 -> 1.2 / (2 * 3)
    assert ranking_hinge_loss(y, t, margin=0.1).item() == pytest.approx(0.2)
    # same-content pairs only: (0,1), (1,0) -> 0.1 / 6
    g = torch.tensor([0, 0, 1])
    assert ranking_hinge_loss(y, t, margin=0.1, groups=g).item() == pytest.approx(0.1 / 6)
    # correctly ordered with more than the margin: no loss
    assert ranking_hinge_loss(torch.tensor([0.5, 0.2, 0.9]), t, margin=0.1).item() == 0.0
    # Euclidean loss (Caffe): 1/(2N) sum ||y - t||^2
    assert euclidean_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(1.25)


def test_combined_loss_weights_mos_twice_the_attributes():
    q, t = torch.tensor([0.2, 0.8]), torch.tensor([0.0, 1.0])
    a, at = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2)
    mos = euclidean_loss(q, t) + ranking_hinge_loss(q, t, 0.05)
    total = yang_loss(q, t, 0.05, None, a, at, lambda_mos=2.0, lambda_attr=1.0)
    assert total.item() == pytest.approx(2 * mos.item() + 0.25)


def test_grouped_batches_hold_same_content_pairs():
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2)
    sampler = GroupedBatchSampler(groups, groups_per_batch=2, per_group=4, seed=0)
    batches = sampler(None, 0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(10))                                # every image once per epoch
    for b in batches:
        _, counts = np.unique(groups[b], return_counts=True)
        assert counts.max() >= 2 or len(b) == 1                   # pairs of one content
        assert len(set(groups[b])) <= 2
    assert batches != sampler(None, 1) and batches == sampler(None, 0)


def test_network_outputs_score_and_attributes():
    net = YangNet("kim", n_attributes=len(ATTRIBUTE_NAMES))
    y, a = net(torch.rand(3, 3, 32, 32))
    assert y.shape == (3,) and a.shape == (3, 4)
    y, a = YangNet("kim", n_attributes=0)(torch.rand(2, 3, 32, 32))
    assert a is None
    with pytest.raises(ValueError, match="core"):
        YangNet("ilgnet")


def test_overfits_with_ranking_and_attributes(tmp_path):
    rec = tiny_noise_set(tmp_path)
    m = YangSiamese(core="kim", patch_size=32, n_patches=2, batch_size=6, max_epochs=30, patience=None,
                    val_fraction=0, lr=1e-3, device="cpu", seed=0)
    m.fit(rec)
    assert m.pairs_ == "same content"
    assert m.attribute_mean_.shape == (4,) and np.all(np.isfinite(m.attribute_std_))
    loss = m.history_["train_loss"].to_numpy()
    assert loss[-1] < 0.5 * loss[0]
    pred = m.predict(rec)
    assert np.all(np.isfinite(pred))
    assert spearmanr(pred, -rec["score"]).statistic > 0.9


def test_without_content_groups_uses_all_pairs_and_quick_preset(tmp_path):
    rec = tiny_noise_set(tmp_path, levels=(0, 2))
    rec["content"] = [f"u{i}" for i in range(len(rec))]          # authentic-like: every image its own content
    m = YangSiamese(quick=True, attributes=False, device="cpu").fit(rec)
    assert m.pairs_ == "all pairs in a batch"
    hp = m.hyper_parameters_
    assert hp["core"] == "kim" and hp["max_epochs"] == 2 and len(m.history_) == 2
    assert np.all(np.isfinite(m.predict(rec)))


def test_backbone_core_from_deep_backbones():
    pytest.importorskip("torchvision")
    net = YangNet("mobilenet_v2", n_attributes=4, weights="random", seed=0)
    y, a = net(torch.rand(2, 3, 64, 64))                        # [0, 1] RGB, ImageNet-normalised inside
    assert y.shape == (2,) and a.shape == (2, 4)
    assert net.score.in_features == 1280


def test_training_is_patch_wise_each_patch_inherits_its_image_score():
    """Sec. 3.3: every patch is a sample with its image's score; ranking pairs join patches of two images."""
    m = YangSiamese(core="kim", attributes=False, device="cpu")
    m.pairs_ = "all pairs in a batch"
    hp = m.hyper_parameters()

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([0.1, 0.5, 0.4, 0.9]), None

    batch = {"patches": torch.zeros(4, 3, 8, 8), "image_index": torch.tensor([0, 0, 1, 1]),
             "counts": torch.tensor([2, 2]), "index": torch.tensor([0, 1]), "target": torch.tensor([0.2, 0.8])}
    # Euclidean over the 4 patches: (0.01 + 0.09 + 0.16 + 0.01) / (2 * 4) = 0.03375
    # ranking (margin 0.05) over patches of different images: only (0.5, 0.4) violates, twice: 0.3 / 8 = 0.0375
    # lambda_MOS = 2 -> 0.1425 (image-level training on crop means would give 0.01625)
    assert m._loss(hp)(Fixed(), batch).item() == pytest.approx(0.1425)
