"""Off-the-shelf ImageNet CNN features for the features + SVR baselines (Kim et al. 2017, Sec. V).

Protocol (paper 001, Sec. V, first approach): 25 random crops per image at the
backbone's input size, one feature vector per crop from a fixed layer, averaged
over the crops into one vector per image; an SVR then regresses the vectors onto
the scores (``benchmark.methods.regression.FeatureSVR``).

Taps (``tap=None`` picks the default of each arch):

=================  ======================================================  =====
``alexnet``        ``"fc6"``: fc6 after its ReLU (Caffe's in-place relu6),   4096
                   Kim et al.'s layer, needs the classifier weights;
                   ``"conv5"``: the conv block's output (after pool5),        256
                   global average pooled (default when only ``features.*``
                   weights exist); ``"fc7"``                                  4096
``vgg16``          ``"conv5"`` (default): last conv block (after pool5)       512
                   globally average pooled; ``"fc6"``, ``"fc7"``              4096
``resnet50``       ``"pool"``: global average pool before ``fc`` (Kim)        2048
``mobilenet_v2``   ``"pool"``: global average pool before the classifier      1280
=================  ======================================================  =====

Crops: corners uniform over the image (crops may overlap), drawn as ``(row, col)`` pairs
(:func:`crop_corners`) from a generator seeded by ``(seed, SHA-256 of the image file)``, so
an image always gets the same crops whatever the order, batch or process, and the first
``k`` of ``n`` crops are the ``k`` crops a ``k``-crop run takes (which lets
``bench/bench_backbones.py`` measure accuracy against the number of crops from one pass).

Images smaller than the crop are an
:class:`~features.imageio.ImageError` naming the file (Kim's databases are all at
least 384 px; upsampling would change the distortion being measured); pass
``upsample_small=True`` to scale the shorter side up to the crop size instead
(bicubic, documented deviation).  Images are decoded one at a time (never the
whole dataset in memory); crops of several images share a forward batch.  On CUDA
the forward pass runs under autocast (bf16 where supported, else fp16); on CPU in float32.
Both run in ``channels_last`` (oneDNN's blocked kernels on a CPU: 2.66 s instead of 3.46 s for 25
VGG16 crops, 0.38 s instead of 0.65 s for MobileNetV2, 2 threads; features move by ~5e-7
relative against ``contiguous_format``, :data:`CNN_FEATURES_VERSION` 3).  Every batch normalisation
that follows a convolution is folded into it for inference (:func:`fold_batchnorm`; MobileNetV2 and
ResNet50, the only backbones with batch norms): MobileNetV2's forward pass on 50 crops takes 1.2 s
instead of 2.15 s on 2 cores of the AVX2 development machine, its features move by ~3e-6
relative (:data:`CNN_FEATURES_VERSION` 4; AlexNet and VGG16 are unchanged).

Every image's vector goes through the shared :class:`~features.cache.FeatureCache`
(name ``cnn-{arch}-{tap}``; parameters: weights SHA-256 or ``random-seed{k}``,
``n_crops``, ``seed``, crop size, upsampling policy; version :data:`CNN_FEATURES_VERSION`).

Speed (``bench/bench_backbones.py``): the extractor decodes each image once in the main
process and feeds batches of crops to the network; on a CPU the decoding and cropping
cost a few per cent of the network's own forward throughput.
"""
from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from torch import nn

from features.cache import FeatureCache, default_cache_dir, file_digest
from features.extraction import paths_of
from features.imageio import ImageError, load_image

from ._utils import autocast, derived_rng, select_device
from .backbones import (INPUT_SIZE, WeightsError, build_backbone, file_has_layer, normalize, resolve_weights_file,
                        weights_info)

__all__ = ["CNNFeatures", "FeatureNet", "fold_batchnorm", "TAPS", "default_tap", "feature_dim", "image_crops", "crop_corners",
           "crop_outputs", "CNN_FEATURES_VERSION"]

