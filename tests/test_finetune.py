"""deep.finetune: Kim et al. (2017) fine-tuning through the shared trainer: loss goes down, resume, contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402

from deep.finetune import FineTunedCNN, RegressionCNN, _TrainCrops, crops_per_image  # noqa: E402
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
    params = dict(weights="random", head="pool", crop_size=64, n_train_crops=8, crops_per_item=4, batch_size=16,
                  n_test_crops=3, lr=1e-2, epochs=1, val_fraction=0.0, device="cpu")
    params.update(kw)
    return FineTunedCNN("alexnet", **params)


def _train_loss(m: FineTunedCNN, model: RegressionCNN, rec: pd.DataFrame) -> float:
    """Eval-mode L1 loss over every training crop (the fixed crops of the run)."""
    y = (-rec["score"].to_numpy() - m.y_min_) / (m.y_max_ - m.y_min_)
    ds = _TrainCrops(list(rec["image"]), [file_digest(p) for p in rec["image"]], y, m.n_train_crops_, 4, m.size,
                     m.seed, False)
    model.eval()
    losses = []
    with torch.no_grad():
        for k in range(len(ds)):
            item = ds[k]
            losses.append(float(m._loss(model, item)))
    return float(np.mean(losses))


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
    assert crops_per_image(2999) == 100 and crops_per_image(3000) == 30     # Kim et al.: 30 on TID2013
    d = FineTunedCNN("resnet50", "random")
    assert (d.lr, d.batch_size, d.dropout, d.loss, d.n_test_crops) == (1e-3, 48, 0.5, "l1", 25)
    head = RegressionCNN(__import__("deep.backbones", fromlist=["x"]).build_backbone("mobilenet_v2", "random"),
                         "mobilenet_v2")
    assert isinstance(head.net.classifier[0], torch.nn.Dropout) and head.net.classifier[0].p == 0.5
    assert head.net.classifier[1].out_features == 1
