"""IQA CNNs trained from scratch on the benchmark's training split (``deep/models``).

Registered methods (suite "deep"; trainable; predictions higher-is-better on the training
score scale):

================================  =======================================================  ====
``kang_cnn``                      Kang et al. 2014 patch CNN (local normalisation)         NR
``deepiqa_nr_patchwise``          Bosse et al. 2018 DIQaM-NR (Eq. 1-2)                     NR
``deepiqa_nr_weighted``           Bosse et al. 2018 WaDIQaM-NR (Eq. 3-6)                   NR
``deepiqa_fr_patchwise``          DIQaM-FR, fusion concat(f_r, f_d, f_r - f_d)             FR
``deepiqa_fr_weighted``           WaDIQaM-FR, fusion concat(f_r, f_d, f_r - f_d)           FR
``deepiqa_fr_{patchwise,weighted}_diff``    the same with fusion f_r - f_d (Table IV)      FR
``deepiqa_fr_{patchwise,weighted}_concat``  the same with fusion concat(f_r, f_d) (Table IV)  FR
``kim_cnn``                       Kim et al. 2017 image-wise CNN (Sec. V)                  NR
``yang_siamese``                  Yang et al. 2019 Siamese ranking + quality attributes    NR
================================  =======================================================  ====

deepIQA rows predict from every non-overlapping 32x32 patch of a test image (the paper's
"complete set", reproducible); the papers' tables use ``N_p = 32`` random patches per image
(Bosse et al. Sec. IV-A), ``DeepIQA(n_predict_patches=32)``, a prediction-time setting.  The rows
``deepiqa_{nr,fr}_{patchwise,weighted}_np32`` test that way: they share the training runs of
their ``N_p = all`` row (``MethodInfo.checkpoints_of``: the runner gives them its checkpoint
folders, and ``n_predict_patches`` is not part of the run key), so a run with both trains each
network once.

Presets (each model's ``PRESETS``, chosen by :func:`~benchmark.methods.base.deep_preset`): on a
GPU each paper's recipe; without one the ``"cpu"`` preset, which trains until early stopping on
a content-disjoint validation split (smaller inputs or fewer patches than the papers: see the
README); ``RunContext.quick`` selects the tiny ``"quick"`` preset that only checks the plumbing.
Methods registered with ``cpu_default=False`` (every one but Kang's: measured by
``bench/learning_curves.py`` to need at least 10 CPU-minutes per split even on ``synth``, README
"Trained CNNs on a CPU") are left out of a run without a GPU unless ``--cpu-train`` is given.  Checkpoints go to
``RunContext.work_dir`` (resumable), ``RunContext.device`` / ``seed`` are passed through.  The
Yang method's paper preset uses an ImageNet VGG16 core: weights from
``RunContext.weights["vgg16"]`` or torch's cache (see ``deep_transfer.resolve_weights``).
"""
from __future__ import annotations

from typing import Any

from .base import MethodInfo, RunContext, deep_preset as preset_for, register_method

__all__ = ["KANG", "BOSSE", "KIM", "YANG", "preset_for"]

KANG = ("Kang, Ye, Li, Doermann, 'Convolutional neural networks for no-reference image quality assessment', "
        "CVPR 2014 (as described in Kim et al. 2017 and the CNN NR-IQA survey)")
BOSSE = ("Bosse, Maniry, Mueller, Wiegand, Samek, 'Deep neural networks for no-reference and full-reference "
         "image quality assessment', IEEE TIP 27(1) 2018")
KIM = ("Kim, Zeng, Ghadiyaram, Lee, Zhang, Bovik, 'Deep convolutional neural models for picture quality "
       "prediction', IEEE Signal Processing Magazine 2017, Sec. V (image-wise CNN)")
YANG = ("Yang, Peltoketo, Kamarainen, 'CNN-based cross-dataset no-reference image quality assessment', "
        "ICCV Workshops 2019, Eq. 1-2 and Sec. 3.4")
#: random test patches per image of the ``_np32`` rows (Bosse et al. Sec. IV-A: N_p = 32)
NP_TEST = 32
REFERENCE = "reimplemented in PyTorch from the paper (deepIQA: https://github.com/dmaniry/deepIQA)"
_REQ = ("torch",)


def _common(ctx: RunContext) -> dict[str, Any]:
    return dict(quick=bool(ctx.quick), preset=preset_for(ctx), seed=int(ctx.seed), device=ctx.device,
                work_dir=ctx.work_dir, progress=bool(ctx.progress))


def _kang(ctx: RunContext):
    from deep.models.kang import KangCNN

    return KangCNN(**_common(ctx))


def _deepiqa(weighted: bool, fr: bool, fusion: str = "concat3", n_predict_patches: int | None = None):
    def factory(ctx: RunContext):
        from deep.models.bosse import DeepIQA

        return DeepIQA(weighted=weighted, fr=fr, fusion=fusion, n_predict_patches=n_predict_patches, **_common(ctx))

    return factory


