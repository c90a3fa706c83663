"""ImageNet backbones (torchvision) and where their weights come from.

``build_backbone(arch, weights)`` builds AlexNet, VGG16, ResNet50 or MobileNetV2 with
torchvision's model builders (always ``weights=None`` to the builder) and loads weights
from one of:

* a local state-dict file (plain ``state_dict`` or a checkpoint with a ``state_dict`` /
  ``model`` entry; the ``--weights ARCH=PATH`` option of the CLI).  Files holding a subset
  of the keys (e.g. ``features.*`` only) are loaded non-strictly and the layers left
  without weights are named in a warning; unexpected keys and shape mismatches are errors;
* ``"imagenet"``: torchvision's ImageNet file, resolved in this order (as torchvision
  itself would, plus an offline switch):

  1. torch's cache, ``$TORCH_HOME/hub/checkpoints/<torchvision's file name>``: the
     :data:`PREFERRED` weights first, then any other ImageNet file of the arch found there;
  2. torchvision's own download of the :data:`PREFERRED` weights enum
     (``WeightsEnum.get_state_dict(progress=True, check_hash=True)``, which saves the file in
     torch's cache), unless offline: ``offline=True`` or ``IQABENCH_OFFLINE=1`` in the
     environment (the CLI's ``--offline``).  Offline never touches the network;
  3. otherwise a :class:`WeightsNotFoundError` naming the three ways to provide them;

* a torchvision weights enum member, or its name (``"IMAGENET1K_V1"``, ``"DEFAULT"``,
  ``"MobileNet_V2_Weights.IMAGENET1K_V1"``): that file, from the cache or downloaded as above;
* ``"random"``: torchvision's random initialisation (only when asked explicitly).

A file in torch's cache must match the SHA-256 prefix in torchvision's file name (a
truncated download is an error, not silently wrong features).  The SHA-256 of the file
used is recorded (:class:`WeightsInfo`, :class:`ResolvedWeights`) for cache keys, run
metadata and table notes.

Initialisation is seeded (``seed``, default 0, on a forked RNG), so "random" weights
and layers a partial file leaves uninitialised are reproducible.

Input convention (all four archs): RGB in ``[0, 1]`` normalised with the ImageNet mean
and std of :mod:`deep._utils`, 224 x 224 crops (torchvision's AlexNet takes 224, where
the Caffe AlexNet of Kim et al. 2017 took 227).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlparse

import torch
from torch import nn

from features.cache import file_digest

from ._utils import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "ARCHS",
    "INPUT_SIZE",
    "PREFERRED",
    "ResolvedWeights",
    "WeightsError",
    "WeightsInfo",
    "WeightsNotFoundError",
    "build_backbone",
    "download_weights",
    "file_has_layer",
    "find_cached_weights",
    "is_offline",
    "normalize",
    "resolve_imagenet",
    "resolve_weights_file",
    "torch_cache_file",
    "weights_info",
]

ARCHS = ("alexnet", "vgg16", "resnet50", "mobilenet_v2")
INPUT_SIZE = {"alexnet": 224, "vgg16": 224, "resnet50": 224, "mobilenet_v2": 224}
#: torchvision weights fetched when none are given or cached: the original ImageNet training of
#: each architecture (the weights of Kim et al. 2017's era; torchvision's DEFAULT for ResNet50
#: and MobileNetV2 is a later recipe, IMAGENET1K_V2, used when it is the file found in the cache).
PREFERRED = {"alexnet": "IMAGENET1K_V1", "vgg16": "IMAGENET1K_V1", "resnet50": "IMAGENET1K_V1",
             "mobilenet_v2": "IMAGENET1K_V1"}
#: environment variable that forbids downloads (any of 1/true/yes/on)
OFFLINE_ENV = "IQABENCH_OFFLINE"
#: seconds a stalled download waits before failing (socket timeout)
DOWNLOAD_TIMEOUT_S = 60.0
# torchvision weights whose preprocessing is not the ImageNet mean/std used here.
_UNSUPPORTED = {("vgg16", "IMAGENET1K_FEATURES"): "expects BGR-like [0, 255] input with other constants"}
_HASH = re.compile(r"-([a-f0-9]+)\.")

WeightsSpec = Union[str, os.PathLike, Any, None]


class WeightsError(ValueError):
    """Weights that cannot be used for an arch (bad file, wrong keys or shapes)."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """Weights not available: names the ``--weights`` option, torch's cache path and the download."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's weights came from (used in cache keys and reports)."""

    arch: str
    source: str                    # file path, or "random"
    sha256: str | None             # of the weights file; None for random init
    missing: tuple[str, ...] = ()  # layers left randomly initialised
    seed: int = 0
    tv_name: str | None = None     # torchvision enum name when resolved through it

    @property
    def ident(self) -> str:
        """Identity of the weights for cache keys: the file's SHA-256, or random + init seed."""
        return self.sha256 if self.sha256 else f"random-seed{self.seed}"

    @property
    def pretrained(self) -> bool:
        return self.sha256 is not None

    def loaded(self, layer: str) -> bool:
        """Whether module ``layer`` (e.g. ``"classifier.1"``) got weights from the file."""
        return self.pretrained and layer not in self.missing