#: bump when the features of an image change (2: crop corners drawn as prefix-stable pairs;
#: 3: channels_last on a CPU too, values move by ~5e-7 relative)
#: 4: batch norms folded into the preceding convolutions, values move by ~3e-6 relative)
CNN_FEATURES_VERSION = "4"
#: images per Dask task when ``CNNFeatures(scheduler=...)`` runs on a cluster (a worker keeps its network)
CLUSTER_CHUNK = 32
TAPS = {
    "alexnet": ("fc6", "fc7", "conv5"),
    "vgg16": ("conv5", "fc6", "fc7"),
    "resnet50": ("pool",),
    "mobilenet_v2": ("pool",),
}
# Module that must hold pretrained weights for a tap to be meaningful.
_TAP_NEEDS = {("alexnet", "fc6"): "classifier.1", ("alexnet", "fc7"): "classifier.4",
              ("vgg16", "fc6"): "classifier.0", ("vgg16", "fc7"): "classifier.3"}


def feature_dim(arch: str, tap: str) -> int:
    """Length of the feature vector of ``arch`` at ``tap``."""
    return {"fc6": 4096, "fc7": 4096, "pool": 2048 if arch == "resnet50" else 1280,
            "conv5": 256 if arch == "alexnet" else 512}[tap]


def default_tap(arch: str, model: nn.Module | None = None) -> str:
    """AlexNet: ``fc6`` when its weights are loaded (Kim et al.), else ``conv5``; others: see module doc."""
    if arch == "alexnet":
        if model is not None and weights_info(model).loaded("classifier.1"):
            return "fc6"
        return "conv5"
    return TAPS[arch][0]