def _kim(ctx: RunContext):
    from deep.models.kim import KimCNN

    return KimCNN(**_common(ctx))


def _yang(ctx: RunContext):
    from deep.models.yang import YangSiamese

    weights: Any = "imagenet"
    if preset_for(ctx) == "paper":   # the paper preset's VGG16 core needs ImageNet weights
        try:
            from .deep_transfer import resolve_weights
        except ImportError:
            resolve_weights = None  # type: ignore[assignment]
        if resolve_weights is not None:
            weights = resolve_weights("vgg16", ctx)
    return YangSiamese(weights=weights, cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, **_common(ctx))


_FUSION_TEXT = {"diff": "f_r - f_d", "concat": "concat(f_r, f_d)", "concat3": "concat(f_r, f_d, f_r - f_d)"}
_POOLING = {False: ("DIQaM", "mean patch aggregation, patch-wise MAE (Eq. 1-2)"),
            True: ("WaDIQaM", "weighted average patch aggregation (Eq. 3-6)")}

# (name, factory, kind, group, label, paper, description, trained by default without a GPU)
_METHODS = [
    ("kang_cnn", _kang, "NR", "NR deep", "Kang CNN", KANG,
     "one conv layer (50 7x7) + max/min pooling + FC-800 x2 on 32x32 locally normalised grey patches, L1 loss",
     True),
    ("deepiqa_nr_patchwise", _deepiqa(False, False), "NR", "NR deep", "deepIQA NR (patchwise)", BOSSE,
     "10 conv / 5 pool VGG-style net on 32x32 RGB patches, mean patch aggregation, patch-wise MAE (Eq. 1-2)",
     False),
    ("deepiqa_nr_weighted", _deepiqa(True, False), "NR", "NR deep", "WaDIQaM-NR", BOSSE,
     "deepIQA with the weighted average patch aggregation branch (Eq. 3-6)", False),
]
for _weighted in (False, True):
    _short, _pool = _POOLING[_weighted]
    for _fusion in ("concat3", "diff", "concat"):
        _suffix = "" if _fusion == "concat3" else f"_{_fusion}"
        _METHODS.append((
            f"deepiqa_fr_{'weighted' if _weighted else 'patchwise'}{_suffix}", _deepiqa(_weighted, True, _fusion),
            "FR", "FR", f"{_short}-FR" + ("" if _fusion == "concat3" else f" ({_FUSION_TEXT[_fusion]})"), BOSSE,
            f"Siamese deepIQA on co-located reference/distorted patches, fusion {_FUSION_TEXT[_fusion]}"
            f"{' (the paper' + chr(39) + 's choice)' if _fusion == 'concat3' else ' (Table IV)'}, {_pool}", False))
#: the N_p = 32 rows -> the all-patches row whose training runs (checkpoints) they share
_CHECKPOINTS_OF: dict[str, str] = {}
for _fr in (False, True):
    for _weighted in (False, True):
        _base = f"deepiqa_{'fr' if _fr else 'nr'}_{'weighted' if _weighted else 'patchwise'}"
        _CHECKPOINTS_OF[f"{_base}_np32"] = _base
        _METHODS.append((
            f"{_base}_np32", _deepiqa(_weighted, _fr, n_predict_patches=NP_TEST), "FR" if _fr else "NR",
            "FR" if _fr else "NR deep", f"{_POOLING[_weighted][0]}-{'FR' if _fr else 'NR'} (N_p = {NP_TEST})", BOSSE,
            f"the network of {_base} (the same training run, its checkpoint reused) tested on N_p = {NP_TEST} "
            f"random 32x32 patches per image (Sec. IV-A, the papers' tables) instead of every non-overlapping patch",
            False))
_METHODS += [
    ("kim_cnn", _kim, "NR", "NR deep", "Image-wise CNN (Kim)", KIM,
     "8 conv (3x3) + global average + FC-128 x2 + FC-1 (~0.4 M params), image-wise L2 loss (Eq. 3), flips", False),
    ("yang_siamese", _yang, "NR", "NR deep", "Siamese rank+attr (Yang)", YANG,
     "Siamese core (VGG16; Kim CNN in the CPU presets) trained patch-wise, Euclidean + ranking hinge loss on "
     "same-content pairs, S3/tone/colourfulness attribute heads (lambda 2:1)", False),
]

for _name, _factory, _kind, _group, _label, _paper, _desc, _cpu in _METHODS:
    register_method(MethodInfo(name=_name, factory=_factory, kind=_kind, group=_group, suite="deep",
                               higher_better=True, trainable=True, trains_network=True, label=_label, paper=_paper,
                               reference=REFERENCE, requires=_REQ, description=_desc, cpu_default=_cpu,
                               checkpoints_of=_CHECKPOINTS_OF.get(_name)))