@dataclass(frozen=True)
class ResolvedWeights:
    """An ImageNet weights file found for an arch (see :func:`resolve_imagenet`).

    ``origin``: ``"--weights"`` (given by the user), ``"torch cache"`` or ``"download"``;
    ``complete``: the file holds every layer of torchvision's model (``False`` for a
    ``features.*``-only file, whose classifier layers are absent).
    """

    arch: str
    path: str
    sha256: str
    origin: str
    tv_name: str | None = None
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "path": self.path, "sha256": self.sha256, "origin": self.origin,
                "torchvision": self.tv_name, "layers": "all" if self.complete else "features only"}

    def describe(self) -> str:
        """One line for a table note: file name, torchvision name, completeness and SHA-256."""
        tv = f"torchvision {self.tv_name}, " if self.tv_name else ""
        part = "" if self.complete else "features.* only, "
        return f"{self.arch}: {os.path.basename(self.path)} ({tv}{part}SHA-256 {self.sha256})"


def _check_arch(arch: str) -> str:
    a = arch.lower().replace("-", "_")
    if a not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; supported: {', '.join(ARCHS)}")
    return a


def _builder(arch: str):
    import torchvision.models as tvm

    return getattr(tvm, arch)


def _weights_enum(arch: str):
    import torchvision.models as tvm

    return tvm.get_model_weights(arch)


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` when given, else whether ``IQABENCH_OFFLINE`` is set to 1/true/yes/on."""
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def torch_cache_file(weights: Any) -> Path:
    """Path of a torchvision weights enum's file in torch's cache (``$TORCH_HOME/hub/checkpoints``)."""
    name = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _resolve_enum(arch: str, spec: Any) -> Any | None:
    """The enum member ``spec`` names for ``arch`` (None when ``spec`` is not an enum name)."""
    enum_cls = _weights_enum(arch)
    if isinstance(spec, enum_cls):
        return spec
    if hasattr(spec, "url") and hasattr(spec, "meta"):  # another arch's enum
        raise WeightsError(f"{spec} are not {arch} weights (expected a member of {enum_cls.__name__})")
    if not isinstance(spec, str):
        return None
    name = spec
    if "." in name and name.split(".", 1)[0] == enum_cls.__name__:
        name = name.split(".", 1)[1]
    if name in enum_cls.__members__:
        return enum_cls[name]
    return None


def _preferred(arch: str) -> Any:
    return _weights_enum(arch)[PREFERRED[arch]]


def _missing_message(arch: str, paths: list[Path], reason: str) -> str:
    shown = " or ".join(str(p) for p in paths)
    return (f"no {arch} ImageNet weights ({reason}). Provide them in one of three ways: "
            f"(1) --weights {arch}=PATH (a local state dict); "
            f"(2) torchvision's file in torch's cache: {shown}; "
            f"(3) let torchvision download it (run without --offline / {OFFLINE_ENV}=1, with network access)")


def find_cached_weights(arch: str) -> Any | None:
    """The first of ``arch``'s torchvision ImageNet weights present in torch's cache
    (:data:`PREFERRED` first, then torchvision's DEFAULT, then the others)."""
    arch = _check_arch(arch)
    enum_cls = _weights_enum(arch)
    members = list(dict.fromkeys([_preferred(arch), enum_cls.DEFAULT, *enum_cls]))
    for m in members:
        if (arch, m.name) in _UNSUPPORTED:
            continue
        if torch_cache_file(m).is_file():
            return m
    return None


def download_weights(weights: Any, progress: bool = True) -> Path:
    """Download a torchvision weights enum's file into torch's cache with torchvision's own
    ``get_state_dict(progress=..., check_hash=True)``; returns the cached file.

    A stalled connection fails after :data:`DOWNLOAD_TIMEOUT_S` seconds; any failure is a
    :class:`WeightsNotFoundError` that names the other two ways to provide the file.
    """
    import socket

    arch = _arch_of_enum(weights)
    path = torch_cache_file(weights)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        weights.get_state_dict(progress=progress, check_hash=True)
    except Exception as exc:
        raise WeightsNotFoundError(_missing_message(
            arch, [path], f"download of {weights.url} failed: {type(exc).__name__}: {exc}")) from None
    finally:
        socket.setdefaulttimeout(old)
    if not path.is_file():
        raise WeightsNotFoundError(_missing_message(arch, [path], f"the download of {weights.url} left no file"))
    return path


def _arch_of_enum(weights: Any) -> str:
    for a in ARCHS:
        if isinstance(weights, _weights_enum(a)):
            return a
    raise WeightsError(f"{weights!r} is not a torchvision weights enum of {', '.join(ARCHS)}")


def _cached_or_download(arch: str, tv: Any, offline: bool | None, progress: bool) -> Path:
    path = torch_cache_file(tv)
    if path.is_file():
        return path
    if is_offline(offline):
        raise WeightsNotFoundError(_missing_message(arch, [path], "offline, and none in torch's cache"))
    return download_weights(tv, progress)


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model", "model_state"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict (parameter name -> tensor)")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _module_names(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(k.rsplit(".", 1)[0] for k in keys))


def _check_keys(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise WeightsError(f"{path}: {len(unexpected)} key(s) that torchvision's {arch} does not have, e.g. "
                           f"{', '.join(unexpected[:5])} (wrong architecture?)")
    bad = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in state if state[k].shape != own[k].shape]
    if bad:
        raise WeightsError(f"{path}: shape mismatch for {arch}: {'; '.join(bad[:5])}")


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> tuple[str, ...]:
    """Load ``state`` non-strictly after checking keys and shapes; returns the layers left as initialised."""
    own = model.state_dict()
    _check_keys(state, own, path, arch)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    model.load_state_dict(state, strict=False)
    layers = tuple(_module_names(missing))
    if layers:
        warnings.warn(f"{', '.join(layers)} not in {path}: left randomly initialised", UserWarning, stacklevel=3)
    return layers


def resolve_weights_file(arch: str, weights: WeightsSpec, *, offline: bool | None = None,
                         progress: bool = True) -> tuple[Path | None, Any | None, str | None]:
    """``(file, torchvision enum member or None, SHA-256)`` that ``weights`` designates for ``arch``;
    ``(None, None, None)`` for ``"random"``.  ``"imagenet"`` and enum names are looked up in
    torch's cache, then downloaded unless offline (see the module doc); torchvision's hash
    prefix is checked."""
    arch = _check_arch(arch)
    if weights is None:
        raise WeightsError(f"no weights given for {arch}: pass 'imagenet', a torchvision weights name, "
                           f"a state-dict path, or 'random' for random initialisation")
    if isinstance(weights, str) and weights.lower() == "random":
        return None, None, None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        tv = find_cached_weights(arch)
        if tv is None:
            tv = _preferred(arch)
            if is_offline(offline):
                enum_cls = _weights_enum(arch)
                paths = [torch_cache_file(m) for m in enum_cls if (arch, m.name) not in _UNSUPPORTED]
                raise WeightsNotFoundError(_missing_message(arch, paths, "offline, and none in torch's cache"))
    else:
        tv = _resolve_enum(arch, weights)
    if tv is not None:
        if (arch, tv.name) in _UNSUPPORTED:
            raise WeightsError(f"{arch} {tv.name} is not supported: {_UNSUPPORTED[(arch, tv.name)]}")
        path = _cached_or_download(arch, tv, offline, progress)
    else:
        if not isinstance(weights, (str, os.PathLike)):
            raise WeightsError(f"cannot interpret weights {weights!r} for {arch}")
        path = Path(os.path.expanduser(os.fspath(weights)))
        if not path.is_file():
            names = ", ".join(["'imagenet'", "'random'", *(repr(m) for m in _weights_enum(arch).__members__)])
            raise WeightsNotFoundError(f"weights file {path} not found (the value of weights / --weights "
                                       f"{arch}=PATH); other accepted values: {names}")
    sha = file_digest(path)
    m = _HASH.search(path.name)
    if tv is not None and m and not sha.startswith(m.group(1)):
        raise WeightsError(f"{path}: SHA-256 {sha[:12]}... does not match the {m.group(1)} in torchvision's "
                           f"file name (corrupt or partial download? delete it and run again)")
    return path, tv, sha


def resolve_imagenet(arch: str, given: str | os.PathLike | None = None, *, offline: bool | None = None,
                     progress: bool = True) -> ResolvedWeights:
    """ImageNet weights of ``arch`` for the benchmark: ``given`` (a ``--weights`` file), else torch's
    cache, else torchvision's download unless offline; else :class:`WeightsNotFoundError`.

    The file is read once to check that its keys and shapes fit torchvision's ``arch``
    (``complete`` says whether the classifier layers are there too).
    """
    arch = _check_arch(arch)
    if given is not None:
        path, tv, sha = resolve_weights_file(arch, os.fspath(given), offline=True)
        origin = "--weights"
    else:
        cached = find_cached_weights(arch)
        path, tv, sha = resolve_weights_file(arch, "imagenet", offline=offline, progress=progress)
        origin = "torch cache" if cached is not None else "download"
    assert path is not None and sha is not None
    memo = (arch, os.path.abspath(path), sha)
    if memo not in _CHECKED:
        state = _state_dict_from_file(path)
        with torch.random.fork_rng(devices=[]):
            own = _builder(arch)(weights=None).state_dict()
        _check_keys(state, own, path, arch)
        _CHECKED[memo] = all(k in state for k in own if not k.endswith("num_batches_tracked"))
    if tv is None:   # a --weights file that is torchvision's own file (its name and hash prefix)
        for m in _weights_enum(arch):
            h = _HASH.search(torch_cache_file(m).name)
            if torch_cache_file(m).name == path.name and h and sha.startswith(h.group(1)):
                tv = m
    return ResolvedWeights(arch, str(path), sha, origin, tv.name if tv is not None else None, _CHECKED[memo])


_CHECKED: dict[tuple[str, str, str], bool] = {}   # (arch, file, SHA-256) -> complete, within a process


def file_has_layer(path: Path, layer: str) -> bool:
    """Whether the state-dict file holds parameters of module ``layer`` (e.g. ``"classifier.1"``)."""
    state = _state_dict_from_file(Path(path))
    return any(k.startswith(layer + ".") for k in state)


def build_backbone(arch: str, weights: WeightsSpec = "imagenet", *, seed: int = 0, offline: bool | None = None,
                   progress: bool = True) -> nn.Module:
    """torchvision ``arch`` (ImageNet 1000-class layout) with ``weights`` (see module doc).

    Returns the model in eval mode with a :class:`WeightsInfo` attached as ``model.weights_info``.
    """
    arch = _check_arch(arch)
    path, tv, sha = resolve_weights_file(arch, weights, offline=offline, progress=progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = _builder(arch)(weights=None)
        if path is None:
            info = WeightsInfo(arch, "random", None, (), int(seed))
        else:
            missing = _load_into(model, _state_dict_from_file(path), path, arch)
            info = WeightsInfo(arch, str(path), sha, missing, int(seed), tv.name if tv is not None else None)
    model.eval()
    model.weights_info = info
    return model


def weights_info(model: nn.Module) -> WeightsInfo:
    info = getattr(model, "weights_info", None)
    if info is None:
        raise ValueError("model was not built by build_backbone (no weights_info)")
    return info


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 (or float in ``[0, 1]``) RGB -> ImageNet-normalised float32."""
    x = batch.float()
    if batch.dtype == torch.uint8:
        x = x / 255.0
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std

