"""Extractor registry, cached parallel extraction and the sklearn transformer.

An *extractor* is a pure function ``f(image, **params) -> 1-D float64 array`` of one
RGB uint8 image, registered with a name, a version (bump the version whenever the output
changes: the cache key includes it) and its metadata (paper, reference release, and the
benchmark rows it makes: :class:`Extractor`).  :data:`EXTRACTORS` is a
:class:`~features.registry.Registry`: every public module of ``features`` is imported before
the first lookup (a new module registers itself), and installed packages add extractors
through the ``iqabench.extractors`` entry-point group.

:func:`extract_features` runs an extractor over many image files with the shared
:class:`~features.cache.FeatureCache`, in parallel with joblib (processes), or on
a Dask cluster when ``scheduler`` (an address such as ``tcp://host:8786``, or a
``distributed.Client``) is given.  Only feature vectors travel back: decoded
images live in one worker for one image.  A bad image never stops the run: its
row is NaN and its reason is returned in ``failures``.  Every extractor's input passes
one check first (:func:`features.imageio.check_image`: shape, NaN/inf, value range), so a
registered extractor never sees an array it would turn into NaN features.

:class:`ImageFeatures` wraps that as a scikit-learn transformer whose input is a
sequence of image paths or a records DataFrame (column ``image``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, overload

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .cache import FeatureCache, default_cache_dir
from .imageio import ImageError, check_image, load_image
from .registry import Registry, registration_helpers

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "Score",
    "register_extractor",
    "get_extractor",
    "list_extractors",
    "extract_features",
    "ExtractionResult",
    "ImageFeatures",
    "paths_of",
    "map_on_scheduler",
]


@dataclass(frozen=True)
class Score:
    """A training-free NR score that an extractor's vector holds (one column): a benchmark row.

    ``name`` is the method's registry name, ``column`` the index in the vector; the rest is the
    row's metadata (label, direction, range, paper).
    """

    name: str
    column: int
    label: str
    higher_better: bool = True
    score_range: tuple[float, float] | None = None
    paper: str = ""
    description: str = ""


@dataclass(frozen=True)
class Extractor:
    """A registered feature extractor and its metadata (declared once, beside its code).

    ``svr_kernel`` (``"rbf"``/``"linear"``) makes the benchmark register a features + SVR method
    of the same name (:mod:`benchmark.methods.classical`, row label ``label``); ``scores`` are
    training-free NR scores read off the vector, each registered as a method too.  Bump
    ``version`` whenever the output changes: the feature cache and saved predictions are keyed by it.
    """

    name: str
    func: Callable[..., np.ndarray]
    version: str
    params: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""
    reference: str = ""
    label: str = ""
    svr_kernel: str | None = None
    scores: tuple[Score, ...] = ()
    description: str = ""

    def __call__(self, image: np.ndarray, source: object = None) -> np.ndarray:
        """Features of one image; :class:`ImageError` naming ``source`` for an image it cannot take."""
        check_image(image, source)
        try:
            vec = np.asarray(self.func(image, **dict(self.params)), dtype=np.float64).ravel()
        except ImageError as exc:
            if source is not None and exc.source == "<array>":
                raise ImageError(source, exc.reason) from None
            raise
        if not np.all(np.isfinite(vec)):
            bad = np.flatnonzero(~np.isfinite(vec))[:5].tolist()
            raise ImageError(source, f"{self.name} gave non-finite features (indices {bad})")
        return vec

    def with_params(self, **params: Any) -> "Extractor":
        merged = dict(self.params)
        merged.update(params)
        return dataclasses.replace(self, params=merged)

    @property
    def display(self) -> str:
        return self.label or self.name


def _check_extractor(ext: Extractor) -> None:
    if not callable(ext.func):
        raise ValueError(f"extractor {ext.name!r}: func must be callable, got {ext.func!r}")
    if not isinstance(ext.version, str) or not ext.version:
        raise ValueError(f"extractor {ext.name!r}: version must be a non-empty string, got {ext.version!r}")
    if ext.svr_kernel not in (None, "rbf", "linear"):
        raise ValueError(f"extractor {ext.name!r}: svr_kernel must be None, 'rbf' or 'linear', got {ext.svr_kernel!r}")


#: every extractor: the public modules of ``features`` and the ``iqabench.extractors`` entry points
EXTRACTORS: Registry[Extractor] = Registry("extractor", group="iqabench.extractors", packages=("features",),
                                           entry_type=Extractor, check=_check_extractor)
registration_helpers(__name__)


@overload
def register_extractor(name: str, func: Callable[..., np.ndarray], version: str, params: Mapping[str, Any] | None = ...,
                       paper: str = ..., reference: str = ..., **meta: Any) -> Extractor: ...


@overload
def register_extractor(name: str, func: None = ..., version: str = ..., params: Mapping[str, Any] | None = ...,
                       paper: str = ..., reference: str = ...,
                       **meta: Any) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]: ...


def register_extractor(name: str, func: Callable[..., np.ndarray] | None = None, version: str = "1",
                       params: Mapping[str, Any] | None = None, paper: str = "", reference: str = "",
                       **meta: Any) -> Any:
    """Register ``func(image, **params) -> 1-D array`` as extractor ``name`` with its metadata
    (``label``, ``svr_kernel``, ``scores``, ``description``: see :class:`Extractor`).

    Without ``func`` it is a decorator: ``@register_extractor("mine", version="1")``.  A name
    registered twice from two places raises :class:`~features.registry.DuplicateNameError`.
    """
    def add(f: Callable[..., np.ndarray]) -> Extractor:
        return EXTRACTORS.register(name, Extractor(name, f, version, dict(params or {}), paper, reference,
                                                   **meta))

    if func is None:
        def decorate(f: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
            add(f)
            return f
        return decorate
    return add(func)


def get_extractor(name: str) -> Extractor:
    """The registered extractor ``name`` (``KeyError`` listing the known ones)."""
    return EXTRACTORS.get(name)


def list_extractors() -> list[str]:
    """Names of every registered extractor (built-ins and plugins), sorted."""
    return sorted(e.name for e in EXTRACTORS.values())


@dataclass
class ExtractionResult:
    X: np.ndarray                       # (n_images, n_features); NaN rows where extraction failed
    failures: dict[str, str]            # image path -> reason
    cache_hits: int = 0
    computed: int = 0

    @property
    def ok(self) -> np.ndarray:
        return np.all(np.isfinite(self.X), axis=1)


def _one(extractor: Extractor, path: str, cache_root: str | None) -> tuple[np.ndarray | None, str | None, bool]:
    """Worker: (vector or None, failure reason or None, was it a cache hit)."""
    cache = FeatureCache(cache_root)
    try:
        key = cache.key(extractor.name, extractor.version, extractor.params, path) if cache.enabled else None
        if key is not None:
            vec = cache.get(key)
            if vec is not None:
                return vec, None, True
        vec = extractor(load_image(path), source=path)
        if key is not None:
            cache.put(key, vec)
        return vec, None, False
    except ImageError as exc:
        return None, exc.reason if exc.source == path else str(exc), False
    except OSError as exc:
        return None, f"I/O error: {exc}", False
    except Exception as exc:  # a long run survives one bad image and reports it
        return None, f"{type(exc).__name__}: {exc}", False


@contextlib.contextmanager
def _dask_client(scheduler: Any):
    """The ``distributed.Client`` of ``scheduler`` (a client, or an address connected and closed here)."""
    from distributed import Client  # optional dependency (extra "dask")

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        yield client
    finally:
        if client is not scheduler:
            client.close()


def map_on_scheduler(func: Callable[[Any], Any], items: Sequence[Any], scheduler: Any,
                     progress: Any = None) -> list[Any]:
    """``[func(item) for item in items]`` run as one task per item on a Dask cluster, in order.

    ``scheduler``: an address (``tcp://host:8786``) or a ``distributed.Client``; ``func`` and the
    items are pickled to the workers, so files they name must be on storage every worker sees.
    Every task runs on a worker, whatever the number of workers (``Client.map``; joblib's Dask
    backend, used before, ran everything in the client process when the cluster had one worker
    thread).  ``progress``: a tqdm bar advanced as tasks finish.  Used for the per-image
    extractors and for :class:`deep.features.CNNFeatures`, whose tasks are chunks of images
    sharing one network per worker process.
    """
    items = list(items)
    if not items:
        return []
    with _dask_client(scheduler) as client:
        futures = client.map(func, items, pure=False)
        if progress is not None:
            from distributed import as_completed

            for _ in as_completed(futures):
                progress.update(1)
        return client.gather(futures)


class _OneImage:
    """Picklable ``path -> _one(extractor, path, cache_root)`` for a cluster's workers.

    Images are the unit of parallelism on a cluster (one task per image, ``threads_per_worker``
    tasks at a time per worker), so the first task a worker process runs sets OpenCV's own thread
    pool to one thread there (Dask's nanny limits BLAS/OpenMP, not OpenCV, whose pool otherwise
    takes every core of the node in each worker).  Values do not change.
    """

    def __init__(self, ext: "Extractor", cache_root: str | None):
        self.ext, self.cache_root = ext, cache_root

    def __call__(self, path: str) -> tuple[np.ndarray | None, str | None, bool]:
        _one_opencv_thread()
        return _one(self.ext, path, self.cache_root)


@functools.lru_cache(maxsize=1)
def _one_opencv_thread() -> None:
    import cv2

    cv2.setNumThreads(1)


def extract_features(paths: Sequence[str], extractor: Extractor | str, *,
                     cache: FeatureCache | str | os.PathLike | None | bool = True,
                     n_jobs: int = 1, scheduler: Any = None, progress: bool = False,
                     desc: str | None = None) -> ExtractionResult:
    """Extract ``extractor`` from every image in ``paths``.

    ``cache=True`` uses :func:`~features.cache.default_cache_dir`; ``False``/``None``
    disables caching.  ``n_jobs`` > 1 uses joblib processes; ``scheduler`` runs the
    same tasks on a Dask cluster.
    """
    import joblib

    ext = get_extractor(extractor) if isinstance(extractor, str) else extractor
    if cache is True:
        cache_root = str(default_cache_dir())
    elif cache is False or cache is None:
        cache_root = None
    elif isinstance(cache, FeatureCache):
        cache_root = str(cache.root) if cache.root is not None else None
    else:
        cache_root = os.fspath(cache)
    paths = [os.fspath(p) for p in paths]
    if scheduler is not None:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(paths), desc=desc or ext.name, unit="img", leave=False)
        try:
            outs = map_on_scheduler(_OneImage(ext, cache_root), paths, scheduler, progress=bar)
        finally:
            if bar is not None:
                bar.close()
    else:
        items: Iterable = paths
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(paths, desc=desc or ext.name, unit="img", leave=False)
        if n_jobs and n_jobs != 1:
            runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
            outs = list(runner(joblib.delayed(_one)(ext, p, cache_root) for p in items))
        else:
            outs = [_one(ext, p, cache_root) for p in items]
    dims = {v.shape[0] for v, _, _ in outs if v is not None}
    if len(dims) > 1:
        raise ValueError(f"{ext.name} returned vectors of different lengths: {sorted(dims)}")
    d = dims.pop() if dims else 0       # every image failed: width unknown, X is (n, 0)
    X = np.full((len(paths), d), np.nan)
    failures: dict[str, str] = {}
    hits = 0
    for i, (vec, err, hit) in enumerate(outs):
        if vec is None:
            failures[paths[i]] = err or "unknown error"
        else:
            X[i] = vec
            hits += hit
    return ExtractionResult(X, failures, cache_hits=hits, computed=len(paths) - hits - len(failures))


def paths_of(X: Any) -> list[str]:
    """Image paths from a records DataFrame (column ``image``) or a sequence of paths."""
    if hasattr(X, "columns") and "image" in getattr(X, "columns"):
        return [os.fspath(p) for p in X["image"]]
    if isinstance(X, (str, os.PathLike)):
        return [os.fspath(X)]
    return [os.fspath(p) for p in X]


class ImageFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: image paths (or records) -> feature matrix.

    Rows of images that could not be processed are NaN and listed in ``failures_``
    (path -> reason); callers drop them and report them.  ``n_features_out_`` is the width
    seen so far; a call in which every image fails returns NaN rows of that width (one
    column before any success), never a 0-column matrix whose rows would read as valid.
    """

    def __init__(self, extractor: str = "brisque", params: dict | None = None, cache_dir: Any = True,
                 n_jobs: int = 1, scheduler: Any = None, progress: bool = False):
        self.extractor = extractor
        self.params = params
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress

    def _ext(self) -> Extractor:
        ext = get_extractor(self.extractor)
        return ext.with_params(**self.params) if self.params else ext

    def fit(self, X: Any, y: Any = None) -> "ImageFeatures":
        self.failures_: dict[str, str] = {}
        return self

    def transform(self, X: Any) -> np.ndarray:
        res = extract_features(paths_of(X), self._ext(), cache=self.cache_dir, n_jobs=self.n_jobs,
                               scheduler=self.scheduler, progress=self.progress)
        if not hasattr(self, "failures_"):
            self.failures_ = {}
        self.failures_.update(res.failures)
        if res.X.shape[1]:
            self.n_features_out_ = res.X.shape[1]
            return res.X
        return np.full((len(res.X), getattr(self, "n_features_out_", 1)), np.nan)
