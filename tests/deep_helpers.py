"""Small image sets shared by the deep-model tests."""
from __future__ import annotations

import numpy as np
import pandas as pd


def tiny_noise_set(root, n_content=2, levels=(0, 1, 2), size=64, seed=0):
    """Tiny synthetic set: smooth images + Gaussian noise; score = level (DMOS-like)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_content):
        base = gaussian_filter(rng.uniform(0, 255, (size, size, 3)), (3, 3, 0))
        base = (base - base.min()) / (base.max() - base.min()) * 200 + 20
        for lv in levels:
            img = np.clip(base + rng.normal(0, 1 + 25 * lv, base.shape), 0, 255).astype(np.uint8)
            p = root / f"c{c}_l{lv}.png"
            Image.fromarray(img).save(p)
            rows.append({"image": str(p), "ref": "", "score": float(lv), "higher_better": False,
                         "content": f"c{c}"})
    return pd.DataFrame(rows)
