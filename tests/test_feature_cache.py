"""The shared feature cache: re-runs recompute nothing, corrupt entries are recomputed, keys change with params."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from features.cache import FeatureCache, file_digest, params_digest
from features.extraction import Extractor, extract_features


@pytest.fixture
def images(tmp_path, astronaut_small):
    paths = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.ascontiguousarray(np.roll(astronaut_small, 7 * i, axis=1)[:64, :64])).save(p)
        paths.append(str(p))
    return paths


def counting_extractor(calls: list, version: str = "1", **params) -> Extractor:
    def func(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        calls.append(1)
        return np.array([image.mean(), image.std()]) * scale
    return Extractor("test_counting", func, version, {"scale": 1.0, **params})


def test_rerun_recomputes_nothing(images, tmp_path):
    calls: list = []
    ext = counting_extractor(calls)
    first = extract_features(images, ext, cache=tmp_path / "cache")
    assert (first.computed, first.cache_hits, len(calls)) == (3, 0, 3)
    second = extract_features(images, ext, cache=tmp_path / "cache")
    assert (second.computed, second.cache_hits, len(calls)) == (0, 3, 3)
    np.testing.assert_array_equal(first.X, second.X)
    assert not list((tmp_path / "cache").rglob("*.tmp"))            # atomic writes leave no temp files


def test_corrupt_entry_is_detected_and_recomputed(images, tmp_path):
    calls: list = []
    ext = counting_extractor(calls)
    root = tmp_path / "cache"
    ref = extract_features(images, ext, cache=root).X
    cache = FeatureCache(root)
    key = cache.key(ext.name, ext.version, ext.params, images[1])
    entry = cache._path(key)
    data = entry.read_bytes()
    entry.write_bytes(data[:len(data) // 2])                           # truncated entry
    assert cache.get(key) is None and cache.corrupt == 1 and not entry.exists()
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(data[:len(data) // 2])
    calls.clear()
    again = extract_features(images, ext, cache=root)
    assert (again.computed, again.cache_hits, len(calls)) == (1, 2, 1)
    np.testing.assert_array_equal(again.X, ref)
    # a well-formed entry whose checksum does not match is rejected too
    with np.load(entry) as z:
        bad = {"x": z["x"] + 1, "sha": z["sha"]}
    with open(entry, "wb") as fh:
        np.savez(fh, **bad)
    assert FeatureCache(root).get(key) is None


def test_changed_params_version_or_image_change_the_key(images, tmp_path):
    cache = FeatureCache(tmp_path)
    base = cache.key("x", "1", {"a": 1}, images[0])
    assert cache.key("x", "1", {"a": 2}, images[0]) != base
    assert cache.key("x", "2", {"a": 1}, images[0]) != base
    assert cache.key("y", "1", {"a": 1}, images[0]) != base
    assert cache.key("x", "1", {"a": 1}, images[1]) != base
    assert params_digest("x", "1", {"a": 1, "b": 2}) == params_digest("x", "1", {"b": 2, "a": 1})
    calls: list = []
    root = tmp_path / "c"
    extract_features(images, counting_extractor(calls), cache=root)
    rescaled = extract_features(images, counting_extractor(calls).with_params(scale=2.0), cache=root)
    assert rescaled.computed == 3 and rescaled.cache_hits == 0
    bumped = extract_features(images, counting_extractor(calls, version="2"), cache=root)
    assert bumped.computed == 3


def test_rewritten_file_is_rehashed(images, tmp_path, astronaut_small):
    calls: list = []
    ext = counting_extractor(calls)
    root = tmp_path / "cache"
    before = file_digest(images[0])
    extract_features(images[:1], ext, cache=root)
    Image.fromarray(np.ascontiguousarray(astronaut_small[:32, :48])).save(images[0])
    assert file_digest(images[0]) != before
    res = extract_features(images[:1], ext, cache=root)
    assert res.computed == 1


def test_disabled_cache_writes_nothing(images, tmp_path):
    calls: list = []
    res = extract_features(images, counting_extractor(calls), cache=None)
    res2 = extract_features(images, counting_extractor(calls), cache=False)
    assert res.computed == res2.computed == 3 and len(calls) == 6
    assert not FeatureCache(None).enabled
