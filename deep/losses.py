"""Losses and patch aggregations of the IQA CNNs (flat patch batches, see :mod:`deep.patches`).

* :func:`patchwise_l1` - Kang et al. 2014 / Bosse et al. 2018 Eq. 2: ``(1/N_p) sum_i |y_i - q_t|``
  (every patch regressed onto its image's score), averaged over the images of a batch.
* :func:`weighted_average` - Bosse et al. 2018 Eq. 3-5: ``alpha*_i = max(0, alpha_i) + eps``,
  ``p_i = alpha*_i / sum_j alpha*_j``, ``q = sum_i p_i y_i`` per image.
* :func:`weighted_l1` - Bosse et al. 2018 Eq. 6: ``|q - q_t|`` with ``q`` from Eq. 4 (the
  printed second line of Eq. 6 is a typesetting slip; the loss is the first line), averaged
  over the images of a batch.
* :func:`imagewise_l2` - Kim et al. 2017 Eq. 3 with the L2 norm: ``(g(aggr(...)) - S)^2``,
  averaged over the images of a batch.
* :func:`euclidean_loss` - Yang et al. 2019 "Euclidean loss" (Caffe's ``1/(2N) sum ||y - t||^2``).
* :func:`ranking_hinge_loss` - Yang et al. 2019 Eq. 1-2:
  ``1/(2N) sum_{i != j} max(0, alpha - delta(t_i >= t_j) (y_i - y_j))``, ``delta = +1 / -1``,
  over the pairs allowed by ``groups`` (same content) and ``exclude`` (not two patches of one image).
"""
from __future__ import annotations

import torch

from .segments import segment_mean, segment_sum

__all__ = ["patchwise_l1", "weighted_average", "weighted_l1", "imagewise_l2", "euclidean_loss",
           "ranking_hinge_loss", "BOSSE_EPS"]

# Stability term of Eq. 3 (the value of the deepIQA release; the paper does not print it).
BOSSE_EPS = 1e-6


def patchwise_l1(y: torch.Tensor, target: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
    """Eq. 2 of Bosse et al. (Kang et al.'s L1 objective): mean over each image's patches of
    ``|y_i - q_t|``, then mean over images (each image weighs the same)."""
    n = target.shape[0]
    err = (y.float().reshape(-1) - target.float()[image_index]).abs()
    return segment_mean(err, image_index, n).mean()


def weighted_average(y: torch.Tensor, alpha: torch.Tensor, image_index: torch.Tensor, n_images: int,
                     eps: float = BOSSE_EPS) -> torch.Tensor:
    """Weighted average patch aggregation, Bosse et al. Eq. 3-5 -> ``(n_images,)`` qualities."""
    a = torch.relu(alpha.float().reshape(-1)) + eps                     # Eq. 3
    num = segment_sum(a * y.float().reshape(-1), image_index, n_images)  # Eq. 4 numerator
    den = segment_sum(a, image_index, n_images)                         # Eq. 5 normaliser
    return num / den


def weighted_l1(y: torch.Tensor, alpha: torch.Tensor, target: torch.Tensor, image_index: torch.Tensor,
                eps: float = BOSSE_EPS) -> torch.Tensor:
    """Eq. 6: ``|q_hat - q_t|`` averaged over the images of the batch."""
    q = weighted_average(y, alpha, image_index, target.shape[0], eps)
    return (q - target.float()).abs().mean()


def imagewise_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Kim et al. Eq. 3 (L2): mean squared error of image-wise predictions."""
    return ((pred.float().reshape(-1) - target.float().reshape(-1)) ** 2).mean()


def euclidean_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Caffe ``EuclideanLoss``: ``1/(2N) sum_n ||pred_n - target_n||^2`` (N = rows)."""
    p = pred.float().reshape(pred.shape[0], -1)
    t = target.float().reshape(target.shape[0], -1)
    return ((p - t) ** 2).sum() / (2.0 * p.shape[0])


def ranking_hinge_loss(pred: torch.Tensor, target: torch.Tensor, margin: float,
                       groups: torch.Tensor | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Pair-wise ranking hinge loss, Yang et al. Eq. 1-2.

    For every ordered pair ``i != j`` (restricted to ``groups[i] == groups[j]`` when given, and
    to ``exclude[i] != exclude[j]`` when given, e.g. the image index of patches so that two
    patches of one image do not form a pair), ``delta = +1`` if ``t_i >= t_j`` else ``-1`` and
    the term is ``max(0, margin - delta (y_i - y_j))``; the sum is divided by ``2N`` (N = batch
    size: rows of ``pred``).
    """
    y = pred.float().reshape(-1)
    t = target.float().reshape(-1)
    n = y.shape[0]
    delta = torch.where(t[:, None] >= t[None, :], 1.0, -1.0).to(y)
    terms = torch.relu(margin - delta * (y[:, None] - y[None, :]))
    mask = ~torch.eye(n, dtype=torch.bool, device=y.device)
    if groups is not None:
        g = groups.reshape(-1).to(y.device)
        mask &= g[:, None] == g[None, :]
    if exclude is not None:
        e = exclude.reshape(-1).to(y.device)
        mask &= e[:, None] != e[None, :]
    return (terms * mask).sum() / (2.0 * n)
