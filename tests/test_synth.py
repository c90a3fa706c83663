"""The built-in ``synth`` dataset: generation, records, determinism, cache reuse and repair."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import RECORD_COLUMNS, get_dataset_info, load_dataset
from benchmark.datasets import synth as S
from benchmark.datasets.distortions import DISTORTIONS, distortion_rng
from features.imageio import load_image

SMALL = dict(n_contents=2, size=64)  # 2 contents x 7 distortions x 5 levels = 70 images


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return root, load_dataset("synth", root=root, **SMALL)


def test_registered():
    info = get_dataset_info("synth")
    assert info.builtin and info.has_reference and not info.higher_better
    assert info.kind == "synthetic" and info.loader is S.load_synth
    assert "not a human opinion" in info.notes and "not a human opinion" in S.__doc__


def test_records(small):
    root, df = small
    assert list(df.columns) == list(RECORD_COLUMNS)
    assert len(df) == 2 * 7 * 5
    assert set(df["dataset"]) == {"synth"} and set(df["split"]) == {""}
    assert set(df["content"]) == set(list(S.SOURCES)[:2])
    assert set(df["dist_type"]) == set(S.DEFAULT_DISTORTIONS)
    assert sorted(set(df["dist_level"])) == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(df["score"], df["dist_level"])  # score = severity level
    assert not df["higher_better"].any()
    assert df.groupby(["content", "dist_type", "dist_level"]).size().eq(1).all()
    for p in list(df["image"]) + list(df["ref"].unique()):
        assert Path(p).is_absolute() and Path(p).is_file() and root in Path(p).parents
    for ref, grp in df.groupby("ref"):
        assert Path(ref).stem == grp["content"].iloc[0]
    img = load_image(df["image"].iloc[0])
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert not any(p.name.startswith(".") for p in root.iterdir())  # no temporary folders left


def test_images_are_the_distortions_of_the_references(small):
    _, df = small
    for row in df.sample(12, random_state=0).itertuples():
        dist = DISTORTIONS[row.dist_type]
        lv = int(row.dist_level)
        rng = distortion_rng(row.content, row.dist_type, lv) if dist.stochastic else None
        np.testing.assert_array_equal(load_image(row.image), dist(load_image(row.ref), lv, rng))


def test_deterministic_bytes(small, tmp_path):
    root, df = small
    folder = Path(df["ref"].iloc[0]).parents[1]
    other = load_dataset("synth", root=tmp_path, **SMALL)
    folder2 = Path(other["ref"].iloc[0]).parents[1]
    assert folder2 != folder and folder2.name == folder.name
    a, b = _files(folder), _files(folder2)
    assert len(a) == 70 + 2 and a == b
    assert (folder / "manifest.csv").read_bytes() == (folder2 / "manifest.csv").read_bytes()


def test_cache_reused(tmp_path):
    df = load_dataset("synth", root=tmp_path, n_contents=1, size=48, distortions=["jpeg", "white_noise"])
    folder = Path(df["ref"].iloc[0]).parents[1]
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    inode = folder.stat().st_ino
    df2 = load_dataset("synth", root=tmp_path, n_contents=1, size=48, distortions=["jpeg", "white_noise"])
    assert df2.equals(df)
    assert folder.stat().st_ino == inode
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # regenerate=True rebuilds (new folder) with identical content
    before = _files(folder)
    load_dataset("synth", root=tmp_path, n_contents=1, size=48, distortions=["jpeg", "white_noise"],
                 regenerate=True)
    assert folder.stat().st_ino != inode and _files(folder) == before


def test_damaged_or_outdated_set_is_regenerated(tmp_path):
    opts = dict(n_contents=1, size=48, distortions=["pink_noise"])
    df = load_dataset("synth", root=tmp_path, **opts)
    folder = Path(df["ref"].iloc[0]).parents[1]
    good = _files(folder)
    victim = Path(df["image"].iloc[2])
    victim.write_bytes(victim.read_bytes()[:100])  # truncated file
    load_dataset("synth", root=tmp_path, **opts)
    assert _files(folder) == good
    info = json.loads((folder / "info.json").read_text())
    info["generator_version"] = S.GENERATOR_VERSION - 1  # made by an older generator
    (folder / "info.json").write_text(json.dumps(info))
    inode = folder.stat().st_ino
    load_dataset("synth", root=tmp_path, **opts)
    assert folder.stat().st_ino != inode
    assert json.loads((folder / "info.json").read_text())["generator_version"] == S.GENERATOR_VERSION
    (folder / "manifest.csv").unlink()
    assert len(load_dataset("synth", root=tmp_path, **opts)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_folder_names(tmp_path):
    assert S.synth_folder(tmp_path) == tmp_path / f"synth-v{S.GENERATOR_VERSION}"
    small = S.synth_folder(tmp_path, **SMALL)
    assert small.name.startswith(f"synth-v{S.GENERATOR_VERSION}-64px-2c-")
    assert small != S.synth_folder(tmp_path, **SMALL, seed=1)
    # default root: the feature-cache folder ($IQABENCH_CACHE, set privately by conftest)
    assert S.synth_folder(None).parent == Path(os.environ["IQABENCH_CACHE"])


def test_grey_content_skips_colour_only_distortions(tmp_path):
    df = S.load_synth(tmp_path, contents=["camera"], size=48, distortions=["saturation", "jpeg"])
    assert len(df) == 5 and set(df["dist_type"]) == {"jpeg"}


def test_sources_load_offline():
    for name in S.SOURCES:
        img = S.load_source(name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and min(img.shape[:2]) >= 256
    assert [n for n, s in S.SOURCES.items() if s.colour][:10] == list(S.SOURCES)[:10]


def test_prepare_reference():
    img = np.arange(300 * 500 * 3, dtype=np.uint32).reshape(300, 500, 3) % 251
    img = img.astype(np.uint8)
    assert S.prepare_reference(img, 100).shape == (100, 100, 3)
    np.testing.assert_array_equal(S.prepare_reference(img, 300), img[:, 100:400])
    assert S.prepare_reference(img, 400).shape == (400, 400, 3)


@pytest.mark.parametrize("bad, exc", [
    (dict(size=16), ValueError),
    (dict(n_contents=0), ValueError),
    (dict(n_contents=len(S.SOURCES) + 1), ValueError),
    (dict(distortions=["jpeg", "fast_fading"]), KeyError),
    (dict(distortions=[]), ValueError),
    (dict(contents=["astronaut", "lena"]), ValueError),
])
def test_bad_options(tmp_path, bad, exc):
    with pytest.raises(exc):
        S.load_synth(tmp_path, **bad)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_default_set(tmp_path):
    """The default set: 350 images, PSNR falling with the level for every content and type."""
    df = load_dataset("synth", root=tmp_path)
    assert len(df) == 350 and df["content"].nunique() == 10
    for (_, _), grp in df.groupby(["content", "dist_type"]):
        ref = load_image(grp["ref"].iloc[0]).astype(float)
        grp = grp.sort_values("dist_level")
        mse = [np.mean((load_image(p).astype(float) - ref) ** 2) for p in grp["image"]]
        assert all(np.diff(mse) > 0)
