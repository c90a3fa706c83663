"""FSIM / FSIMc (Zhang, Zhang, Mou, Zhang 2011), as in the authors' ``FeatureSIM.m``.

Phase congruency is ``phasecong2`` of that release (P. Kovesi's code as customised by
the FSIM authors): log-Gabor filters, 4 scales (minimum wavelength 6, factor 2,
sigma_f/f0 = 0.55) x 4 orientations (angular sigma = pi/4/1.2), noise threshold
``k = 2`` rescaled by 1/1.7, and PC = sum of thresholded energy / sum of amplitudes.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import fft as sp_fft

from ..imageio import ImageError
from ..matlab import box_mean, conv2, round_half_away
from ._filters import prepare_pair, raise_if_not_finite
from .registry import register_metric

__all__ = ["fsim", "phase_congruency"]

# FeatureSIM.m constants
T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
SCHARR_X = np.array([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 16.0
SCHARR_Y = SCHARR_X.T.copy()
# RGB -> YIQ rows used by FeatureSIM.m (on [0, 255], not rounded)
YIQ = np.array([[0.299, 0.587, 0.114],
                [0.596, -0.274, -0.322],
                [0.211, -0.523, 0.312]])
# phasecong2 constants
N_SCALE, N_ORIENT, MIN_WAVELENGTH, MULT, SIGMA_ON_F = 4, 4, 6.0, 2.0, 0.55
D_THETA_ON_SIGMA, K_NOISE, EPSILON = 1.2, 2.0, 1e-4


def _freq_grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised frequency coordinates (x, y) in [-0.5, 0.5], phasecong2 convention."""
    def axis(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / max(n - 1, 1)
        return np.arange(-n / 2, n / 2) / n

    return np.meshgrid(axis(cols), axis(rows))


def _filter_bank(rows: int, cols: int) -> list[list[np.ndarray]]:
    """``bank[o][s]``: log-Gabor x angular spread, 0 frequency at the corner (ifftshifted)."""
    x, y = _freq_grid(rows, cols)
    radius = np.sqrt(x * x + y * y)
    theta = np.arctan2(-y, x)
    lowpass = np.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** (2 * 15)))   # lowpassfilter(.45, 15)
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    radius[0, 0] = 1.0
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    log_gabor = []
    for s in range(N_SCALE):
        fo = 1.0 / (MIN_WAVELENGTH * MULT ** s)
        lg = np.exp(-(np.log(radius / fo)) ** 2 / (2.0 * np.log(SIGMA_ON_F) ** 2)) * lowpass
        lg[0, 0] = 0.0
        log_gabor.append(lg)
    theta_sigma = np.pi / N_ORIENT / D_THETA_ON_SIGMA
    bank = []
    for o in range(N_ORIENT):
        angle = o * np.pi / N_ORIENT
        ds = sin_t * np.cos(angle) - cos_t * np.sin(angle)
        dc = cos_t * np.cos(angle) + sin_t * np.sin(angle)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread = np.exp(-dtheta ** 2 / (2.0 * theta_sigma ** 2))
        bank.append([lg * spread for lg in log_gabor])
    return bank


