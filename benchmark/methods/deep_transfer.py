"""Deep transfer baselines: ImageNet CNN features + SVR, and fine-tuned CNNs (Kim et al. 2017, Sec. V).

Weights come from ``RunContext.weights`` (``--weights ARCH=PATH``), else from torch's
cache (``$TORCH_HOME/hub/checkpoints/``, torchvision's file names); nothing is ever
downloaded.  When neither exists the factory raises
:class:`deep.backbones.WeightsNotFoundError` naming the expected paths, and the runner
reports the method as failed.

Registered methods (suite "deep", group "NR deep"):

====================  =========================================================
``mobilenet_v2_svr``  MobileNetV2 global-pool features (1280) + SVR
``alexnet_svr``       AlexNet conv5 globally pooled (256) + SVR: works with
                      ``features.*``-only weights (Kim et al. used fc6)
``alexnet_fc6_svr``   AlexNet fc6 (4096) + SVR, Kim et al.'s layer: needs the
                      classifier weights (full torchvision file)
``vgg16_svr``         VGG16 conv5 globally pooled (512) + SVR
``resnet50_svr``      ResNet50 global pool (2048) + SVR (Kim et al.)
``mobilenet_v2_ft``   MobileNetV2 fine-tuned (Kim et al.'s recipe)
``resnet50_ft``       ResNet50 fine-tuned (Kim et al., 6 epochs)
``alexnet_ft``        AlexNet conv5 -> global pool -> dropout -> regression,
                      fine-tuned (Kim et al. fine-tuned fc6/fc7 too, which a
                      features-only file cannot provide)
====================  =========================================================

SVR features use a fixed crop seed (0), not the split's seed, so the crops are a
function of the image and the feature cache is shared by every split; the SVR
hyper-parameters are chosen within each training split (``FeatureSVR``).

Presets (:func:`~benchmark.methods.base.deep_preset`): on a GPU the paper's settings
(25 crops of 224 for features; fine-tuning with Kim et al.'s epochs and crops). On a CPU
(``"cpu"``, so that a 2-core run finishes): 5 crops of 224 for features; fine-tuning
3 epochs on 4 training crops of 224 per image, batch 16, 5 test crops.  Quick preset
(``RunContext.quick``, a CPU smoke test, not the paper's numbers): 5 crops of 96 x 96 for
features; fine-tuning 1 epoch, 4 training crops of 64 x 64 per image (64 is about
AlexNet's smallest input), batch 16, 5 test crops; images smaller than the crop are
upsampled.
"""
from __future__ import annotations

import os
from typing import Any

from .base import MethodInfo, RunContext, deep_preset, register_method
from .regression import FeatureSVR

__all__ = ["resolve_weights", "QUICK_FEATURES", "QUICK_FINETUNE", "CPU_FEATURES", "CPU_FINETUNE"]

KIM = "Kim, Zeng, Ghadiyaram, Lee, Zhang, Bovik, 'Deep convolutional neural models for picture quality " \
      "prediction', IEEE Signal Processing Magazine 2017, Sec. V, Table III"
BIANCO = "Bianco, Celona, Napoletano, Schettini, 'CNN-based blind IQA building blocks' (features off the shelf " \
         "vs fine-tuning, average prediction pooling)"
REFERENCE = "torchvision ImageNet models; protocol reimplemented (no official release)"

QUICK_FEATURES: dict[str, Any] = {"n_crops": 5, "crop_size": 96, "upsample_small": True}
QUICK_FINETUNE: dict[str, Any] = {"epochs": 1, "n_train_crops": 4, "n_test_crops": 5, "crop_size": 64,
                                  "batch_size": 16, "patience": None, "upsample_small": True}
CPU_FEATURES: dict[str, Any] = {"n_crops": 5}
CPU_FINETUNE: dict[str, Any] = {"epochs": 3, "n_train_crops": 4, "n_test_crops": 5, "batch_size": 16}
_FEATURE_PRESETS = {"quick": QUICK_FEATURES, "cpu": CPU_FEATURES, "paper": {}}
_FINETUNE_PRESETS = {"quick": QUICK_FINETUNE, "cpu": CPU_FINETUNE, "paper": {}}


