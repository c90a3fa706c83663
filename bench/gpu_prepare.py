"""Prepare the folder carried to the GPU machine for ``bench/gpu_paper_presets.sh`` (issue 15).

The GPU machine receives the repository tree plus at most 64 MiB in all, reaches no package
registry and does not see ``../shared``.  This script (run here, where ``../shared`` exists and
PyPI is reachable) writes the ignored folder ``gpu_carry/``:

* ``wheels/``: the packages that machine lacks, as wheels for CPython 3.11 manylinux x86_64
  (``pip download --only-binary=:all: --no-deps``, the versions pinned in ``requirements.lock``):
  PyWavelets, pyrtools, openpyxl and openpyxl's one dependency et-xmlfile;
* ``weights/``: the ImageNet files of ``../shared/weights`` that fit (``--weights``, in that
  priority order; default MobileNetV2 only: it is the row with a published BIQ2021 number);
* ``data/BIQ2021/``: a subset of BIQ2021-dev in BIQ2021's native layout (``Images/``,
  ``Train (Images and MOS).csv``, ``Test (Images and MOS).csv``: what
  :mod:`benchmark.datasets.adapters.biq2021` reads), chosen by a fixed rule:

      each of the official-style split's two CSVs, its image names sorted, is permuted by
      ``numpy.random.default_rng(SUBSET_SEED).permutation``; the subset is the first ``n_train``
      names of the training permutation and the first ``n_test`` of the test one (rows written in
      the CSVs' own order).  ``n_train``/``n_test`` start at ``--train``/``--test`` (1000/400) and
      shrink together, in the same ratio, until repository + carried folder fit ``--limit-mib``.

  The rule, the counts and every file's size and SHA-256 go into ``gpu_carry/MANIFEST.json``;
  the run script puts the rule into the table notes.

The total (the size of ``git ls-files`` plus the carried folder) is printed last.

    python bench/gpu_prepare.py                      # writes gpu_carry/
    python bench/gpu_prepare.py --weights mobilenet_v2 alexnet --train 800 --test 300
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
#: the pinned wheels (requirements.lock) the GPU machine lacks
WHEELS = ("pywavelets==1.9.0", "pyrtools==1.1.1", "openpyxl==3.1.5", "et-xmlfile==2.0.0")
#: ImageNet weight files by backbone (``../shared/weights``)
WEIGHT_FILES = {"mobilenet_v2": "mobilenet_v2-b0353104.pth", "alexnet": "alexnet_features-imagenet.pth",
                "vgg16": "vgg16_features-imagenet.pth"}
SUBSET_SEED = 15
SPLIT_FILES = {"train": "Train (Images and MOS).csv", "test": "Test (Images and MOS).csv"}
MIB = 2 ** 20
RULE = ("BIQ2021-dev subset: each split's image names, sorted, permuted by numpy.random.default_rng({seed}); "
        "the first {n_train} of the 2000 training and the first {n_test} of the 500 test images of the "
        "official-style split (bench/gpu_prepare.py)")


def repo_bytes(root: Path = ROOT) -> int:
    """Bytes of the files ``git ls-files`` lists (what the GPU machine receives of the tree)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    return sum((root / p).stat().st_size for p in out.decode().split("\0") if p and (root / p).is_file())


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_split(src: Path, split: str) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of one split CSV (rows with an image name)."""
    with open(src / SPLIT_FILES[split], newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    return rows[0], [r for r in rows[1:] if r and r[0].strip()]


def subset_order(names: list[str], seed: int = SUBSET_SEED) -> list[str]:
    """The fixed order the subset is a prefix of: sorted names permuted by ``default_rng(seed)``."""
    ordered = sorted(names)
    return [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]


def image_file(images: Path, name: str) -> Path:
    p = images / name
    if p.is_file():
        return p
    lower = {q.name.lower(): q for q in images.iterdir()}
    if name.lower() in lower:
        return lower[name.lower()]
    raise FileNotFoundError(f"{images}: no image {name!r}")


def choose_counts(sizes: dict[str, list[int]], n_train: int, n_test: int, room: int) -> tuple[int, int]:
    """The largest ``(n_train, n_test)`` in the ratio of the request whose images fit ``room`` bytes."""
    ratio = n_test / max(n_train, 1)
    for k in range(n_train, 0, -1):
        m = min(n_test, round(k * ratio))
        if sum(sizes["train"][:k]) + sum(sizes["test"][:m]) <= room:
            return k, m
    raise SystemExit(f"no BIQ2021 image fits the {room / MIB:.1f} MiB left")


def download_wheels(dest: Path, wheel_cache: Path | None) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if wheel_cache is not None:
        for w in Path(wheel_cache).glob("*.whl"):
            shutil.copy2(w, dest / w.name)
        return
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--python-version", "3.11",
           "--implementation", "cp", "--abi", "cp311", "--platform", "manylinux_2_28_x86_64",
           "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "--platform", "any",
           "-d", str(dest), *WHEELS]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "gpu_carry", help="carried folder (default gpu_carry/)")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared folder (default ../shared)")
    ap.add_argument("--train", type=int, default=1000, help="training images wanted (default 1000)")
    ap.add_argument("--test", type=int, default=400, help="test images wanted (default 400)")
    ap.add_argument("--weights", nargs="*", default=["mobilenet_v2"], choices=sorted(WEIGHT_FILES),
                    help="backbone weight files to carry, in priority order (default: mobilenet_v2)")
    ap.add_argument("--limit-mib", type=float, default=64.0, help="repository + carried folder limit (MiB)")
    ap.add_argument("--margin-mib", type=float, default=0.5, help="room kept free under the limit (MiB)")
    ap.add_argument("--wheel-cache", type=Path, default=None,
                    help="take the wheels from this folder instead of pip download")
    args = ap.parse_args(argv)

    src = args.shared / "data" / "BIQ2021-dev"
    if not (src / SPLIT_FILES["train"]).is_file():
        print(f"gpu_prepare: {src}: BIQ2021-dev not found (give --shared)", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    download_wheels(out / "wheels", args.wheel_cache)
    repo = repo_bytes()
    limit = int(args.limit_mib * MIB) - int(args.margin_mib * MIB)
    used = repo + folder_bytes(out) + 4096            # + the manifest and CSVs (measured again below)

    weights = {}
    (out / "weights").mkdir()
    for arch in args.weights:
        f = args.shared / "weights" / WEIGHT_FILES[arch]
        size = f.stat().st_size
        # the data come first: a weight file is carried only if the wanted images still fit beside it
        if used + size > limit - 40 * MIB:
            print(f"gpu_prepare: {arch} weights ({size / MIB:.1f} MiB) left out: they would not leave room "
                  f"for the BIQ2021 subset")
            continue
        shutil.copy2(f, out / "weights" / f.name)
        weights[arch] = {"file": f"weights/{f.name}", "bytes": size, "sha256": sha256(f)}
        used += size

    images = src / "Images"
    tables = {s: read_split(src, s) for s in SPLIT_FILES}
    order = {s: subset_order([r[0].strip() for r in rows]) for s, (_, rows) in tables.items()}
    sizes = {s: [image_file(images, n).stat().st_size for n in order[s]] for s in order}
    n_train, n_test = choose_counts(sizes, args.train, args.test, limit - used)
    keep = {"train": set(order["train"][:n_train]), "test": set(order["test"][:n_test])}

    dst = out / "data" / "BIQ2021"
    (dst / "Images").mkdir(parents=True)
    for s, (header, rows) in tables.items():
        chosen = [r for r in rows if r[0].strip() in keep[s]]
        with open(dst / SPLIT_FILES[s], "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(chosen)
        for r in chosen:
            p = image_file(images, r[0].strip())
            shutil.copy2(p, dst / "Images" / p.name)
    rule = RULE.format(seed=SUBSET_SEED, n_train=n_train, n_test=n_test)
    manifest = {
        "rule": rule, "subset_seed": SUBSET_SEED, "n_train": n_train, "n_test": n_test,
        "wheels": {w.name: {"bytes": w.stat().st_size, "sha256": sha256(w)} for w in sorted((out / "wheels").iterdir())},
        "weights": weights,
        "images_bytes": folder_bytes(dst / "Images"),
        "repo_bytes": repo,
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    carried = folder_bytes(out)
    total = repo + carried
    print(rule)
    print(f"wheels: {', '.join(manifest['wheels'])}")
    print(f"weights: {', '.join(weights) or 'none'}")
    print(f"repository (git ls-files) {repo / MIB:.2f} MiB + {out.name}/ {carried / MIB:.2f} MiB "
          f"(images {manifest['images_bytes'] / MIB:.2f} MiB) = {total / MIB:.2f} MiB of {args.limit_mib:.0f} MiB")
    if total > args.limit_mib * MIB:
        print("gpu_prepare: over the limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
