"""deep.finetune: Kim et al. (2017) fine-tuning through the shared trainer: loss goes down, resume, contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402

from deep._utils import derived_rng  # noqa: E402
from deep.features import crop_corners  # noqa: E402
from deep.finetune import FineTunedCNN, HeldCrops, RegressionCNN, crops_per_image, decode_images  # noqa: E402
from deep.trainer import CHECKPOINT_BEST, CHECKPOINT_LATEST  # noqa: E402
from features.cache import file_digest  # noqa: E402




@pytest.fixture(scope="module")
def records(tmp_path_factory, astronaut_small):
    """8 images of 80x80 (4 contents x 2 noise levels) with a DMOS-like score (higher = noisier)."""
    root = tmp_path_factory.mktemp("ft")
    rng = np.random.default_rng(0)
    rows = []
    for c in range(4):
        base = astronaut_small[c * 12:c * 12 + 80, c * 12:c * 12 + 80].astype(float)
        for level in (0, 1):
            img = np.clip(base + rng.normal(0, 1 + 30 * level, base.shape), 0, 255).astype(np.uint8)
            p = root / f"c{c}_l{level}.png"
            Image.fromarray(img).save(p)
            rows.append({"image": str(p), "score": 10.0 + 20.0 * level + c, "higher_better": False,
                         "content": f"c{c}"})
    return pd.DataFrame(rows)


def _model(**kw) -> FineTunedCNN:
    params = dict(weights="random", head="pool", crop_size=64, n_train_crops=8, batch_size=16,
                  n_test_crops=3, lr=1e-2, epochs=1, val_fraction=0.0, device="cpu")
    params.update(kw)
    return FineTunedCNN("alexnet", **params)


def _train_loss(m: FineTunedCNN, model: RegressionCNN, rec: pd.DataFrame) -> float:
    """Eval-mode L1 loss over every training crop (the fixed crops of the run)."""
    y = (-rec["score"].to_numpy() - m.y_min_) / (m.y_max_ - m.y_min_)
    images, _ = decode_images(list(rec["image"]), m.size)
    n = m.train_crops_[""]
    corners = [crop_corners(*im.shape[1:], m.size, n, derived_rng(m.seed, file_digest(p), 2))
               for im, p in zip(images, rec["image"])]
    ds = HeldCrops(images, corners, y.astype(np.float32), m.size)
    model.eval()
    with torch.no_grad():
        return float(m._loss(model, ds.__getitems__(list(range(len(ds))))))


def test_one_epoch_lowers_training_loss(records):
    m = _model()
    initial = m.build_model()              # same seed: the network fit starts from
    m.fit(records)
    before = _train_loss(m, initial, records)
    after = _train_loss(m, m.model_, records)
    assert m.train_result_.epochs_run == 1
    assert after < 0.95 * before, (before, after)
    # targets were normalised to [0, 1] from the higher-is-better score (DMOS negated)
    assert (m.y_min_, m.y_max_) == (-33.0, -10.0)
    pred = m.predict(records)
    assert pred.shape == (len(records),) and np.all(np.isfinite(pred))


def test_resume_from_checkpoint(records, tmp_path):
    wd = tmp_path / "run"
    first = _model(epochs=1, work_dir=wd).fit(records)
    assert (wd / CHECKPOINT_LATEST).is_file() and (wd / CHECKPOINT_BEST).is_file()
    resumed = _model(epochs=2, work_dir=wd).fit(records)
    assert resumed.train_result_.resumed_from == 0 and resumed.train_result_.epochs_run == 1
    assert len(resumed.train_result_.history) == 2
    straight = _model(epochs=2, work_dir=tmp_path / "other").fit(records)
    for (k, a), b in zip(resumed.model_.state_dict().items(), straight.model_.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    np.testing.assert_allclose(resumed.predict(records), straight.predict(records), rtol=1e-5)
    # a finished run is not trained again
    again = _model(epochs=2, work_dir=wd).fit(records)
    assert again.train_result_.epochs_run == 0
    assert not np.allclose(first.predict(records), resumed.predict(records))


def test_validation_split_is_content_disjoint(records):
    m = _model(val_fraction=0.25, patience=1, epochs=1).fit(records)
    content = dict(zip(records["image"], records["content"]))
    tr = {content[p] for p in m.train_images_}
    va = {content[p] for p in m.val_images_}
    assert va and tr and not (tr & va)
    assert np.isfinite(m.train_result_.history[0]["val_metric"])


def test_failures_and_defaults(records, tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8) + 9).save(small)
    rec = pd.concat([records, pd.DataFrame([{"image": str(small), "score": 5.0, "higher_better": False,
                                             "content": "s"}])], ignore_index=True)
    m = _model().fit(rec)
    assert "smaller than the 64x64" in m.failures_[str(small)]
    pred = m.predict(rec)
    assert np.isnan(pred[-1]) and np.all(np.isfinite(pred[:-1])) and str(small) in m.failures_
    d = FineTunedCNN("resnet50", "random")
    assert (d.lr, d.batch_size, d.dropout, d.loss, d.n_test_crops) == (1e-3, 48, 0.5, "l1", 25)
    head = RegressionCNN(__import__("deep.backbones", fromlist=["x"]).build_backbone("mobilenet_v2", "random"),
                         "mobilenet_v2")
    assert isinstance(head.net.classifier[0], torch.nn.Dropout) and head.net.classifier[0].p == 0.5
    assert head.net.classifier[1].out_features == 1


def test_training_crop_count_follows_the_dataset(records, monkeypatch):
    """Kim et al.: 100 crops per image on LIVE-sized databases, 30 on TID2013, whatever the split size."""
    assert crops_per_image("tid2013") == 30 and crops_per_image("live") == 100 and crops_per_image(None) == 100
    calls = []
    import deep.finetune as ft

    real = ft.crop_corners
    monkeypatch.setattr(ft, "crop_corners", lambda h, w, size, n, rng: calls.append(n) or real(h, w, size, n, rng))
    rec = records.assign(dataset=["tid2013"] * 4 + ["live"] * 4)
    m = _model(n_train_crops=None, epochs=0).fit(rec)          # epochs=0: the data set-up only
    assert m.train_crops_ == {"tid2013": 30, "live": 100}
    assert sorted(calls) == [30] * 4 + [100] * 4


def test_images_are_decoded_once(records, monkeypatch):
    """Training holds each image decoded once (uint8) and cuts its crops by slicing, every epoch."""
    import deep.finetune as ft

    count = {"n": 0}
    real = ft.load_image

    def counting(path):
        count["n"] += 1
        return real(path)

    monkeypatch.setattr(ft, "load_image", counting)
    m = _model(epochs=2, val_fraction=0.25, patience=None).fit(records)
    assert count["n"] == len(records)                 # two epochs, 8 crops each, validation: one decode per image
    assert m.train_result_.items_seen == 2 * 8 * len(m.train_images_)      # items are crops
    assert m.held_bytes_ == len(records) * 80 * 80 * 3


def test_held_crops_are_views_of_the_images():
    img = torch.arange(3 * 10 * 12, dtype=torch.int64).reshape(3, 10, 12).to(torch.uint8)
    ds = HeldCrops([img, img.flip(1)], [np.array([[0, 0], [2, 5]]), np.array([[1, 1]])], [0.5, 0.25], 4)
    b = ds.__getitems__([1, 2])
    assert b["patches"].shape == (2, 3, 4, 4) and b["patches"].dtype == torch.uint8
    assert torch.equal(b["patches"][0], img[:, 2:6, 5:9]) and torch.equal(b["patches"][1], img.flip(1)[:, 1:5, 1:5])
    assert b["target"].tolist() == [0.5, 0.25] and b["index"].tolist() == [0, 1] and len(ds) == 3


def test_images_left_on_disk_give_the_same_training(records):
    """Above hold_bytes (on a CPU) images are decoded again per batch: same pixels, same weights."""
    held = _model(hold_bytes=None).fit(records)
    disk = _model(hold_bytes=0).fit(records)
    assert held.hold_ and held.held_bytes_ == len(records) * 80 * 80 * 3
    assert not disk.hold_ and disk.held_bytes_ == 0
    for (k, a), b in zip(held.model_.state_dict().items(), disk.model_.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
