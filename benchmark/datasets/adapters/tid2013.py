"""TID2013 (Ponomarenko et al., Signal Process. Image Commun. 30, 2015).

3000 distorted images: 25 references x 24 types x 5 levels; MOS in [0, 9] (higher is
better) from ``mos_with_names.txt``.  Layout and conventions: :mod:`._tid`.  Type numbers
follow Table 1 of the paper; ``DISTORTION_NAMES`` maps them to the shared vocabulary.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base import DatasetInfo, register_dataset
from ._tid import load_tid
from .vocabulary import check_mapping

__all__ = ["load_tid2013", "DISTORTION_NAMES", "NATIVE_NAMES"]

#: type number -> name in the TID2013 paper
NATIVE_NAMES = {
    1: "Additive Gaussian noise",
    2: "Additive noise in color components is more intensive than additive noise in the luminance component",
    3: "Spatially correlated noise",
    4: "Masked noise",
    5: "High frequency noise",
    6: "Impulse noise",
    7: "Quantization noise",
    8: "Gaussian blur",
    9: "Image denoising",
    10: "JPEG compression",
    11: "JPEG2000 compression",
    12: "JPEG transmission errors",
    13: "JPEG2000 transmission errors",
    14: "Non eccentricity pattern noise",
    15: "Local block-wise distortions of different intensity",
    16: "Mean shift (intensity shift)",
    17: "Contrast change",
    18: "Change of color saturation",
    19: "Multiplicative Gaussian noise",
    20: "Comfort noise",
    21: "Lossy compression of noisy images",
    22: "Image color quantization with dither",
    23: "Chromatic aberrations",
    24: "Sparse sampling and reconstruction",
}

DISTORTION_NAMES = {
    1: "white_noise", 2: "color_noise", 3: "correlated_noise", 4: "masked_noise", 5: "high_frequency_noise",
    6: "impulse_noise", 7: "quantisation", 8: "gaussian_blur", 9: "denoising", 10: "jpeg", 11: "jpeg2000",
    12: "jpeg_transmission_errors", 13: "jpeg2000_transmission_errors", 14: "non_eccentricity_pattern",
    15: "block_distortion", 16: "mean_shift", 17: "contrast", 18: "saturation", 19: "multiplicative_noise",
    20: "comfort_noise", 21: "noisy_compression", 22: "color_quantization", 23: "chromatic_aberration",
    24: "sparse_sampling",
}
check_mapping(DISTORTION_NAMES, "tid2013")


def load_tid2013(root: Path) -> pd.DataFrame:
    """Records of TID2013 (3000 distorted images; MOS, higher is better)."""
    return load_tid("tid2013", root, DISTORTION_NAMES, n_levels=5)


register_dataset(DatasetInfo(
    name="tid2013", loader=load_tid2013, title="Tampere Image Database 2013", dirname="tid2013",
    kind="synthetic", has_reference=True, higher_better=True, score_range=(0.0, 9.0), official_split=False,
    paper="N. Ponomarenko et al., 'Image database TID2013: peculiarities, results and perspectives', "
          "Signal Process. Image Commun. 30, 2015",
    notes="3000 distorted images (25 references x 24 types x 5 levels); MOS 0..9, higher is better; "
          "mos_with_names.txt (mixed-case names matched case-insensitively), or mos.txt in release order.",
    aliases=("TID2013", "tid-2013"),
))
