"""Deep transfer baselines: ImageNet CNN features + SVR, fine-tuned CNNs (Kim et al. 2017, Sec. V)
and DeepBIQ (Bianco et al.).

Weights (:func:`deep.backbones.resolve_imagenet`), in this order: ``RunContext.weights``
(``--weights ARCH=PATH``), torch's cache (``$TORCH_HOME/hub/checkpoints/``, torchvision's
file names), torchvision's own download unless offline (``--offline``,
``IQABENCH_OFFLINE=1``); else :class:`deep.backbones.WeightsNotFoundError` names the three
ways.  The runner resolves each backbone once per run (:func:`resolve_backbones`), records
the file and its SHA-256 in ``run.json``, in the prediction fingerprints and in a table note
(:func:`table_notes`).

Registered methods (suite "deep", group "NR deep"); the taps that need the classifier
layers (fc6/fc7) need torchvision's full file, and are reported as absent with a
``features.*``-only file:

=========================  ==========================================================
``mobilenet_v2_svr``       MobileNetV2 global-pool features (1280) + SVR
``alexnet_svr``            AlexNet conv5 globally pooled (256) + SVR: works with
                           ``features.*``-only weights (row label says conv5)
``alexnet_fc6_svr``        AlexNet fc6 (4096) + SVR, Kim et al.'s layer (full file)
``vgg16_svr``              VGG16 conv5 globally pooled (512) + SVR
``vgg16_fc6_svr``          VGG16 fc6 (4096) + SVR, Kim et al.'s AlexNet layer (full file)
``resnet50_svr``           ResNet50 global pool (2048) + SVR (Kim et al.)
``mobilenet_v2_ft``        MobileNetV2 fine-tuned (Kim et al.'s recipe)
``resnet50_ft``            ResNet50 fine-tuned (Kim et al.)
``alexnet_fc_ft``          AlexNet fine-tuned with its fc6/fc7 (Kim et al.; full file)
``alexnet_ft``             AlexNet conv5 -> global pool -> dropout -> regression,
                           fine-tuned (for ``features.*``-only weights)
``deepbiq``                DeepBIQ: AlexNet (CaffeNet) fine-tuned on 5 ACR classes,
                           fc7 + linear SVR, average prediction pooling (full file)
``deepbiq_mobilenet_v2``   DeepBIQ's recipe on MobileNetV2 (paper 003's DeepBIQ*,
                           ImageNet-pretrained backbones other than CaffeNet)
=========================  ==========================================================

SVR features use a fixed crop seed (0), not the split's seed, so the crops are a
function of the image and the feature cache is shared by every split; the SVR
hyper-parameters (C, epsilon; gamma = "scale", :data:`CNN_SVR_GRID`) are chosen within each
training split (``FeatureSVR``).

Presets (:func:`~benchmark.methods.base.deep_preset`; stated in the table note):

* features + SVR: Kim et al.'s 25 random 224 x 224 crops per image on a GPU and on a CPU
  (:data:`SVR_CROPS`; the CPU cost is measured by ``bench/bench_backbones.py``);
* fine-tuning (Kim et al.) and DeepBIQ: the papers' recipes, identical on a CPU (no short
  CPU schedule: a CPU row is the same method as a GPU row, only slower);
* quick (``RunContext.quick``, a smoke test of the code path, not the paper's numbers):
  5 crops of 96 x 96 for features; fine-tuning 1 epoch, 4 training crops of 64 x 64 per
  image, batch 16, 5 test crops; images smaller than the crop are upsampled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .base import MethodInfo, RunContext, deep_preset, get_method_info, register_method
from .regression import FeatureSVR

__all__ = ["resolve_weights", "resolve_backbones", "table_notes", "SVR_CROPS", "CNN_SVR_GRID", "QUICK_FEATURES",
           "QUICK_FINETUNE", "FEATURE_PRESETS", "FINETUNE_PRESETS", "DEEPBIQ_PRESETS"]

KIM = "Kim, Zeng, Ghadiyaram, Lee, Zhang, Bovik, 'Deep convolutional neural models for picture quality " \
      "prediction', IEEE Signal Processing Magazine 2017, Sec. V, Table III"
BIANCO = "Bianco, Celona, Napoletano, Schettini, 'CNN-based blind IQA building blocks' (features off the shelf " \
         "vs fine-tuning, average prediction pooling)"
DEEPBIQ_PAPER = "Bianco, Celona, Napoletano, Schettini, 'On the use of deep learning for blind image quality " \
                "assessment' (DeepBIQ), SIViP 2018; summarised in 'CNN-based blind IQA building blocks'"
REFERENCE = "torchvision ImageNet models; protocol reimplemented (no official release)"

#: SVR grid for CNN features: the RBF width only as scikit-learn's "scale", 1 / (D var X).  The hand-crafted
#: features' fixed gammas (0.01, 0.1; ``svr_grid``) make the kernel of D = 256...4096 standardised features
#: degenerate (exp(-2 gamma D) ~ 0, constant predictions), and the grouped-CV MSE picked one on synth
#: (MobileNetV2+SVR: SROCC 0.000 on every split).
CNN_SVR_GRID: dict[str, list] = {"svr__C": [0.1, 1.0, 10.0, 100.0], "svr__gamma": ["scale"],
                                 "svr__epsilon": [0.05, 0.1]}
#: crops per forward pass of the feature extractor (default 50): VGG16's conv activations at 50 crops of
#: 224 peak at 3.3 GB RSS on a CPU, 2.0 GB at 16 (bench/bench_backbones.py memory)
FEATURE_BATCH = {"vgg16": 16}
#: crops per image for CNN features (Kim et al., Sec. V: 25), by preset
SVR_CROPS = {"paper": 25, "cpu": 25, "quick": 5}
QUICK_FEATURES: dict[str, Any] = {"n_crops": 5, "crop_size": 96, "upsample_small": True}
QUICK_FINETUNE: dict[str, Any] = {"epochs": 1, "n_train_crops": 4, "n_test_crops": 5, "crop_size": 64,
                                  "batch_size": 16, "patience": None, "upsample_small": True}
FEATURE_PRESETS: dict[str, dict[str, Any]] = {"quick": QUICK_FEATURES, "cpu": {"n_crops": SVR_CROPS["cpu"]},
                                              "paper": {"n_crops": SVR_CROPS["paper"]}}
FINETUNE_PRESETS: dict[str, dict[str, Any]] = {"quick": QUICK_FINETUNE, "cpu": {}, "paper": {}}
DEEPBIQ_PRESETS: dict[str, dict[str, Any]] = {"quick": {**QUICK_FINETUNE, "n_train_crops": 4, "svr_crops": 2},
                                              "cpu": {}, "paper": {}}


def _norm_arch(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve_weights(arch: str, ctx: RunContext, need_full: str | None = None) -> str:
    """Path of ``arch``'s ImageNet weights for a method built with ``ctx`` (see module doc).

    ``need_full``: the method's name when it needs the classifier layers (fc6/fc7): a
    ``features.*``-only file is then a :class:`deep.backbones.WeightsError`.
    """
    from deep.backbones import WeightsError, resolve_imagenet

    given = {_norm_arch(k): v for k, v in (ctx.weights or {}).items()}
    r = resolve_imagenet(arch, given.get(arch), offline=ctx.offline, progress=bool(ctx.progress))
    if need_full and not r.complete:
        raise WeightsError(f"{need_full} needs {arch}'s classifier (fc) layers, which {r.path} does not hold "
                           f"(features.* only): give torchvision's full {arch} file (torch's cache or "
                           f"--weights {arch}=PATH)")
    return r.path


def resolve_backbones(archs: list[str], weights: dict[str, str] | None, offline: bool | None = None,
                      progress: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """Resolve each backbone once for a run: ``({arch: ResolvedWeights}, {arch: reason it is absent})``."""
    from deep.backbones import WeightsError, resolve_imagenet

    given = {_norm_arch(k): v for k, v in (weights or {}).items()}
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for arch in archs:
        try:
            found[arch] = resolve_imagenet(arch, given.get(arch), offline=offline, progress=progress)
        except (WeightsError, OSError) as exc:
            errors[arch] = f"{type(exc).__name__}: {exc}"
    return found, errors


def _describe(w: dict[str, Any]) -> str:
    tv = f"torchvision {w['torchvision']}, " if w.get("torchvision") else ""
    part = "features.* only, " if w.get("layers") == "features only" else ""
    return f"{os.path.basename(str(w['path']))} ({tv}{part}SHA-256 {w['sha256']})"


def table_notes(methods: list[str], labels: list[str], meta: dict[str, Any]) -> list[str]:
    """Notes for a table listing ``methods`` (with their row ``labels``): the ImageNet weights
    (file, torchvision name, SHA-256) and the crop preset of the rows that use a backbone."""
    weights = meta.get("weights") or {}
    preset = meta.get("deep_preset") or "paper"
    by_arch: dict[str, list[str]] = {}
    svr: list[str] = []
    for m, lab in zip(methods, labels):
        try:
            info = get_method_info(m)
        except KeyError:
            continue
        if info.backbone and info.backbone in weights:
            by_arch.setdefault(info.backbone, []).append(lab)
        if m in _SVR_NAMES:
            svr.append(lab)
    notes = [f"{', '.join(dict.fromkeys(labs))}: ImageNet weights {_describe(weights[a])}."
             for a, labs in by_arch.items()]
    if svr:
        n = SVR_CROPS.get(preset, SVR_CROPS["paper"])
        size = QUICK_FEATURES["crop_size"] if preset == "quick" else 224
        notes.append(f"{', '.join(dict.fromkeys(svr))}: SVR on the mean CNN feature of {n} random {size}x{size} "
                     f"crops per image ('{preset}' preset; Kim et al.: 25).")
    return notes


@dataclass(frozen=True)
class _Spec:
    name: str
    arch: str
    kind: str             # "svr" | "ft" | "deepbiq"
    layer: str | None     # tap (svr) or head (ft/deepbiq)
    label: str
    description: str
    needs_full: bool = False


def _factory(spec: _Spec):
    def factory(ctx: RunContext):
        preset = deep_preset(ctx)
        path = resolve_weights(spec.arch, ctx, spec.name if spec.needs_full else None)
        if spec.kind == "svr":
            from deep.features import CNNFeatures

            feats = CNNFeatures(arch=spec.arch, weights=path, tap=spec.layer, seed=0, device=ctx.device,
                                batch_size=FEATURE_BATCH.get(spec.arch, 50), scheduler=ctx.scheduler,
                                cache_dir=ctx.cache_dir, progress=bool(ctx.progress), offline=True,
                                **FEATURE_PRESETS[preset])
            return FeatureSVR(features=feats, kernel="rbf", quick=ctx.quick, n_jobs=ctx.n_jobs,
                              param_grid=None if ctx.quick else CNN_SVR_GRID)
        common: dict[str, Any] = dict(head=spec.layer, seed=ctx.seed, device=ctx.device, work_dir=ctx.work_dir,
                      progress=bool(ctx.progress), offline=True)
        if spec.kind == "ft":
            from deep.finetune import FineTunedCNN

            return FineTunedCNN(spec.arch, path, **common, **FINETUNE_PRESETS[preset])
        from deep.deepbiq import DeepBIQ

        return DeepBIQ(spec.arch, path, **common, **DEEPBIQ_PRESETS[preset])

    return factory


_REQ = ("torch", "torchvision")
_SPECS = [
    _Spec("mobilenet_v2_svr", "mobilenet_v2", "svr", "pool", "MobileNetV2+SVR",
          "MobileNetV2 (Sandler et al. 2018) global-pool features (1280-d), mean of 25 random 224 crops, RBF SVR"),
    _Spec("alexnet_svr", "alexnet", "svr", "conv5", "AlexNet-conv5+SVR",
          "AlexNet conv5 block (after pool5) globally average-pooled (256-d), mean of 25 crops, RBF SVR; "
          "Kim et al. used fc6 (see alexnet_fc6_svr)"),
    _Spec("alexnet_fc6_svr", "alexnet", "svr", "fc6", "AlexNet-fc6+SVR",
          "AlexNet fc6 after ReLU (4096-d), mean of 25 crops, RBF SVR (Kim et al.); needs full AlexNet weights",
          needs_full=True),
    _Spec("vgg16_svr", "vgg16", "svr", "conv5", "VGG16-conv5+SVR",
          "VGG16 conv5 block globally average-pooled (512-d), mean of 25 crops, RBF SVR"),
    _Spec("vgg16_fc6_svr", "vgg16", "svr", "fc6", "VGG16-fc6+SVR",
          "VGG16 fc6 after ReLU (4096-d, Kim et al.'s AlexNet layer), mean of 25 crops, RBF SVR; needs full "
          "VGG16 weights", needs_full=True),
    _Spec("resnet50_svr", "resnet50", "svr", "pool", "ResNet50+SVR",
          "ResNet50 global-pool features (2048-d), mean of 25 random 224 crops, RBF SVR (Kim et al.)"),
    _Spec("mobilenet_v2_ft", "mobilenet_v2", "ft", None, "MobileNetV2 fine-tuned",
          "MobileNetV2 with a dropout(0.5)+linear regression head, fine-tuned on 100 (30 on TID2013-sized "
          "databases) fixed crops/image, at most 6 epochs, early stopping (Kim et al.'s recipe)"),
    _Spec("resnet50_ft", "resnet50", "ft", None, "ResNet50 fine-tuned",
          "ResNet50 with a dropout(0.5)+linear regression head, fine-tuned at most 6 epochs (Kim et al.)"),
    _Spec("alexnet_fc_ft", "alexnet", "ft", "classifier", "AlexNet fine-tuned",
          "AlexNet with fc6/fc7 and a dropout(0.5)+linear regression layer for fc8, fine-tuned at most 8 epochs "
          "(Kim et al.); needs full AlexNet weights", needs_full=True),
    _Spec("alexnet_ft", "alexnet", "ft", "pool", "AlexNet-conv5 fine-tuned",
          "AlexNet conv layers + global pool + dropout(0.5)+linear, fine-tuned at most 8 epochs (Kim et al.'s "
          "recipe without their fc6/fc7, for features.*-only weights)"),
    _Spec("deepbiq", "alexnet", "deepbiq", "classifier", "DeepBIQ (AlexNet)",
          "AlexNet (CaffeNet) fine-tuned on 5 ACR classes (MOS range split in 5), fc7 features of 30 crops, "
          "linear SVR, average prediction pooling (Bianco et al.); needs full AlexNet weights", needs_full=True),
    _Spec("deepbiq_mobilenet_v2", "mobilenet_v2", "deepbiq", None, "DeepBIQ* (MobileNetV2)",
          "DeepBIQ's recipe on ImageNet MobileNetV2: fine-tuned on 5 ACR classes, global-pool features of 30 "
          "crops, linear SVR, average prediction pooling"),
]
_SVR_NAMES = frozenset(s.name for s in _SPECS if s.kind == "svr")

for _s in _SPECS:
    _paper = KIM if _s.kind == "svr" else f"{KIM}; {BIANCO}" if _s.kind == "ft" else DEEPBIQ_PAPER
    register_method(MethodInfo(name=_s.name, factory=_factory(_s), kind="NR", group="NR deep", suite="deep",
                               higher_better=True, trainable=True,
                               trains_network=_s.kind != "svr", label=_s.label, paper=_paper,
                               reference=REFERENCE, requires=_REQ, description=_s.description, backbone=_s.arch,
                               # fine-tuning: 100 (30) crops of 224 per image, 6-20 epochs: hours per split on
                               # 2 CPU cores; VGG16 features of 25 crops: 2.7 s per image on 2 cores (15.5 min
                               # for synth's 350 images, 31 CPU-min, beyond the 10 CPU-min budget of README
                               # "Trained CNNs on a CPU"); a run without a GPU leaves them out unless --cpu-train
                               cpu_default=_s.kind == "svr" and _s.arch != "vgg16"))
