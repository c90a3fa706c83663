"""deep.imagebank / deep.batches / deep.positions: decode once, cut batches by tensor indexing."""
from __future__ import annotations

import gc

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep import patches as P  # noqa: E402
from deep.batches import ImageBatches, PatchBatches  # noqa: E402
from deep.datasets import ImageDataset, PatchDataset  # noqa: E402
from deep.imagebank import ImageBank  # noqa: E402
from deep.trainer import TrainConfig, Trainer, adam  # noqa: E402
from deep_helpers import tiny_noise_set  # noqa: E402


def _images(tmp_path, n=4, sizes=None):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = sizes[i] if sizes else (40, 48)
        p = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_gather_patches_equals_the_numpy_crops():
    img = np.random.default_rng(1).integers(0, 256, (3, 30, 41), dtype=np.uint8)
    pos = np.array([[0, 0], [3, 9], [14, 25], [14, 0]])
    ours = P.gather_patches(torch.from_numpy(img), torch.from_numpy(pos[:, 0]), torch.from_numpy(pos[:, 1]), 16)
    np.testing.assert_array_equal(ours.numpy(), P.extract_patches(img, pos, 16))
    assert ours.dtype == torch.uint8 and ours.is_contiguous()


def test_bank_decodes_each_path_once_and_reports_failures(tmp_path):
    paths = _images(tmp_path, 3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    bank, fails = ImageBank.load(paths + [paths[0], str(bad)])
    assert len(bank) == 3 and list(fails) == [str(bad)] and "not a readable image" in fails[str(bad)]
    assert bank[0].shape == (3, 40, 48) and bank[0].dtype == torch.uint8
    assert bank.nbytes == 3 * 3 * 40 * 48
    np.testing.assert_array_equal(bank.ids([paths[2], paths[0]]), [2, 0])
    with pytest.raises(KeyError, match="bad.png"):
        bank.ids([str(bad)])


@pytest.mark.parametrize("sampling,n", [("random", 3), ("grid", None), ("grid", 2)])
def test_patch_batches_equal_the_disk_dataset_batches(tmp_path, sampling, n):
    paths = _images(tmp_path, 4, sizes=[(40, 48), (33, 50), (40, 48), (33, 50)])
    scores = np.array([0.1, 0.5])
    bank, _ = ImageBank.load(paths)
    refs = [paths[2], paths[3]]
    for epoch in (0, 3):
        mem = PatchBatches(bank, bank.ids(paths[:2]), scores, ref_ids=bank.ids(refs), patch_size=16, n_patches=n,
                           sampling=sampling, seed=5, flip=True, batch_size=2, shuffle=False)
        disk = PatchDataset(paths[:2], scores, refs=refs, patch_size=16, n_patches=n, sampling=sampling, seed=5,
                            flip=True)
        disk.set_epoch(epoch)
        ours = next(mem.iter_batches(epoch))
        theirs = P.collate_patches([disk[0], disk[1]])
        for key in ("patches", "ref", "image_index", "counts", "index", "target"):
            torch.testing.assert_close(ours[key], theirs[key], msg=key)


def test_image_batches_equal_the_disk_dataset_items(tmp_path):
    paths = _images(tmp_path, 3)
    bank, _ = ImageBank.load(paths)
    for crop in (None, (24, 32)):
        mem = ImageBatches(bank, bank.ids(paths), [0.0, 0.5, 1.0], flip=True, crop=crop, seed=2, batch_size=3,
                           shuffle=False)
        disk = ImageDataset(paths, [0.0, 0.5, 1.0], flip=True, crop=crop, seed=2)
        disk.set_epoch(4)
        ours = next(mem.iter_batches(4))
        torch.testing.assert_close(ours["image"], P.collate_images([disk[i] for i in range(3)])["image"])


def test_epoch_order_is_a_function_of_seed_and_epoch_and_covers_every_item(tmp_path):
    paths = _images(tmp_path, 4)
    bank, _ = ImageBank.load(paths)
    src = PatchBatches(bank, np.arange(4).repeat(3), np.linspace(0, 1, 12), patch_size=16, n_patches=2,
                       batch_size=5, seed=1)
    b0 = src.batches_of(0)
    assert sorted(i for b in b0 for i in b) == list(range(12)) and [len(b) for b in b0] == [5, 5, 2]
    assert b0 == src.batches_of(0) and b0 != src.batches_of(1)
    fixed = PatchBatches(bank, np.arange(4), np.zeros(4), patch_size=16, n_patches=2, batch_size=3, fixed=True)
    assert fixed.batches_of(0) == fixed.batches_of(7) == [[0, 1, 2], [3]]
    torch.testing.assert_close(next(fixed.iter_batches(0))["patches"], next(fixed.iter_batches(9))["patches"])


def test_trainer_runs_a_batch_source_and_records_validation_extras_and_units(tmp_path):
    paths = _images(tmp_path, 4)
    bank, _ = ImageBank.load(paths)
    tr = PatchBatches(bank, [0, 1, 2], [0.0, 0.5, 1.0], patch_size=16, n_patches=3, batch_size=2)
    va = PatchBatches(bank, [3], [0.2], patch_size=16, n_patches=3, batch_size=2, fixed=True)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 1), torch.nn.Flatten(0))

    def loss(m, batch):
        return (P.segment_mean(m(batch["patches"]), batch["image_index"], len(batch["counts"]))
                - batch["target"]).abs().mean()

    def metric(m, loader, device):
        return {"metric": 1.0, "val_extra": 2.0}

    res = Trainer(model, loss, adam(1e-3), TrainConfig(max_epochs=2, patience=None, device="cpu"),
                  val_metric=metric).fit(tr, va)
    assert res.items_seen == 6 and res.units_seen == 18 and res.train_seconds > 0
    assert [h["val_extra"] for h in res.history] == [2.0, 2.0]
    assert [h["train_units"] for h in res.history] == [9, 9]


def test_fit_holds_the_decoded_images_only_while_training(tmp_path):
    from deep.models.kang import KangCNN

    rec = tiny_noise_set(tmp_path, levels=(0, 2))
    m = KangCNN(quick=True, device="cpu", max_epochs=1).fit(rec)
    assert m.bank_bytes_ == len(rec) * 64 * 64 * 2            # one float16 grey channel per image
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is ImageBank]


def test_kept_validation_patches_let_the_bank_release_the_images(tmp_path):
    paths = _images(tmp_path, 3)
    bank, _ = ImageBank.load(paths)
    kw = dict(patch_size=16, n_patches=3, batch_size=2, fixed=True, seed=4)
    plain = PatchBatches(bank, [1, 2], [0.2, 0.4], ref_ids=[0, 0], **kw)
    kept = PatchBatches(bank, [1, 2], [0.2, 0.4], ref_ids=[0, 0], keep_patches=True, **kw)
    assert kept.nbytes == 2 * 2 * 3 * 3 * 16 * 16 and kept.bank_ids() == {0, 1, 2}
    expected = list(plain.iter_batches(0))
    before = bank.nbytes
    bank.release([1, 2])
    assert bank.nbytes == before // 3
    with pytest.raises(KeyError, match="released"):
        bank[1]
    for a, b in zip(kept.iter_batches(5), expected):
        torch.testing.assert_close(a["patches"], b["patches"])
        torch.testing.assert_close(a["ref"], b["ref"])
    with pytest.raises(ValueError, match="fixed"):
        PatchBatches(bank, [0], [0.1], patch_size=16, keep_patches=True)