class FeatureNet(nn.Module):
    """The part of a torchvision backbone up to ``tap``: ``(N, 3, H, W)`` -> ``(N, D)``."""

    def __init__(self, backbone: nn.Module, arch: str, tap: str):
        super().__init__()
        if tap not in TAPS[arch]:
            raise ValueError(f"tap {tap!r} not available for {arch}; choose from {TAPS[arch]}")
        need = _TAP_NEEDS.get((arch, tap))
        info = weights_info(backbone)
        if need is not None and info.pretrained and not info.loaded(need):
            raise WeightsError(f"{arch} tap {tap!r} needs pretrained {need}, which {info.source} does not hold "
                               f"(use tap 'conv5', or full torchvision weights)")
        self.arch, self.tap = arch, tap
        self.backbone = backbone

    @classmethod
    def for_inference(cls, backbone: nn.Module, arch: str, tap: str) -> "FeatureNet":
        """The network as the extractor runs it: eval mode, batch norms folded (:func:`fold_batchnorm`)."""
        return fold_batchnorm(cls(backbone, arch, tap).eval())

    @property
    def dim(self) -> int:
        return feature_dim(self.arch, self.tap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.backbone
        if self.arch in ("alexnet", "vgg16"):
            f = m.features(x)
            if self.tap == "conv5":
                return torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)
            h = torch.flatten(m.avgpool(f), 1)
            # classifier: [Dropout, fc6, ReLU, Dropout, fc7, ReLU, fc8] (AlexNet) /
            #             [fc6, ReLU, Dropout, fc7, ReLU, Dropout, fc8] (VGG16); eval mode: no dropout.
            lin = [k for k, layer in enumerate(m.classifier) if isinstance(layer, nn.Linear)]
            stop = lin[0] if self.tap == "fc6" else lin[1]
            return m.classifier[: stop + 2](h)  # up to and including the ReLU after the layer
        if self.arch == "resnet50":
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
            return torch.flatten(m.avgpool(x), 1)
        # mobilenet_v2: features end with ReLU6 after the last 1x1 conv, as in torchvision's forward
        f = m.features(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold each eval-mode ``BatchNorm2d`` that reads a ``Conv2d``'s output (and nothing else does) into
    that convolution, in place: the convolution takes the folded weights and bias
    (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`), the batch norm becomes ``nn.Identity``.

    The pairs are found in the traced data flow (:func:`torch.fx.symbolic_trace`), not by module
    names, so ResNet's ``conv1``/``bn1`` attributes and MobileNetV2's ``Sequential`` blocks are folded
    alike.  The same function of the input up to rounding (a few ulps of float32); the network must be
    in eval mode (running statistics, no updates).  Returns ``net``.
    """
    import torch.fx
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if net.training:
        raise ValueError("fold_batchnorm needs a network in eval mode (its running statistics are folded)")
    modules = dict(net.named_modules())
    if not any(isinstance(m, nn.BatchNorm2d) for m in modules.values()):
        return net
    pairs = []
    for node in torch.fx.symbolic_trace(net).graph.nodes:
        bn = modules.get(node.target) if node.op == "call_module" else None
        src = node.args[0] if node.args else None
        if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or not isinstance(src, torch.fx.Node):
            continue
        conv = modules.get(src.target) if src.op == "call_module" else None
        if isinstance(conv, nn.Conv2d) and len(src.users) == 1:
            pairs.append((str(src.target), str(node.target)))
    for conv_name, bn_name in pairs:
        _set_module(net, conv_name, fuse_conv_bn_eval(modules[conv_name], modules[bn_name]))
        _set_module(net, bn_name, nn.Identity())
    return net


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def crop_corners(h: int, w: int, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` top-left corners ``(row, col)`` drawn uniformly so a ``size`` crop fits in ``h x w``.

    Drawn pair by pair, so the first ``k`` corners of an ``n``-corner draw are those of a
    ``k``-corner draw from the same generator state.
    """
    if h < size or w < size:
        raise ValueError(f"a {size}x{size} crop does not fit in {h}x{w}")
    return rng.integers(0, np.array([h - size + 1, w - size + 1]), size=(int(n), 2)).astype(np.int64)


def image_crops(image: np.ndarray, n_crops: int, size: int, rng: np.random.Generator, source: object = None,
                upsample_small: bool = False, select: slice | None = None) -> np.ndarray:
    """``n_crops`` random ``size x size`` crops of an ``H x W x 3`` uint8 image -> ``(n, 3, size, size)`` uint8.

    ``select`` keeps only those of the ``n_crops`` crops (the corners drawn are the same).
    """
    h, w = image.shape[:2]
    if h < size or w < size:
        if not upsample_small:
            raise ImageError(source, f"image is {h}x{w}, smaller than the {size}x{size} CNN input crop")
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        t = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
        t = nn.functional.interpolate(t, size=(nh, nw), mode="bicubic", align_corners=False)
        image = t.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        h, w = nh, nw
    corners = crop_corners(h, w, size, n_crops, rng)
    if select is not None:
        corners = corners[select]
    chw = np.transpose(image, (2, 0, 1))
    return np.stack([chw[:, r:r + size, c:c + size] for r, c in corners])


class _CropSource(torch.utils.data.Dataset):
    """One item = the crops of one image (decoded in the worker), or the failure reason."""

    def __init__(self, paths: Sequence[str], digests: Sequence[str], n_crops: int, size: int, seed: int,
                 upsample_small: bool):
        self.paths, self.digests = list(paths), list(digests)
        self.n_crops, self.size, self.seed, self.upsample_small = n_crops, size, seed, upsample_small

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        path = self.paths[i]
        try:
            rng = derived_rng(self.seed, self.digests[i])
            crops = image_crops(load_image(path), self.n_crops, self.size, rng, path, self.upsample_small)
            return i, crops, None
        except ImageError as exc:
            return i, None, exc.reason if exc.source == path else str(exc)
        except OSError as exc:
            return i, None, f"I/O error: {exc}"


def _collate(items: list) -> list:
    return items


def default_workers(device: torch.device, num_workers: int | None) -> int:
    """``num_workers=None``: decode in the main process on CPU, in up to 8 workers on CUDA."""
    if num_workers is not None:
        return int(num_workers)
    return 0 if device.type != "cuda" else min(8, os.cpu_count() or 1)


def crop_outputs(net: nn.Module, paths: Sequence[str], digests: Sequence[str], *, n_crops: int, size: int,
                 seed: int, upsample_small: bool = False, batch_size: int = 50, device: torch.device | None = None,
                 amp: bool = True, num_workers: int | None = None, progress: bool = False, desc: str = "crops",
                 pool: str | None = "mean") -> Iterator[tuple[int, np.ndarray | None, str | None]]:
    """Run ``net`` (eval mode, no grad) on ``n_crops`` random crops of each image and average its outputs.

    Yields ``(index into paths, mean output as float64, None)`` or ``(index, None, reason)`` for an
    image that cannot be used; with ``pool=None`` the per-crop outputs instead, ``(n_crops, D)``
    float32 (for prediction pooling and the crop-count benchmark).
    Crop corners come from :func:`deep._utils.derived_rng` seeded with ``(seed, file digest)``;
    images are decoded one at a time (in ``num_workers`` DataLoader workers);
    crops of consecutive images are concatenated into forward batches of about ``batch_size`` crops.
    """
    if pool not in ("mean", None):
        raise ValueError(f"pool must be 'mean' or None, got {pool!r}")
    if not paths:
        return
    dev = device if device is not None else next(net.parameters()).device
    source = _CropSource(paths, digests, n_crops, size, seed, upsample_small)
    loader = torch.utils.data.DataLoader(source, batch_size=1, shuffle=False, collate_fn=_collate,
                                         num_workers=default_workers(dev, num_workers))
    it: Any = loader
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(loader, desc=desc, unit="img", leave=False)
    was_training = net.training
    net.eval()
    pending: list[tuple[int, np.ndarray]] = []
    n_pending = 0
    per_batch = max(1, int(batch_size))
    try:
        for (i, crops, err), in it:
            if err is not None:
                yield i, None, err
                continue
            pending.append((i, crops))
            n_pending += len(crops)
            if n_pending >= per_batch:
                yield from _forward(net, dev, pending, per_batch, amp, pool)
                pending, n_pending = [], 0
        if pending:
            yield from _forward(net, dev, pending, per_batch, amp, pool)
    finally:
        net.train(was_training)


@torch.inference_mode()
def _forward(net: nn.Module, dev: torch.device, pending: list[tuple[int, np.ndarray]], step: int, amp: bool,
             pool: str | None = "mean"):
    crops = torch.from_numpy(np.concatenate([c for _, c in pending]))
    outs = []
    for s in range(0, len(crops), step):
        x = normalize(crops[s:s + step].to(dev, non_blocking=True))
        x = x.contiguous(memory_format=torch.channels_last)
        with autocast(dev, amp):
            f = net(x)
        outs.append(f.float().reshape(len(x), -1).cpu())
    F = torch.cat(outs).numpy()
    start = 0
    for i, c in pending:
        block = F[start:start + len(c)]
        vec = block.astype(np.float64).mean(axis=0) if pool == "mean" else block.copy()
        start += len(c)
        if not np.all(np.isfinite(vec)):
            yield i, None, "non-finite network output"
        else:
            yield i, vec, None


class CNNFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: image paths (or records) -> mean CNN feature over random crops.

    ``weights``: see :func:`deep.backbones.build_backbone` (``"imagenet"``: torch's cache, else
    torchvision's download unless ``offline``; a path; a torchvision weights name; ``"random"``).
    ``offline=None`` follows ``IQABENCH_OFFLINE``.  ``tap=None``: :func:`default_tap`.
    ``batch_size`` counts crops per forward pass.  Rows of images that fail are NaN and
    their reasons are in ``failures_`` (path -> reason).  ``scheduler`` (a Dask address or
    ``distributed.Client``) computes the uncached images on a cluster, :data:`CLUSTER_CHUNK` per task:
    the same values as locally (the crops depend on each file's digest only).
    """

    def __init__(self, arch: str = "mobilenet_v2", weights: Any = "imagenet", tap: str | None = None,
                 n_crops: int = 25, crop_size: int | None = None, seed: int = 0, batch_size: int = 50,
                 device: str | None = None, cache_dir: Any = True, amp: bool = True,
                 upsample_small: bool = False, num_workers: int | None = None, progress: bool = False,
                 offline: bool | None = None, scheduler: Any = None):
        self.arch = arch
        self.weights = weights
        self.tap = tap
        self.n_crops = n_crops
        self.crop_size = crop_size
        self.seed = seed
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = cache_dir
        self.amp = amp
        self.upsample_small = upsample_small
        self.num_workers = num_workers
        self.progress = progress
        self.offline = offline
        self.scheduler = scheduler

    # -- model -----------------------------------------------------------------------
    def _net(self) -> FeatureNet:
        """Build (once) the feature network on the chosen device."""
        if getattr(self, "net_", None) is None:
            with warnings.catch_warnings():
                # layers a features-only file lacks are reported by FeatureNet when a tap needs them
                warnings.filterwarnings("ignore", message=".*left randomly initialised", category=UserWarning)
                backbone = build_backbone(self.arch, self.weights, seed=self.seed, offline=self.offline)
            arch = weights_info(backbone).arch
            tap = self._ident()[1]
            net = FeatureNet.for_inference(backbone, arch, tap)
            dev = select_device(self.device)
            net = net.to(dev).to(memory_format=torch.channels_last)
            self.net_, self.device_ = net, dev
            self.weights_info_ = weights_info(backbone)
        return self.net_

    def _ident(self) -> tuple[str, str]:
        """(weights identity, tap), found from the weights file without building the network."""
        if getattr(self, "ident_", None) is None:
            arch = self.arch.lower()
            path, _, sha = resolve_weights_file(arch, self.weights, offline=self.offline)
            ident = sha if sha is not None else f"random-seed{int(self.seed)}"
            tap = self.tap
            if tap is None:
                if arch == "alexnet":   # fc6 (Kim et al.) only when the file holds it: see default_tap
                    tap = "fc6" if path is not None and file_has_layer(path, "classifier.1") else "conv5"
                else:
                    tap = TAPS[arch][0]
            if tap not in TAPS[arch]:
                raise ValueError(f"tap {tap!r} not available for {arch}; choose from {TAPS[arch]}")
            need = _TAP_NEEDS.get((arch, tap))
            if need is not None and path is not None and not file_has_layer(path, need):
                raise WeightsError(f"{arch} tap {tap!r} needs pretrained {need}, which {path} does not hold "
                                   f"(use tap 'conv5', or full torchvision weights)")
            self.ident_ = (ident, tap)
            self.tap_ = tap
        return self.ident_

    @property
    def size_(self) -> int:
        return int(self.crop_size or INPUT_SIZE[self.arch.lower()])

    def cache_name(self) -> str:
        return f"cnn-{self.arch.lower()}-{self._ident()[1]}"

    def cache_params(self) -> dict[str, Any]:
        ident, tap = self._ident()
        return {"weights": ident, "tap": tap, "n_crops": int(self.n_crops), "seed": int(self.seed),
                "crop_size": self.size_, "upsample_small": bool(self.upsample_small)}

    def _cache(self) -> FeatureCache:
        if self.cache_dir is True:
            return FeatureCache(default_cache_dir())
        if self.cache_dir is None or self.cache_dir is False:
            return FeatureCache(None)
        if isinstance(self.cache_dir, FeatureCache):
            return self.cache_dir
        return FeatureCache(self.cache_dir)

    # -- sklearn -----------------------------------------------------------------------
    def fit(self, X: Any = None, y: Any = None) -> "CNNFeatures":
        self.failures_ = {}
        return self

    def transform(self, X: Any) -> np.ndarray:
        paths = paths_of(X)
        if not hasattr(self, "failures_"):
            self.failures_ = {}
        name, params = self.cache_name(), self.cache_params()
        dim = feature_dim(self.arch.lower(), self.tap_)
        cache = self._cache()
        X_out = np.full((len(paths), dim), np.nan)
        todo: list[int] = []
        digests: dict[int, str] = {}
        self.cache_hits_, self.computed_ = 0, 0
        for i, p in enumerate(paths):
            try:
                digests[i] = file_digest(p)
            except OSError as exc:
                self.failures_[p] = f"I/O error: {exc}" if os.path.exists(p) else "file not found"
                continue
            vec = cache.get(cache.key(name, CNN_FEATURES_VERSION, params, p)) if cache.enabled else None
            if vec is not None and vec.shape == (dim,):
                X_out[i] = vec
                self.cache_hits_ += 1
            else:
                todo.append(i)
        for j, vec, err in self._compute([paths[i] for i in todo], [digests[i] for i in todo]):
            gi = todo[j]
            if err is not None:
                self.failures_[paths[gi]] = err
                continue
            X_out[gi] = vec
            self.computed_ += 1
            if cache.enabled:
                cache.put(cache.key(name, CNN_FEATURES_VERSION, params, paths[gi]), vec)
        return X_out

    def _compute(self, paths: list[str], digests: list[str]) -> Iterator[tuple[int, np.ndarray | None, str | None]]:
        if self.scheduler is not None and paths:
            yield from self._compute_on_cluster(paths, digests)
            return
        net = self._net()
        yield from crop_outputs(net, paths, digests, n_crops=int(self.n_crops), size=self.size_, seed=int(self.seed),
                                upsample_small=bool(self.upsample_small), batch_size=int(self.batch_size),
                                device=self.device_, amp=bool(self.amp), num_workers=self.num_workers,
                                progress=self.progress, desc=f"cnn-{self.arch}")

    def _compute_on_cluster(self, paths: list[str], digests: list[str]):
        """The same outputs computed on a Dask cluster (``scheduler``): one task per :data:`CLUSTER_CHUNK` images,
        one network per worker process (built on the worker's first task); the cache is written here."""
        from features.extraction import map_on_scheduler

        local = type(self)(**{**self.get_params(deep=False), "scheduler": None, "cache_dir": None, "progress": False})
        step = CLUSTER_CHUNK
        tasks = [(local, paths[s:s + step], digests[s:s + step], s) for s in range(0, len(paths), step)]
        for out in map_on_scheduler(_cluster_chunk, tasks, self.scheduler):
            yield from out

    def __getstate__(self) -> dict:  # never pickle the network (joblib / clone of a fitted object)
        state = dict(self.__dict__)
        state.pop("net_", None)
        return state

    def set_params(self, **params: Any) -> "CNNFeatures":
        super().set_params(**params)
        self.net_ = self.ident_ = None          # rebuilt for the new parameters
        return self


_WORKER_NETS: dict[str, CNNFeatures] = {}
_WORKER_LOCK = threading.Lock()      # a worker with several threads builds its network once (seeded init)


def _cluster_chunk(task: tuple) -> list[tuple[int, np.ndarray | None, str | None]]:
    """Dask task of :meth:`CNNFeatures._compute_on_cluster`: the outputs of one chunk of images
    (indices offset to the caller's list), with the network kept per worker process and configuration."""
    est, paths, digests, start = task
    key = repr(sorted(est.get_params().items()))
    with _WORKER_LOCK:
        local = _WORKER_NETS.get(key)
        if local is None:
            _WORKER_NETS.clear()              # one configuration at a time per worker
            local = _WORKER_NETS[key] = est
            local._net()
    return [(start + j, vec, err) for j, vec, err in local._compute(paths, digests)]