def _norm_arch(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve_weights(arch: str, ctx: RunContext) -> Any:
    """``ctx.weights[arch]`` (a path), else torchvision's ImageNet file in torch's cache (an enum member).

    Raises :class:`deep.backbones.WeightsNotFoundError` naming what was looked for.
    """
    from deep.backbones import WeightsNotFoundError, find_cached_weights, torch_cache_file
    import torchvision.models as tvm

    given = {_norm_arch(k): v for k, v in (ctx.weights or {}).items()}
    if arch in given:
        path = os.path.expanduser(os.fspath(given[arch]))
        if not os.path.isfile(path):
            raise WeightsNotFoundError(f"--weights {arch}={path}: file not found")
        return path
    cached = find_cached_weights(arch)
    if cached is None:
        expected = ", ".join(str(torch_cache_file(m)) for m in tvm.get_model_weights(arch))
        raise WeightsNotFoundError(f"no {arch} ImageNet weights offline: pass --weights {arch}=PATH (a state "
                                   f"dict) or put torchvision's file in torch's cache ({expected})")
    return cached


def _svr(arch: str, tap: str | None):
    def factory(ctx: RunContext) -> FeatureSVR:
        from deep.features import CNNFeatures

        params: dict[str, Any] = dict(_FEATURE_PRESETS[deep_preset(ctx)])
        feats = CNNFeatures(arch=arch, weights=resolve_weights(arch, ctx), tap=tap, seed=0, device=ctx.device,
                            cache_dir=ctx.cache_dir, progress=bool(ctx.progress), **params)
        return FeatureSVR(features=feats, kernel="rbf", quick=ctx.quick, n_jobs=ctx.n_jobs)

    return factory


def _finetune(arch: str, head: str | None):
    def factory(ctx: RunContext):
        from deep.finetune import FineTunedCNN

        params: dict[str, Any] = dict(_FINETUNE_PRESETS[deep_preset(ctx)])
        return FineTunedCNN(arch, resolve_weights(arch, ctx), head=head, seed=ctx.seed, device=ctx.device,
                            work_dir=ctx.work_dir, progress=bool(ctx.progress), **params)

    return factory


_REQ = ("torch", "torchvision")

_SVR = [
    ("mobilenet_v2_svr", "mobilenet_v2", None, "MobileNetV2+SVR",
     "MobileNetV2 (Sandler et al. 2018) global-pool features (1280-d), mean of 25 random 224 crops, RBF SVR"),
    ("alexnet_svr", "alexnet", "conv5", "AlexNet-conv5+SVR",
     "AlexNet conv5 block (after pool5) globally average-pooled (256-d), mean of 25 crops, RBF SVR; "
     "Kim et al. used fc6 (see alexnet_fc6_svr)"),
    ("alexnet_fc6_svr", "alexnet", "fc6", "AlexNet-fc6+SVR",
     "AlexNet fc6 after ReLU (4096-d), mean of 25 crops, RBF SVR (Kim et al.); needs full AlexNet weights"),
    ("vgg16_svr", "vgg16", "conv5", "VGG16-conv5+SVR",
     "VGG16 conv5 block globally average-pooled (512-d), mean of 25 crops, RBF SVR"),
    ("resnet50_svr", "resnet50", None, "ResNet50+SVR",
     "ResNet50 global-pool features (2048-d), mean of 25 random 224 crops, RBF SVR (Kim et al.)"),
]
_FT = [
    ("mobilenet_v2_ft", "mobilenet_v2", None, "MobileNetV2 fine-tuned",
     "MobileNetV2 with a dropout(0.5)+linear regression head, fine-tuned on 100 crops/image (Kim et al.'s recipe)"),
    ("resnet50_ft", "resnet50", None, "ResNet50 fine-tuned",
     "ResNet50 with a dropout(0.5)+linear regression head, fine-tuned 6 epochs (Kim et al.)"),
    ("alexnet_ft", "alexnet", "pool", "AlexNet-conv5 fine-tuned",
     "AlexNet conv layers + global pool + dropout(0.5)+linear, fine-tuned 8 epochs (Kim et al.'s recipe; "
     "their fc6/fc7 are not used)"),
]

for _name, _arch, _tap, _label, _desc in _SVR:
    register_method(MethodInfo(name=_name, factory=_svr(_arch, _tap), kind="NR", group="NR deep", suite="deep",
                               higher_better=True, trainable=True, label=_label, paper=KIM, reference=REFERENCE,
                               requires=_REQ, description=_desc))
for _name, _arch, _head, _label, _desc in _FT:
    register_method(MethodInfo(name=_name, factory=_finetune(_arch, _head), kind="NR", group="NR deep",
                               suite="deep", higher_better=True, trainable=True, trains_network=True, label=_label,
                               paper=f"{KIM}; {BIANCO}", reference=REFERENCE, requires=_REQ, description=_desc))
