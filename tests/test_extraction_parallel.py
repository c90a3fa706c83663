"""Parallel extraction: joblib processes and a local Dask cluster give the serial matrix; a bad file is isolated."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from features.extraction import ImageFeatures, extract_features


@pytest.fixture(scope="module")
def files(tmp_path_factory, astronaut_small):
    root = tmp_path_factory.mktemp("parallel")
    paths = []
    for i in range(5):
        crop = np.ascontiguousarray(astronaut_small[8 * i:8 * i + 64, 12 * i:12 * i + 72])
        p = root / f"img{i}.png"
        Image.fromarray(crop).save(p)
        paths.append(str(p))
    bad = root / "truncated.jpg"
    Image.fromarray(astronaut_small).save(bad, quality=90)
    bad.write_bytes(bad.read_bytes()[:400])
    return paths, str(bad)


@pytest.fixture(scope="module")
def serial(files):
    paths, _ = files
    res = extract_features(paths, "brisque", cache=None)
    assert not res.failures and res.X.shape == (5, 36)
    return res.X


def test_joblib_two_processes_equal_serial(files, serial):
    paths, _ = files
    res = extract_features(paths, "brisque", cache=None, n_jobs=2)
    np.testing.assert_array_equal(res.X, serial)


def test_dask_local_cluster_equals_serial(files, serial):
    distributed = pytest.importorskip("distributed")
    paths, _ = files
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        res = extract_features(paths, "brisque", cache=None, scheduler=client)
        np.testing.assert_array_equal(res.X, serial)
        feats = ImageFeatures("brisque", cache_dir=None, scheduler=client).fit(paths)
        np.testing.assert_array_equal(feats.transform(paths), serial)


def test_one_truncated_image_gives_a_nan_row_and_a_named_failure(files, serial, tmp_path):
    paths, bad = files
    mixed = paths[:2] + [bad] + paths[2:]
    for n_jobs in (1, 2):
        res = extract_features(mixed, "brisque", cache=tmp_path / f"c{n_jobs}", n_jobs=n_jobs)
        assert np.all(np.isnan(res.X[2]))
        np.testing.assert_array_equal(np.delete(res.X, 2, axis=0), serial)
        assert list(res.failures) == [bad]
        assert "truncated" in res.failures[bad] or "unreadable" in res.failures[bad]
        assert res.ok.tolist() == [True, True, False, True, True, True]


def test_cnn_features_on_a_local_cluster_equal_serial(files, tmp_path, monkeypatch):
    """CNN features go through Dask too: chunks of images per task, the same rows, failures named, cache written."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("torchvision")
    import deep.features as df

    paths, bad = files
    mixed = paths[:2] + [bad] + paths[2:]
    params = dict(arch="mobilenet_v2", weights="random", n_crops=2, crop_size=32, batch_size=4)
    serial = df.CNNFeatures(**params, cache_dir=None).fit(mixed).transform(mixed)
    monkeypatch.setattr(df, "CLUSTER_CHUNK", 2)                 # several tasks for 6 images
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        feats = df.CNNFeatures(**params, cache_dir=tmp_path, scheduler=client).fit(mixed)
        X = feats.transform(mixed)
    np.testing.assert_allclose(X, serial, rtol=1e-6, atol=1e-6)
    assert np.all(np.isnan(X[2])) and list(feats.failures_) == [bad]
    again = df.CNNFeatures(**params, cache_dir=tmp_path).fit(mixed)
    np.testing.assert_array_equal(again.transform(mixed)[[0, 1, 3, 4, 5]], X[[0, 1, 3, 4, 5]])
    assert again.cache_hits_ == 5 and again.computed_ == 0


def _thread_name(_item):
    import threading

    return threading.current_thread().name


def test_a_one_worker_cluster_does_the_work_itself():
    """Tasks run on the cluster's worker even when it has a single thread (joblib's Dask backend ran
    them in the client process then, which on a real cluster means on the wrong machine)."""
    distributed = pytest.importorskip("distributed")
    import threading

    from features.extraction import map_on_scheduler

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        names = map_on_scheduler(_thread_name, list(range(4)), client)
    assert len(names) == 4 and threading.main_thread().name not in names
