"""Dataset plugin for ``bench/bench_memory.py``: ``synth_copies``, a generated set of up to ~10k images.

``synth`` has 17 source photos (595 images at most).  ``synth_copies`` loads it ``copies``
times, copy ``k`` generated with noise seed ``k`` at side ``SIZES[k % 3]`` (192, 256 or 320 px:
copies at several sizes), all 17 contents, and renames each copy's contents ``c<k>/<photo>``
so that the protocol's content-disjoint splits treat copies as separate contents.  Each copy
has 565 images (the grey photos skip the saturation distortion), so 18 copies give 10170.
Generating one copy takes about 9 s on one core.  A benchmark input, not a dataset of the
suite: its scores are synth's distortion levels.

    python -m benchmark run --plugin bench/synth_copies_plugin.py --datasets synth_copies \
        --dataset-option synth_copies.copies=18 ...
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.datasets.base import DatasetInfo, make_records, register_dataset
from benchmark.datasets.synth import SOURCES, load_synth

SIZES = (256, 192, 320)


def load_synth_copies(root: Path | None = None, *, copies: int = 18, progress: bool = False) -> pd.DataFrame:
    """Records of ``copies`` synth sets (see the module docstring), generated under ``root`` on first use."""
    copies = int(copies)
    if not 1 <= copies <= 100:
        raise ValueError(f"synth_copies: copies must be in 1..100, got {copies}")
    frames = []
    for k in range(copies):
        rec = load_synth(root, n_contents=len(SOURCES), size=SIZES[k % len(SIZES)], seed=k, progress=progress)
        frames.append(rec.assign(content=[f"c{k:02d}/{c}" for c in rec["content"]]))
    return make_records(pd.concat(frames, ignore_index=True).drop(columns="dataset"), "synth_copies")


register_dataset(DatasetInfo(
    name="synth_copies", loader=load_synth_copies, title="synth, several noise seeds and sizes (benchmark input)",
    kind="synthetic", has_reference=True, higher_better=False, score_range=(1.0, 5.0), builtin=True,
    generated_in_cache=True, notes="bench/bench_memory.py's 10k-image input; score = distortion level"))
