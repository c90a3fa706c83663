"""deep.trainer / deep.patches: splits, patch sampling, checkpoints + resume, early stopping, seeds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from features.imageio import ImageError  # noqa: E402
from deep import patches as P  # noqa: E402
from deep.trainer import (CHECKPOINT_BEST, CHECKPOINT_LATEST, TrainConfig, Trainer, adam,  # noqa: E402
                          content_split, sgd)




def _write_images(tmp_path, n=6, size=48, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths, scores = [], []
    for i in range(n):
        sigma = 5 + 12 * i
        base = np.tile(np.linspace(60, 190, size), (size, 1))
        img = np.clip(base[..., None] + rng.normal(0, sigma, (size, size, 3)), 0, 255).astype(np.uint8)
        p = tmp_path / f"img{i}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
        scores.append(1.0 - i / n)
    return paths, np.array(scores)


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.drop = torch.nn.Dropout(0.5)
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x):
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.fc(self.drop(h)).squeeze(-1)


def patch_l1(model, batch):
    y = model(batch["patches"])
    q = P.segment_mean(y, batch["image_index"], len(batch["counts"]))
    return (q - batch["target"]).abs().mean()


def _datasets(paths, scores, seed=0):
    tr = P.PatchDataset(paths[:4], scores[:4], patch_size=16, n_patches=4, seed=seed)
    va = P.PatchDataset(paths[4:], scores[4:], patch_size=16, n_patches=4, seed=seed, fixed=True)
    return tr, va


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_content_split_is_disjoint_and_from_given_rows_only():
    content = np.repeat([f"c{k}" for k in range(10)], 7)
    tr, va = content_split(content, val_fraction=0.2, seed=3)
    assert len(np.intersect1d(tr, va)) == 0
    assert len(tr) + len(va) == len(content)
    assert set(content[tr]).isdisjoint(set(content[va]))
    assert len(set(content[va])) == 2
    df = pd.DataFrame({"content": content})
    tr2, va2 = content_split(df, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    tr3, va3 = content_split(["a"] * 5, 0.2)            # one content: no validation possible
    assert len(va3) == 0 and len(tr3) == 5


def test_patch_positions():
    rng = np.random.default_rng(0)
    pos = P.random_positions(40, 50, 32, 100, rng)
    assert pos[:, 0].max() <= 8 and pos[:, 1].max() <= 18 and pos.min() >= 0
    g = P.grid_positions(70, 100, 32)
    assert g.tolist() == [[0, 0], [0, 32], [0, 64], [32, 0], [32, 32], [32, 64]]
    sub = P.sample_positions(70, 100, 32, 4, "grid", np.random.default_rng(1))
    assert len(sub) == 4 and len({tuple(x) for x in sub}) == 4
    assert {tuple(x) for x in sub} <= {tuple(x) for x in g}
    with pytest.raises(ValueError):
        P.random_positions(20, 50, 32, 1, rng)
    img = np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7)
    pt = P.extract_patches(img, np.array([[1, 2]]), 3)
    np.testing.assert_array_equal(pt[0], img[:, 1:4, 2:5])


def test_patch_dataset_resamples_per_epoch_and_fixed_does_not(tmp_path):
    paths, scores = _write_images(tmp_path, n=2)
    ds = P.PatchDataset(paths, scores, refs=paths, patch_size=16, n_patches=3, seed=0)
    a = ds[0]
    assert a["patches"].shape == (3, 3, 16, 16) and torch.equal(a["patches"], a["ref"])
    assert float(a["target"]) == pytest.approx(scores[0])
    again = ds[0]
    assert torch.equal(a["patches"], again["patches"])          # pure function of (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(a["patches"], ds[0]["patches"])
    fixed = P.PatchDataset(paths, scores, patch_size=16, n_patches=3, seed=0, fixed=True)
    f0 = fixed[0]["patches"]
    fixed.set_epoch(5)
    assert torch.equal(f0, fixed[0]["patches"])
    batch = P.collate_patches([ds[0], ds[1]])
    assert batch["patches"].shape == (6, 3, 16, 16)
    assert batch["image_index"].tolist() == [0, 0, 0, 1, 1, 1]
    grid = P.PatchDataset(paths, scores, patch_size=16, n_patches=None, sampling="grid")
    assert grid[0]["patches"].shape[0] == 9


def test_small_image_and_missing_file_raise_named_errors(tmp_path):
    paths, scores = _write_images(tmp_path, n=1, size=20)
    ds = P.PatchDataset(paths, scores, patch_size=32, skip_errors=False)
    with pytest.raises(ImageError, match="img0.png.*smaller"):
        ds[0]
    lenient = P.PatchDataset(paths, scores, patch_size=32)          # default: record and skip
    item = lenient[0]
    assert item["error"][0] == paths[0] and "smaller" in lenient.errors[paths[0]]
    assert P.collate_patches([item]) == {"errors": [item["error"]]}
    bad = P.probe_images(paths + [str(tmp_path / "nope.png")], 32)
    assert "smaller" in bad[paths[0]] and "not found" in bad[str(tmp_path / "nope.png")]


def test_segment_mean():
    v = torch.tensor([1.0, 3.0, 10.0, 20.0, 30.0])
    seg = torch.tensor([0, 0, 1, 1, 1])
    np.testing.assert_allclose(P.segment_mean(v, seg, 2).numpy(), [2.0, 20.0])


def _fit(paths, scores, work_dir, max_epochs, seed=0, resume=True):
    torch.manual_seed(seed)
    model = TinyNet()
    tr, va = _datasets(paths, scores, seed)
    cfg = TrainConfig(max_epochs=max_epochs, patience=None, batch_size=2, collate_fn=P.collate_patches,
                      seed=seed, work_dir=work_dir, resume=resume, device="cpu")
    res = Trainer(model, patch_l1, adam(1e-2), cfg, run_key="k").fit(tr, va)
    return model, res


def test_seeds_are_deterministic(tmp_path):
    paths, scores = _write_images(tmp_path)
    m1, r1 = _fit(paths, scores, None, 3)
    m2, r2 = _fit(paths, scores, None, 3)
    assert torch.equal(_params(m1), _params(m2))
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]
    m3, _ = _fit(paths, scores, None, 3, seed=1)
    assert not torch.equal(_params(m1), _params(m3))


def test_checkpoint_resume_gives_the_same_state(tmp_path):
    paths, scores = _write_images(tmp_path)
    full, rfull = _fit(paths, scores, tmp_path / "full", 4)
    _, rpart = _fit(paths, scores, tmp_path / "part", 2)
    assert (tmp_path / "part" / CHECKPOINT_LATEST).is_file() and (tmp_path / "part" / CHECKPOINT_BEST).is_file()
    resumed, rres = _fit(paths, scores, tmp_path / "part", 4)
    assert rres.resumed_from == 1 and rres.epochs_run == 2
    assert [h["train_loss"] for h in rres.history] == pytest.approx([h["train_loss"] for h in rfull.history],
                                                                     rel=1e-6)
    assert torch.allclose(_params(full), _params(resumed), atol=1e-7)
    assert rres.best_epoch == rfull.best_epoch
    # A finished run is not trained again; a different run key is not resumed.
    _, again = _fit(paths, scores, tmp_path / "part", 4)
    assert again.epochs_run == 0
    model = TinyNet()
    tr, va = _datasets(paths, scores)
    cfg = TrainConfig(max_epochs=1, patience=None, batch_size=2, collate_fn=P.collate_patches,
                      work_dir=tmp_path / "part", device="cpu")
    other = Trainer(model, patch_l1, adam(1e-2), cfg, run_key="other").fit(tr, va)
    assert other.resumed_from is None and other.epochs_run == 1


def test_early_stopping_stops_and_restores_best(tmp_path):
    paths, scores = _write_images(tmp_path)
    tr, va = _datasets(paths, scores)
    calls = iter([5.0, 4.0, 4.5, 4.6, 4.7, 1.0, 0.5])
    metric = lambda model, loader, device: next(calls)  # noqa: E731
    model = TinyNet()
    cfg = TrainConfig(max_epochs=20, patience=3, batch_size=2, collate_fn=P.collate_patches, device="cpu")
    res = Trainer(model, patch_l1, sgd(1e-3), cfg, val_metric=metric).fit(tr, va)
    assert res.stopped_early and res.epochs_run == 5
    assert res.best_epoch == 1 and res.best_metric == 4.0


def test_training_reduces_loss(tmp_path):
    paths, scores = _write_images(tmp_path)
    tr, va = _datasets(paths, scores)
    model = TinyNet()
    cfg = TrainConfig(max_epochs=25, patience=None, batch_size=4, collate_fn=P.collate_patches, device="cpu")
    res = Trainer(model, patch_l1, adam(3e-2), cfg).fit(tr)
    losses = [h["train_loss"] for h in res.history]
    assert min(losses[-5:]) < 0.5 * losses[0]
    assert res.best_epoch == len(losses) - 1               # no validation: the last epoch is kept


def test_failed_images_are_skipped_and_reported_even_from_worker_processes(tmp_path):
    from PIL import Image

    paths, scores = _write_images(tmp_path, n=4)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    ds = P.PatchDataset(paths + [str(tiny)], np.append(scores, 0.5), patch_size=16, n_patches=2)
    cfg = TrainConfig(max_epochs=1, patience=None, batch_size=5, collate_fn=P.collate_patches, device="cpu",
                      num_workers=1)
    res = Trainer(TinyNet(), patch_l1, adam(1e-3), cfg).fit(ds)
    assert res.items_seen == 4 and "smaller" in ds.errors[str(tiny)]
