"""NIQE (features.niqe): calibration against the authors' release, the AGGD fit, the pristine model."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gamma

from features import niqe as N
from features.imageio import ImageError, load_image


def test_reproduces_release_row_within_one_percent(calibration_pairs):
    """``niqe`` row of results_official.csv (the release's computequality.m with modelparameters.mat)."""
    root, official = calibration_pairs
    for name in official.columns:
        got = N.niqe(load_image(root / "dist_dir" / name))
        want = float(official.loc["niqe", name])
        assert got == pytest.approx(want, rel=0.01), name


def test_release_model_data():
    m = N.load_pristine_model()
    assert m.mu.shape == (36,) and m.cov.shape == (36, 36) and m.block_size == 96
    np.testing.assert_array_equal(m.cov, m.cov.T)
    assert np.linalg.eigvalsh(m.cov).min() > 0
    # two values of mu_prisparam as printed by MATLAB (format long) from modelparameters.mat
    assert m.mu[0] == pytest.approx(2.6013, abs=1e-4) and m.mu[18] == pytest.approx(2.9695, abs=1e-4)
    assert m.digest == N.PristineModel(m.mu.copy(), m.cov.copy()).digest


def _aggd_loop(vec):
    """A literal transcription of estimateaggdparam.m for one vector."""
    gam = np.arange(9801) * 0.001 + 0.2
    r_gam = gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))
    left = np.sqrt(np.mean(vec[vec < 0] ** 2))
    right = np.sqrt(np.mean(vec[vec > 0] ** 2))
    g = left / right
    rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec ** 2)
    rn = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    alpha = gam[np.argmin((r_gam - rn) ** 2)]
    k = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * k, right * k


def test_vectorised_aggd_matches_the_release_loop():
    rng = np.random.default_rng(0)
    rows = np.stack([rng.standard_normal(500), rng.laplace(size=500), rng.uniform(-1, 2, 500),
                     np.where(rng.random(500) < 0.5, 0.0, rng.standard_normal(500))])
    a, bl, br = N._aggd(rows)
    for i, row in enumerate(rows):
        ra, rbl, rbr = _aggd_loop(row)
        assert a[i] == pytest.approx(ra, abs=1e-12)
        assert (bl[i], br[i]) == pytest.approx((rbl, rbr), rel=1e-12)
    assert a[0] == pytest.approx(2.0, abs=0.3)          # Gaussian
    assert a[1] == pytest.approx(1.0, abs=0.2)          # Laplacian


def test_features_layout_and_sharpness(astronaut_small):
    img = np.kron(astronaut_small, np.ones((2, 2, 1), dtype=np.uint8))        # 256 x 256: 2 x 2 blocks
    feats, sharp = N.block_features(img)
    assert feats.shape == (4, 36) and sharp.shape == (4,) and len(N.FEATURE_NAMES) == 36
    assert np.all(np.isfinite(feats)) and np.all(sharp > 0)
    assert N.niqe(img) > 0
    # column-major block order (blkproc, then (:)): the second block is the bottom-left one
    a = np.arange(4 * 6).reshape(4, 6).astype(float)
    b = N._blocks(a, 2)
    assert b.shape == (6, 2, 2) and b[1][0, 0] == a[2, 0] and b[2][0, 0] == a[0, 2]


def test_flat_image_and_small_image_are_clear_errors():
    with pytest.raises(ImageError, match="two 96x96 blocks"):
        N.niqe(np.zeros((100, 150, 3), np.uint8) + np.arange(150, dtype=np.uint8)[None, :, None])
    with pytest.raises(ImageError, match="constant"):
        N.niqe(np.full((200, 200), 77, np.uint8))


def test_fit_pristine_model_keeps_the_sharp_blocks(astronaut_small, tmp_path):
    from PIL import Image

    big = np.kron(astronaut_small, np.ones((2, 2, 1), dtype=np.uint8))
    imgs = [big, big[::-1].copy(), big[:, ::-1].copy()]
    everything = N.fit_pristine_model(imgs, sharpness_threshold=0.0)
    stacked = np.vstack([N.block_features(i)[0] for i in imgs])
    np.testing.assert_allclose(everything.mu, stacked.mean(0), rtol=1e-12)
    np.testing.assert_allclose(everything.cov, np.cov(stacked, rowvar=False), rtol=1e-10)
    sharp_only = N.fit_pristine_model(imgs)              # threshold 0.75 of each image's sharpest block
    kept = []
    for i in imgs:
        f, s = N.block_features(i)
        kept.append(f[s > 0.75 * s.max()])
    np.testing.assert_allclose(sharp_only.mu, np.vstack(kept).mean(0), rtol=1e-12)
    # paths work too, and a model round-trips through its text file
    p = tmp_path / "a.png"
    Image.fromarray(big).save(p)
    from_path = N.fit_pristine_model([p, p], sharpness_threshold=0.0)
    np.testing.assert_allclose(from_path.mu, N.block_features(big)[0].mean(0), rtol=1e-12)
    back = N.PristineModel.load(everything.save(tmp_path / "model.txt"))
    np.testing.assert_allclose(back.cov, everything.cov, rtol=1e-15)
    # the image scores lower against a model fitted on itself than against the release's model
    assert N.niqe(big, everything) < N.niqe(big)


def test_registered_as_training_free_lower_is_better(tmp_path, astronaut_small):
    from PIL import Image

    from benchmark.datasets.base import make_records
    from benchmark.methods import RunContext, build_method, get_method_info

    info = get_method_info("niqe")
    assert (info.kind, info.group, info.trainable, info.higher_better) == ("NR", "NR hand-crafted", False, False)
    big = np.kron(astronaut_small, np.ones((2, 2, 1), dtype=np.uint8))
    rows = []
    for k, img in enumerate([big, big[:50]]):
        p = tmp_path / f"{k}.png"
        Image.fromarray(img).save(p)
        rows.append({"image": str(p), "score": 1.0, "content": f"c{k}"})
    rec = make_records(rows, "toy")
    m = build_method("niqe", RunContext(cache_dir=tmp_path / "cache", progress=False))
    pred = m.fit(rec).predict(rec)
    assert pred[0] == pytest.approx(N.niqe(big), rel=1e-12)
    assert np.isnan(pred[1]) and "96x96" in m.failures_[rows[1]["image"]]
