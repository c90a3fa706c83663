"""One input check for every extractor (features.imageio.check_image) and decompression bombs."""
import numpy as np
import pytest

from features.imageio import ImageError, check_image, load_image


def _grey(value, size=64):
    rng = np.random.default_rng(0)
    img = rng.uniform(20, 230, size=(size, size))
    img[5, 7] = value
    return img


BAD = [(np.nan, "non-finite"), (np.inf, "non-finite"), (-np.inf, "non-finite"), (1e6, r"must lie in \[0, 255\]"),
       (-300.0, r"must lie in \[0, 255\]")]


@pytest.mark.parametrize("value,match", BAD)
@pytest.mark.parametrize("module", ["brisque", "bliinds2", "diivine"])
def test_nr_extractors_reject_bad_grey_float_arrays(module, value, match):
    import importlib

    mod = importlib.import_module(f"features.{module}")
    with pytest.raises(ImageError, match=match):
        mod.extract(_grey(value))


@pytest.mark.parametrize("value,match", BAD)
def test_cornia_patches_reject_bad_grey_float_arrays(value, match):
    from features.cornia import sample_patches

    with pytest.raises(ImageError, match=match):
        sample_patches(_grey(value), n=50)


@pytest.mark.parametrize("name", ["brisque", "bliinds2", "diivine", "cues"])
def test_every_registered_extractor_checks_its_input_and_names_the_source(name):
    from features.extraction import get_extractor

    with pytest.raises(ImageError, match=r"^photo\.png: image has non-finite values"):
        get_extractor(name)(_grey(np.nan), source="photo.png")


def test_check_image_accepts_what_the_loaders_produce():
    rng = np.random.default_rng(1)
    for ok in (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), rng.uniform(0, 255, (8, 8)),
               rng.uniform(0, 1, (8, 8, 3)), rng.integers(0, 65536, (8, 8), dtype=np.uint16)):
        check_image(ok)
    with pytest.raises(ImageError, match=r"RGB float image must lie in \[0, 1\]"):
        check_image(rng.uniform(0, 255, (8, 8, 3)))
    with pytest.raises(ImageError, match="shape"):
        check_image(np.zeros((8, 8, 2)))


def test_decompression_bomb_is_an_image_error(tmp_path, monkeypatch):
    from PIL import Image

    p = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)      # 4096 pixels > 2 x the limit: Pillow refuses
    with pytest.raises(ImageError, match=r"bomb\.png: image too large to decode safely"):
        load_image(p)