@functools.lru_cache(maxsize=4)
def _bank_constants(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image-independent parts of ``phasecong2`` for one size, computed once per size.

    Returns the filters ``(N_ORIENT, N_SCALE, rows, cols)``, ``em_n`` (energy of the
    smallest-scale filter) per orientation, and the noise-energy factor
    ``2 sum_s A_s^2 + 4 sum_{i<j} A_i A_j`` of the spatial filters per orientation.
    """
    bank = np.array(_filter_bank(rows, cols))
    spatial = np.real(sp_fft.ifft2(bank, axes=(-2, -1))) * np.sqrt(rows * cols)
    em_n = np.sum(bank[:, 0] ** 2, axis=(-2, -1))
    factor = np.empty(N_ORIENT)
    for o in range(N_ORIENT):
        sp = spatial[o]
        sum_an2 = sum(float(np.sum(f * f)) for f in sp)
        sum_aiaj = sum(float(np.sum(sp[i] * sp[j])) for i in range(N_SCALE - 1) for j in range(i + 1, N_SCALE))
        factor[o] = 2.0 * sum_an2 + 4.0 * sum_aiaj
    bank.setflags(write=False)
    return bank, em_n, factor


def phase_congruency(im: np.ndarray) -> np.ndarray:
    """Phase congruency map (``phasecong2`` of ``FeatureSIM.m``; Kovesi 1999, PC_2 measure).

    ``PC = sum_o max(E_o - T_o, 0) / sum_o sum_s A_so`` (FSIM paper Sec. III-A); the
    small epsilon is added to the local energy ``XEnergy`` as in the code.  The filters
    and the noise-model constants depend only on the size and are cached.
    """
    rows, cols = im.shape
    bank, em_n, factor = _bank_constants(rows, cols)
    spectrum = sp_fft.fft2(im)
    energy_all = np.zeros((rows, cols))
    an_all = np.zeros((rows, cols))
    for o in range(N_ORIENT):
        eo = sp_fft.ifft2(spectrum * bank[o], axes=(-2, -1))      # (N_SCALE, rows, cols)
        e, od = eo.real, eo.imag
        amp = np.abs(eo)
        an_all += amp.sum(axis=0)
        sum_e, sum_o = e.sum(axis=0), od.sum(axis=0)
        x_energy = np.sqrt(sum_e * sum_e + sum_o * sum_o) + EPSILON
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = np.sum(e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e), axis=0)
        # noise compensation from the smallest scale (median of |EO|^2, Rayleigh model)
        median_e2n = float(np.median(amp[0] ** 2))
        noise_power = (-median_e2n / np.log(0.5)) / em_n[o]
        tau = np.sqrt(noise_power * factor[o] / 2.0)
        threshold = (tau * np.sqrt(np.pi / 2.0) + K_NOISE * np.sqrt((2.0 - np.pi / 2.0) * tau ** 2)) / 1.7
        energy_all += np.maximum(energy - threshold, 0.0)
    return energy_all / an_all


def _similarity(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (2.0 * a * b + t) / (a * a + b * b + t)


def fsim(ref: np.ndarray, dist: np.ndarray, chromatic: bool = True) -> float:
    """FSIMc (``chromatic=True``) or FSIM (luminance only); 1 for identical images.

    Zhang et al., "FSIM: a feature similarity index for image quality assessment", IEEE
    TIP 20(8), 2011, Sec. III: similarity of phase congruency (T1 = 0.85) times similarity
    of gradient magnitude (T2 = 160), pooled with weight PC_m = max(PC1, PC2) (FSIM);
    FSIMc further multiplies by (S_I S_Q)^lambda, the I/Q chrominance similarities
    (T3 = T4 = 200), lambda = 0.03.

    Conventions (``FeatureSIM.m``): RGB -> YIQ with the code's coefficients on [0, 255]
    (not rounded); grey input is Y, with I = Q = 1 (so FSIMc == FSIM); automatic
    downsampling ``F = max(1, round(min(H, W) / 256))``: ``conv2(., ones(F)/F^2, 'same')``
    (zero padding) then every ``F``-th sample, applied to Y, I and Q; Scharr gradient
    ``[3 0 -3; 10 0 -10; 3 0 -3] / 16`` with ``conv2(..., 'same')`` (zero padding);
    phase congruency via FFT (periodic boundary), see :func:`phase_congruency`.
    The calibration ``fsim`` values are FSIMc.  Symmetric in its arguments.

    Raises :class:`~features.imageio.ImageError` for mismatched sizes, images smaller
    than 3x3 (the gradient window), and where the index is undefined (a constant image
    has no phase congruency: 0/0).
    """
    pair = prepare_pair(ref, dist, 3, "FSIM gradient window")
    rows, cols = pair.shape
    if pair.grey:
        planes = [[p.astype(np.float64)] for p in (pair.ref, pair.dist)]
    else:
        planes = [list(np.moveaxis(p.astype(np.float64) @ YIQ.T, -1, 0)) for p in (pair.ref, pair.dist)]
    for p, src in zip(planes, ("<reference array>", "<distorted array>")):
        if np.ptp(p[0]) == 0:
            raise ImageError(src, "FSIM is undefined for a constant image (no phase congruency: 0/0)")
    f = int(max(1, round_half_away(min(rows, cols) / 256.0)))
    planes = [[box_mean(c, f, "zero", f) for c in p] for p in planes]
    y1, y2 = planes[0][0], planes[1][0]
    pc1, pc2 = phase_congruency(y1), phase_congruency(y2)
    g1 = np.hypot(conv2(y1, SCHARR_X), conv2(y1, SCHARR_Y))
    g2 = np.hypot(conv2(y2, SCHARR_X), conv2(y2, SCHARR_Y))
    pcm = np.maximum(pc1, pc2)
    sim = _similarity(g1, g2, T2) * _similarity(pc1, pc2, T1)
    if chromatic and not pair.grey:
        iq = _similarity(planes[0][1], planes[1][1], T3) * _similarity(planes[0][2], planes[1][2], T4)
        # MATLAB real(x .^ 0.03): principal branch for the (rare) negative products
        sim = sim * np.real(np.power(iq.astype(np.complex128), LAMBDA)) if np.any(iq < 0) \
            else sim * iq ** LAMBDA
    value = float(np.sum(sim * pcm) / np.sum(pcm))
    return raise_if_not_finite(value, "FSIM is undefined for this pair (zero total phase congruency)")


register_metric(
    "fsimc", fsim, label="FSIMc", higher_better=True, score_range=(0.0, 1.0),
    paper="Zhang, Zhang, Mou, Zhang, 'FSIM: a feature similarity index for image quality assessment', "
          "IEEE TIP 20(8), 2011 (FSIMc)",
    reference="Zhang's FeatureSIM.m (FSIMc output, automatic downsampling)")
