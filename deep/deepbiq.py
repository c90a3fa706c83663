"""DeepBIQ (Bianco, Celona, Napoletano, Schettini): a CNN fine-tuned on five quality classes,
its features regressed by an SVR, predictions average-pooled over crops.

From paper 003 ("CNN-based blind IQA building blocks", Bianco et al.; DeepBIQ is their
ref. [3], "On the use of deep learning for blind image quality assessment", SIViP 2018):

* the CNN (CaffeNet, i.e. AlexNet, pre-trained for recognition) is fine-tuned "for initially
  categorizing image sub-regions in terms of image quality according to the standard 5-point
  ACR scale": the class labels come from "crisp partitioning the MOS into five disjoint sets".
  Here: the range ``[min, max]`` of the training scores (higher is better) is split into five
  equal intervals, class 0 = bad ... 4 = excellent (:func:`acr_classes`);
* the last fully connected layer is replaced by a new, randomly initialised 5-way layer and
  the network is trained on the sub-regions (random crops at the network's input size, each
  inheriting its image's class) with the cross-entropy loss;
* "the method exploits the previously learned deep features to fed a support vector
  regressor (SVR)": the features are the input of the new layer (AlexNet: fc7 after its
  ReLU, 4096-d; MobileNetV2: the global pool, 1280-d), the SVR has a linear kernel
  (DeepBIQ) and is trained on crop features, each crop with its image's score;
* "the best aggregation approach is the average prediction pooling": an image's score is
  the mean of the SVR's predictions on its crops.  With a linear SVR this is exactly the SVR
  applied to the mean crop feature, which is how it is computed;
* 30 random crops per image, for training and testing: DeepBIQ's setting as we read the
  original paper (paper 003's Fig. 3 shows the correlation rising with the number of
  sub-regions; its values are not in the text we have).  Crops are ``crop_size`` (the
  backbone's 224; CaffeNet took 227).

Implementation choices where the papers are silent (stated, not taken from them): the
fine-tuning solver is Kim et al.'s (SGD, learning rate 1e-3, momentum 0.9, weight decay
5e-4, batch 48 crops; :class:`deep.finetune.FineTunedCNN`), at most 20 epochs with early
stopping (patience 3) on a content-disjoint validation split of the training records, whose
metric is the SROCC of the image-level expected class ``sum_k k p_k`` (mean over 25 test
crops); the linear SVR (scikit-learn ``LinearSVR``, epsilon-insensitive loss, on
standardised features and z-scored scores) has its ``C`` chosen by ``GroupKFold`` over
images within the training records; it is trained on ``svr_crops`` of each image's crops
(10 by default, to keep 2000 images x 4096-d features under 1 GB; the test uses all 30).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from features.extraction import paths_of

from .finetune import HOLD_BYTES, FineTunedCNN, _prep, _Tap
from .patches import targets_from_records

__all__ = ["DeepBIQ", "acr_classes", "N_CLASSES"]

N_CLASSES = 5
DEEPBIQ_EPOCHS = 20


def acr_classes(scores: np.ndarray, lo: float | None = None, hi: float | None = None,
                n_classes: int = N_CLASSES) -> np.ndarray:
    """ACR class of each score (higher is better): ``[lo, hi]`` split into ``n_classes`` equal
    intervals, 0 = bad ... ``n_classes - 1`` = excellent; ``hi`` falls in the top class."""
    s = np.asarray(scores, dtype=np.float64)
    lo = float(np.min(s)) if lo is None else float(lo)
    hi = float(np.max(s)) if hi is None else float(hi)
    if not hi > lo:
        return np.zeros(len(s), dtype=np.int64)
    k = np.floor((s - lo) / (hi - lo) * n_classes).astype(np.int64)
    return np.clip(k, 0, n_classes - 1)


class DeepBIQ(FineTunedCNN):
    """DeepBIQ with the benchmark's method contract (``fit(records)`` / ``predict(records)``).

    Parameters as :class:`~deep.finetune.FineTunedCNN` (defaults: 30 training and test crops,
    at most 20 epochs, patience 3, the network's own dropout) plus ``svr_crops`` (crops per
    training image given to the SVR), ``svr_C`` (grid of ``C``) and ``svr_epsilon``.
    """

    n_outputs = N_CLASSES

    def __init__(self, arch: str = "alexnet", weights: Any = "imagenet", *, head: str | None = None,
                 epochs: int | None = DEEPBIQ_EPOCHS, lr: float = 1e-3, batch_size: int = 48,
                 momentum: float = 0.9, weight_decay: float = 5e-4, loss: str = "ce",
                 dropout: float | None = None, n_train_crops: int | None = 30, n_test_crops: int = 30,
                 crop_size: int | None = None, val_fraction: float = 0.1, patience: int | None = 3,
                 svr_crops: int = 10, svr_C: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0), svr_epsilon: float = 0.1,
                 seed: int = 0, device: str | None = None, amp: bool = True, work_dir: Any = None,
                 num_workers: int | None = None, upsample_small: bool = False, progress: bool = False,
                 offline: bool | None = None, hold_bytes: int | None = HOLD_BYTES):
        super().__init__(arch, weights, head=head, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                         weight_decay=weight_decay, loss=loss, dropout=dropout, n_train_crops=n_train_crops,
                         n_test_crops=n_test_crops, crop_size=crop_size, val_fraction=val_fraction,
                         patience=patience, seed=seed, device=device, amp=amp, work_dir=work_dir,
                         num_workers=num_workers, upsample_small=upsample_small, progress=progress,
                         offline=offline, hold_bytes=hold_bytes)
        self.svr_crops, self.svr_C, self.svr_epsilon = svr_crops, svr_C, svr_epsilon

    @staticmethod
    def _losses() -> tuple[str, ...]:
        return ("ce",)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return acr_classes(y, 0.0, 1.0)            # y is min-max scaled to [0, 1] over the training records

    def _loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        logits = model(_prep(batch["patches"])).float()
        return nn.functional.cross_entropy(logits, batch["target"].long())

    def _crop_score(self, out: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(out.float(), dim=1)
        return p @ torch.arange(p.shape[1], dtype=p.dtype, device=p.device)

    def fit(self, records: Any, y: Any = None) -> "DeepBIQ":
        from sklearn.model_selection import GridSearchCV, GroupKFold
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVR

        super().fit(records, y)                      # stage 1: fine-tune on the five ACR classes
        train_fail = dict(self.failures_)
        paths = paths_of(records)
        target = targets_from_records(records) if y is None else np.asarray(y, dtype=np.float64)
        k = max(1, min(int(self.svr_crops), int(self.n_test_crops)))
        feats, fails = self.crop_outputs(records, _Tap(self.model_).eval(), pool=None, desc="features", n_crops=k)
        train_fail.update(fails)
        use = [i for i, f in enumerate(feats)
               if f is not None and np.isfinite(target[i]) and paths[i] not in train_fail]
        if len(use) < 3:
            raise ValueError(f"only {len(use)} training images gave features; failures: {list(train_fail.items())[:5]}")
        X_arr = np.empty((len(use) * k, feats[use[0]].shape[1]), dtype=np.float64)   # crop-level samples
        for j, i in enumerate(use):
            X_arr[j * k:(j + 1) * k] = feats[i]
            feats[i] = None
        y = np.repeat(target[use], k)
        groups = np.repeat(np.asarray(use), k)                  # the crops of an image stay in one CV fold
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        pipe = Pipeline([("scale", StandardScaler()),
                         ("svr", LinearSVR(epsilon=self.svr_epsilon, dual="auto", max_iter=20000,
                                           random_state=int(self.seed)))])
        search = GridSearchCV(pipe, {"svr__C": list(self.svr_C)}, cv=GroupKFold(n_splits=max(2, min(5, len(use)))),
                              scoring="neg_mean_squared_error", error_score="raise")
        search.fit(X_arr, (y - self.y_mean_) / self.y_std_, groups=groups)
        self.svr_ = search.best_estimator_
        self.best_params_ = search.best_params_
        self.failures_ = train_fail
        return self

    def predict(self, records: Any) -> np.ndarray:
        self._check_fitted()
        if not hasattr(self, "svr_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this DeepBIQ has no SVR yet: call fit first")
        feats, fails = self.crop_outputs(records, _Tap(self.model_).eval(), pool="mean", desc="features")
        out = np.full(len(feats), np.nan)
        ok = [i for i, f in enumerate(feats) if f is not None]
        if ok:
            # linear SVR: the mean of the per-crop predictions = the prediction on the mean crop feature
            F = np.stack([feats[i] for i in ok])
            out[ok] = self.svr_.predict(F) * self.y_std_ + self.y_mean_
        self.failures_ = fails
        return out
