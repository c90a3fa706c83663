"""Dataset adapters: tiny fake trees in each database's native layout, plus the real score files.

Each section builds the layout in ``tmp_path`` (a few tiny images written with PIL, score
files in the distributed format: .mat via scipy.io.savemat with the real variable names,
CSV / text exports), loads it through the registry and checks the records.  The real score
files of ``../shared`` (TID2013, KonIQ-10k, CLIVE, BIQ2021-dev) are loaded too.  CSIQ, SPAQ
and CID2013 also get a tiny .xlsx in the release's own workbook layout (written with pandas
and openpyxl, a runtime dependency), read through the adapter.
"""
from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from benchmark.datasets import DatasetError, get_dataset_info, list_datasets, load_dataset
from benchmark.datasets.adapters import DISTORTION_NAMES, shared_distortion_types, vocabulary

NAMES = ("live", "csiq", "tid2008", "tid2013", "kadid10k", "livemd", "clive", "koniq10k", "cid2013", "spaq",
         "biq2021")


# ----------------------------------------------------------------------------- helpers
_BYTES: dict[str, bytes] = {}


def _img(path: Path) -> Path:
    """Write a tiny real image (format from the suffix); identical bytes are cached."""
    from PIL import Image

    fmt = {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    if fmt not in _BYTES:
        buf = io.BytesIO()
        Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(buf, fmt)
        _BYTES[fmt] = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_BYTES[fmt])
    return path


def _touch(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")


def _cell(names, shape) -> np.ndarray:
    """A MATLAB cell array of strings (savemat writes object arrays as cells)."""
    out = np.empty(shape, dtype=object)
    for i, n in enumerate(names):
        out.flat[i] = n
    return out


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame], startcol: int = 0) -> Path:
    """A workbook with one sheet per entry (in order), each a header row then the values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        for name, frame in sheets.items():
            frame.to_excel(book, sheet_name=name, index=False, startcol=startcol)
    return path


def _check_frame(df: pd.DataFrame, name: str) -> None:
    info = get_dataset_info(name)
    assert list(df.columns) == ["image", "ref", "score", "higher_better", "dist_type", "dist_level", "content",
                                "split", "dataset"]
    assert (df["dataset"] == name).all()
    assert (df["higher_better"] == info.higher_better).all()
    assert np.isfinite(df["score"]).all()
    assert ((df["ref"] != "") == info.has_reference).all()
    known = set(DISTORTION_NAMES[name].values()) | {""}
    assert set(df["dist_type"]) <= known


def _problems(exc: pytest.ExceptionInfo) -> str:
    return "\n".join(exc.value.problems)


# ----------------------------------------------------------------------------- registry and vocabulary
def test_registry_metadata():
    reg = {d.name: d for d in list_datasets()}
    for n in NAMES:
        info = reg[n]
        assert info.dirname and info.title and info.paper and info.notes
        assert info.kind in ("synthetic", "authentic")
        assert info.has_reference == (info.kind == "synthetic")
        assert info.score_range is not None and info.score_range[0] < info.score_range[1]
    assert [n for n in NAMES if not reg[n].higher_better] == ["live", "csiq", "livemd"]
    assert [n for n in NAMES if reg[n].official_split] == ["koniq10k", "biq2021"]
    assert get_dataset_info("KADID-10k").name == "kadid10k" and get_dataset_info("LIVEC").name == "clive"


def test_cli_list_score_names_and_columns(use_entries, capsys):
    from benchmark.cli import main, score_label
    from benchmark.datasets import DatasetInfo, base

    # the score's own name from the notes, with the registry's direction
    assert score_label(get_dataset_info("cid2013")) == "Realigned MOS (higher is better)"
    assert score_label(get_dataset_info("live")) == "Realigned DMOS (lower is better)"
    assert score_label(get_dataset_info("kadid10k")) == "DMOS (higher is better)"    # its 'dmos' column
    assert score_label(get_dataset_info("koniq10k")) == "MOS (higher is better)"     # not mos_1to5
    assert score_label(get_dataset_info("csiq")) == "DMOS (lower is better)"
    assert score_label(get_dataset_info("synth")) == "DMOS (lower is better)"        # "DMOS-like" is no name
    long = DatasetInfo(name="longtitle", loader=lambda root: None, title="A" * 60, kind="authentic",
                       has_reference=False, notes="opinion scores of a made-up database")
    use_entries(base.DATASETS, long)
    assert score_label(long) == "MOS (higher is better)"                             # nothing usable: default
    assert main(["list"]) == 0
    lines = [ln for ln in capsys.readouterr().out.split("Methods:")[0].splitlines()[1:] if ln.strip()]
    rows = {ln.split()[0]: ln for ln in lines}
    assert set(rows) == {d.name for d in list_datasets()}
    assert "A" * 37 + "... " in rows["longtitle"] and "A" * 38 not in rows["longtitle"]
    for col in ("kind", "score"):       # each column starts at one offset in every row (no overflow)
        starts = {rows[d.name].index(f" {d.kind} " if col == "kind" else f" {score_label(d)}")
                  for d in list_datasets()}
        assert len(starts) == 1, (col, starts)


def test_vocabulary_mappings_and_shared_types():
    for name, mapping in DISTORTION_NAMES.items():
        vocabulary.check_mapping(mapping, name)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocabulary.check_mapping({1: "jpg"}, "x")
    assert shared_distortion_types("live", "csiq", "tid2013", "kadid10k") == {
        "jpeg", "jpeg2000", "white_noise", "gaussian_blur"}
    assert shared_distortion_types("csiq", "tid2013", "kadid10k") >= {"contrast"}
    assert "pink_noise" in DISTORTION_NAMES["csiq"].values()
    assert len(set(DISTORTION_NAMES["tid2013"].values())) == 24        # no two TID types merged
    assert len(set(DISTORTION_NAMES["kadid10k"].values())) == 25
    assert vocabulary.is_canonical("gaussian_blur+jpeg") and not vocabulary.is_canonical("blur+jpeg")


def test_synthetic_distortions_use_the_vocabulary():
    distortions = pytest.importorskip("benchmark.datasets.distortions")
    assert set(distortions.DISTORTIONS) <= set(vocabulary.CANONICAL_TYPES)


def test_missing_root_and_data_root_lookup(tmp_path):
    with pytest.raises(DatasetError, match="no folder named"):
        load_dataset("kadid10k", data_root=tmp_path)
    with pytest.raises(DatasetError, match="dmos.csv: score file not found"):
        load_dataset("kadid10k", tmp_path / "nowhere")


# ----------------------------------------------------------------------------- LIVE Release 2
def _live_tree(root: Path) -> dict:
    from benchmark.datasets.adapters.live import FOLDERS

    refs = ["bikes.bmp", "buildings.bmp", "caps.bmp"]
    for r in refs:
        _img(root / "refimgs" / r)
    names, orgs, folder_of = [], [], []
    for folder, n in FOLDERS:
        for k in range(1, n + 1):
            names.append(refs[k % 3])
            orgs.append(1 if k % 10 == 0 else 0)        # every 10th entry: a reference copy
            folder_of.append(folder)
            _img(root / folder / f"img{k}.bmp")
    total = len(names)
    dmos_new = np.linspace(0.0, 100.0, total)
    dmos_old = dmos_new / 2.0 + 10.0
    savemat(root / "dmos_realigned.mat", {"dmos_new": dmos_new[None], "orgs": np.array(orgs, float)[None],
                                          "dmos_std": np.ones((1, total))})
    savemat(root / "dmos.mat", {"dmos": dmos_old[None], "orgs": np.array(orgs, float)[None]})
    savemat(root / "refnames_all.mat", {"refnames_all": _cell(names, (1, total))})
    (root / "jp2k" / "info.txt").write_text("caps.bmp img1.bmp 0.25\nbikes.bmp img2.bmp 1.5\n")
    return {"orgs": np.array(orgs), "dmos_new": dmos_new, "dmos": dmos_old, "names": names, "folder": folder_of}


def test_live_fake_tree(tmp_path):
    root = tmp_path / "databaserelease2"
    truth = _live_tree(root)
    df = load_dataset("live", data_root=tmp_path)           # found by its distributed folder name
    _check_frame(df, "live")
    keep = truth["orgs"] == 0
    assert len(df) == keep.sum() == 982 - (22 + 23 + 3 * 17)
    np.testing.assert_allclose(df["score"], truth["dmos_new"][keep])
    assert df["content"].tolist() == [Path(n).stem for n, k in zip(truth["names"], keep) if k]
    assert df["dist_type"].value_counts().to_dict() == {"jpeg": 233 - 23, "jpeg2000": 227 - 22, "white_noise": 157,
                                                        "gaussian_blur": 157, "fast_fading": 157}
    first = df.iloc[0]
    assert first["image"].endswith("jp2k/img1.bmp") and first["ref"].endswith("refimgs/buildings.bmp")
    assert first["dist_level"] == 0.25 and df.iloc[1]["dist_level"] == 1.5 and np.isnan(df.iloc[2]["dist_level"])
    assert not df["image"].str.endswith("jp2k/img10.bmp").any()     # orgs == 1 dropped

    old = load_dataset("live", root, dmos="dmos.mat")
    np.testing.assert_allclose(old["score"], truth["dmos"][keep])
    with pytest.raises(ValueError, match="dmos must be one of"):
        load_dataset("live", root, dmos="other.mat")


def test_live_missing_files(tmp_path):
    root = tmp_path / "live"
    _live_tree(root)
    (root / "gblur" / "img5.bmp").unlink()
    (root / "refimgs" / "caps.bmp").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("live", root)
    text = _problems(exc)
    assert "gblur/img5.bmp: file not found" in text and "refimgs/caps.bmp: file not found" in text
    assert len(load_dataset("live", root, check_files=False)) == 886
    savemat(root / "dmos_realigned.mat", {"dmos_new": np.zeros((1, 5)), "orgs": np.zeros((1, 5))})
    with pytest.raises(DatasetError, match="dmos_realigned.mat:dmos_new has 5 entries, expected 982"):
        load_dataset("live", root)
    (root / "dmos_realigned.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="unreadable MATLAB file"):
        load_dataset("live", root)
    (root / "refnames_all.mat").unlink()
    with pytest.raises(DatasetError, match="refnames_all.mat: reference-name file not found"):
        load_dataset("live", root)


# ----------------------------------------------------------------------------- CSIQ
_CSIQ_ROWS = [("1600", 1, "noise", 1, 0.06, 0.062), ("1600", 1, "noise", 2, 0.09, 0.206),
              ("1600", 3, "jpeg 2000", 4, 0.1, 0.575), ("aerial_city", 4, "fnoise", 5, 0.1, 0.61),
              ("aerial_city", 5, "blur", 3, 0.1, 0.38), ("aerial_city", 6, "contrast", 2, 0.1, 0.163),
              ("aerial_city", 2, "jpeg", 1, 0.1, 0.030)]
_CSIQ_FILES = {"noise": ("awgn", "AWGN"), "jpeg 2000": ("jpeg2000", "jpeg2000"), "fnoise": ("fnoise", "fnoise"),
               "blur": ("blur", "BLUR"), "contrast": ("contrast", "contrast"), "jpeg": ("jpeg", "JPEG")}


def _csiq_tree(root: Path) -> None:
    for ref in ("1600", "aerial_city"):
        _img(root / "src_imgs" / f"{ref}.png")
    for img, _, typ, lev, _, _ in _CSIQ_ROWS:
        folder, tag = _CSIQ_FILES[typ]
        _img(root / "dst_imgs" / folder / f"{img}.{tag}.{lev}.png")


def test_csiq_csv_export(tmp_path):
    root = tmp_path / "CSIQ"
    _csiq_tree(root)
    lines = ["CSIQ all_by_image,,,,,", "image,dst_idx,dst_type,dst_lev,dmos_std,dmos"]
    lines += [",".join(str(v) for v in r) for r in _CSIQ_ROWS]
    (root / "csiq.DMOS.csv").write_text("\n".join(lines) + "\n")
    df = load_dataset("csiq", root)
    _check_frame(df, "csiq")
    assert df["dist_type"].tolist() == ["white_noise", "white_noise", "jpeg2000", "pink_noise", "gaussian_blur",
                                        "contrast", "jpeg"]
    assert df["dist_level"].tolist() == [1, 2, 4, 5, 3, 2, 1]
    assert df["score"].tolist() == [r[-1] for r in _CSIQ_ROWS]
    assert df["content"].tolist() == [r[0] for r in _CSIQ_ROWS]
    assert df.iloc[0]["image"].endswith("dst_imgs/awgn/1600.AWGN.1.png")
    assert df.iloc[4]["image"].endswith("dst_imgs/blur/aerial_city.BLUR.3.png")
    assert df.iloc[0]["ref"].endswith("src_imgs/1600.png")


def test_csiq_headerless_text_and_errors(tmp_path):
    root = tmp_path / "CSIQ"
    _csiq_tree(root)
    # the hand-made text export: tab-separated, no header ("jpeg 2000" keeps its space)
    (root / "csiq_dmos.txt").write_text("\n".join("\t".join(str(v) for v in r) for r in _CSIQ_ROWS) + "\n")
    assert load_dataset("csiq", root)["dist_type"].tolist()[2] == "jpeg2000"
    # whitespace-separated: "jpeg 2000" splits into two fields and is joined back
    (root / "csiq_dmos.txt").write_text("\n".join(" ".join(str(v) for v in r) for r in _CSIQ_ROWS) + "\n")
    assert load_dataset("csiq", root)["dist_level"].tolist()[2] == 4
    (root / "dst_imgs" / "fnoise" / "aerial_city.fnoise.5.png").unlink()
    with pytest.raises(DatasetError, match="aerial_city.fnoise.5.png: file not found"):
        load_dataset("csiq", root)
    (root / "csiq_dmos.txt").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("csiq", root)
    assert "csiq.DMOS.xlsx: score file not found" in _problems(exc)
    assert "csiq.DMOS.csv: score file not found" in _problems(exc)


def _csiq_xlsx(root: Path) -> Path:
    """``csiq.DMOS.xlsx`` as released: the scores on sheet ``all_by_image`` (header in the first row,
    column A empty, numeric reference names such as 1600 stored as numbers), beside a per-distortion
    sheet that is not the one to read (here a reordered copy with other scores)."""
    cols = ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]
    by_image = pd.DataFrame([(int(r[0]) if r[0].isdigit() else r[0], *r[1:]) for r in _CSIQ_ROWS], columns=cols)
    by_dist = by_image.sort_values(["dst_idx", "dst_lev"]).assign(dmos=0.999)
    return _write_xlsx(root / "csiq.DMOS.xlsx", {"all_by_distortion": by_dist, "all_by_image": by_image},
                       startcol=1)


def test_csiq_xlsx(tmp_path):
    root = tmp_path / "CSIQ"
    _csiq_tree(root)
    path = _csiq_xlsx(root)
    assert pd.read_excel(path, sheet_name="all_by_image")["image"].tolist()[0] == 1600     # a number in Excel
    df = load_dataset("csiq", data_root=tmp_path)
    _check_frame(df, "csiq")
    assert len(df) == len(_CSIQ_ROWS) and not df["higher_better"].any()
    assert df["score"].tolist() == [r[-1] for r in _CSIQ_ROWS]           # from all_by_image, in its order
    assert df["content"].tolist() == [r[0] for r in _CSIQ_ROWS]           # "1600", not "1600.0"
    assert df["dist_type"].tolist() == ["white_noise", "white_noise", "jpeg2000", "pink_noise", "gaussian_blur",
                                        "contrast", "jpeg"]
    assert df["dist_level"].tolist() == [1, 2, 4, 5, 3, 2, 1]
    assert df.iloc[2]["image"].endswith("dst_imgs/jpeg2000/1600.jpeg2000.4.png")
    assert df.iloc[6]["image"].endswith("dst_imgs/jpeg/aerial_city.JPEG.1.png")
    assert df.iloc[3]["ref"].endswith("src_imgs/aerial_city.png")
    # a CSV export beside the workbook is preferred (no openpyxl needed for it)
    (root / "csiq.DMOS.csv").write_text("image,dst_idx,dst_type,dst_lev,dmos_std,dmos\n1600,1,noise,1,0.06,0.5\n")
    assert load_dataset("csiq", root)["score"].tolist() == [0.5]
    (root / "csiq.DMOS.csv").unlink()
    # a workbook without the all_by_image columns is named in the error
    _write_xlsx(path, {"all_by_image": pd.DataFrame({"name": ["1600"], "score": [0.1]})})
    with pytest.raises(DatasetError,
                       match=r"csiq.DMOS.xlsx: no header row with columns \['image', 'dst_lev', 'dmos'\]"):
        load_dataset("csiq", root)


# ----------------------------------------------------------------------------- TID2013 / TID2008
def test_tid2013_fake_tree(tmp_path):
    root = tmp_path / "tid2013"
    for r in ("I01.BMP", "i25.bmp"):
        _img(root / "reference_images" / r)
    for n in ("i01_01_1.bmp", "i01_17_5.bmp", "i25_24_3.bmp", "i25_10_2.bmp"):
        _img(root / "distorted_images" / n)
    # CRLF, mixed I/i and .bmp/.BMP as in the release
    (root / "mos_with_names.txt").write_bytes(
        b"5.51429 I01_01_1.bmp\r\n4.1 i01_17_5.BMP\r\n2.25 I25_24_3.bmp\r\n3.5 i25_10_2.bmp\r\n\r\n")
    df = load_dataset("tid2013", data_root=tmp_path)
    _check_frame(df, "tid2013")
    assert df["content"].tolist() == ["I01", "I01", "I25", "I25"]
    assert df["dist_type"].tolist() == ["white_noise", "contrast", "sparse_sampling", "jpeg"]
    assert df["dist_level"].tolist() == [1, 5, 3, 2]
    assert df["score"].tolist() == [5.51429, 4.1, 2.25, 3.5]
    assert df.iloc[1]["image"].endswith("distorted_images/i01_17_5.bmp")      # file name as on disk
    assert df.iloc[2]["ref"].endswith("reference_images/i25.bmp")

    (root / "mos_with_names.txt").write_text("5.5 I01_01_1.bmp\n4.0 I01_25_1.bmp\n")
    with pytest.raises(DatasetError, match="distortion type 25 outside 1..24"):
        load_dataset("tid2013", root)
    (root / "mos_with_names.txt").write_text("5.5 I01_01_1.bmp\nbroken line here\n")
    with pytest.raises(DatasetError, match="line 2 is not"):
        load_dataset("tid2013", root)
    (root / "mos_with_names.txt").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("tid2013", root)
    assert "mos_with_names.txt: score file not found" in _problems(exc)
    assert "mos.txt: score file not found" in _problems(exc)


def test_tid2008_mos_only_release_order(tmp_path):
    root = tmp_path / "tid2008"
    mos = np.round(np.linspace(1, 8, 25 * 17 * 4), 5)
    (root).mkdir()
    (root / "mos.txt").write_text("\r\n".join(str(v) for v in mos) + "\r\n")
    df = load_dataset("tid2008", root, check_files=False)
    _check_frame(df, "tid2008")
    assert len(df) == 1700 and df["dist_type"].nunique() == 17
    assert df.iloc[5]["image"].endswith("i01_02_2.bmp") and df.iloc[5]["score"] == mos[5]
    assert df.iloc[-1]["image"].endswith("i25_17_4.bmp") and df.iloc[-1]["content"] == "I25"
    (root / "mos.txt").write_text("1.0\n2.0\n")
    with pytest.raises(DatasetError, match="2 scores, expected 1700"):
        load_dataset("tid2008", root, check_files=False)


def test_tid2013_real_score_file(shared, tmp_path):
    src = shared("data", "native-scores", "TID2013", "mos_with_names.txt")
    raw = src.read_bytes()
    assert b"\r\n" in raw and b" I01_" in b" " + raw and b" i01_" in raw and b".BMP" in raw
    root = tmp_path / "tid2013"
    root.mkdir()
    shutil.copy(src, root / "mos_with_names.txt")
    # the image folders as the release has them: lower-case distorted names, upper-case references
    _touch(root / "distorted_images", [f"i{r:02d}_{t:02d}_{lv}.bmp" for r in range(1, 26) for t in range(1, 25)
                                       for lv in range(1, 6)])
    _touch(root / "reference_images", [f"I{r:02d}.BMP" for r in range(1, 25)] + ["i25.bmp"])
    df = load_dataset("tid2013", root)                       # every file found despite case differences
    _check_frame(df, "tid2013")
    assert len(df) == 3000 and df["content"].nunique() == 25 and df["dist_type"].nunique() == 24
    assert df.groupby("dist_level").size().tolist() == [600] * 5
    assert df["score"].between(0, 9).all()
    assert df.iloc[0]["score"] == 5.51429 and df.iloc[0]["dist_type"] == "white_noise"
    mos_only = np.loadtxt(shared("data", "native-scores", "TID2013", "mos.txt"))
    np.testing.assert_allclose(df["score"], mos_only)             # same order as mos.txt


# ----------------------------------------------------------------------------- KADID-10k
def test_kadid10k_fake_tree(tmp_path):
    root = tmp_path / "kadid10k"
    rows = [("I01_01_01.png", "I01.png", 4.57, 0.49), ("I01_07_05.png", "I01.png", 2.1, 1.0),
            ("I02_25_03.png", "I02.png", 3.33, 0.8)]
    for d, r, _, _ in rows:
        _img(root / "images" / d)
        _img(root / "images" / r)
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\n" + "\n".join(",".join(map(str, r)) for r in rows))
    df = load_dataset("kadid10k", root)
    _check_frame(df, "kadid10k")
    assert df["higher_better"].all()                     # 'dmos' is a 1..5 rating mean, 5 = imperceptible
    assert df["dist_type"].tolist() == ["gaussian_blur", "saturation", "contrast"]
    assert df["dist_level"].tolist() == [1, 5, 3] and df["content"].tolist() == ["I01", "I01", "I02"]
    assert df["score"].tolist() == [4.57, 2.1, 3.33] and df.iloc[2]["ref"].endswith("images/I02.png")
    (root / "images" / "I02.png").unlink()
    with pytest.raises(DatasetError, match="I02.png: file not found"):
        load_dataset("kadid10k", root)


# ----------------------------------------------------------------------------- LIVE-MD
def _livemd_part(part_dir: Path, folder: str, second: str, dmos0: float) -> list[str]:
    scenes = ["babygirl", "cows"]
    dist = []
    for s in scenes:
        dist += [f"{s}_blur1.bmp", f"{s}_blur2_{second}3.bmp", f"{s}_{second}2.bmp"]
    for n in dist + [f"{s}.bmp" for s in scenes]:
        _img(part_dir / folder / n)
    ref4 = np.array([[1], [1], [1], [2], [2], [2]], dtype=float)
    savemat(part_dir / "Imagelists.mat", {"distimgs": _cell(dist, (len(dist), 1)),
                                          "refimgs": _cell([f"{s}.bmp" for s in scenes], (2, 1)),
                                          "ref4dist": ref4, "distimgdistlevels": np.zeros((len(dist), 2))})
    savemat(part_dir / "Scores.mat", {"DMOSscores": (dmos0 + np.arange(len(dist), dtype=float))[None],
                                      "Zscores": np.zeros((1, len(dist)))})
    return dist


def test_livemd_fake_tree(tmp_path):
    base = tmp_path / "LIVEmultidistortiondatabase" / "To_Release"
    _livemd_part(base / "Part 1", "blurjpeg", "jpeg", 10.0)
    _livemd_part(base / "Part 2", "blurnoise", "noise", 50.0)
    df = load_dataset("livemd", data_root=tmp_path)
    _check_frame(df, "livemd")
    assert len(df) == 12 and df["content"].tolist() == ["babygirl"] * 3 + ["cows"] * 3 + ["babygirl"] * 3 + ["cows"] * 3
    assert df["dist_type"].tolist()[:3] == ["gaussian_blur", "gaussian_blur+jpeg", "jpeg"]
    assert df["dist_type"].tolist()[6:9] == ["gaussian_blur", "gaussian_blur+white_noise", "white_noise"]
    lv = df["dist_level"].tolist()
    assert lv[0] == 1 and np.isnan(lv[1]) and lv[2] == 2
    assert df["score"].tolist() == [10, 11, 12, 13, 14, 15, 50, 51, 52, 53, 54, 55]
    assert df.iloc[7]["ref"].endswith("Part 2/blurnoise/babygirl.bmp")
    assert len(load_dataset("livemd", base, parts=(2,))) == 6
    (base / "Part 2" / "Scores.mat").unlink()
    with pytest.raises(DatasetError, match="Part 2/Scores.mat: score file not found"):
        load_dataset("livemd", base)


# ----------------------------------------------------------------------------- CLIVE
def test_clive_fake_tree(tmp_path):
    root = tmp_path / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + ["100.bmp", "1002.JPG"]
    mos = np.linspace(20, 80, len(names))
    (root / "Data").mkdir(parents=True)
    savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": _cell(names, (len(names), 1))})
    savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos[None]})
    for n in names[:7]:
        _img(root / "Images" / "trainingImages" / n)
    _img(root / "Images" / "100.bmp")
    _img(root / "Images" / "1002.jpg")                          # case differs from the .mat entry
    df = load_dataset("clive", data_root=tmp_path, include_training=True)
    _check_frame(df, "clive")
    assert len(df) == 9 and df.iloc[0]["image"].endswith("Images/trainingImages/t1.bmp")
    assert df.iloc[8]["image"].endswith("Images/1002.jpg") and df["split"].eq("").all()
    assert df["content"].tolist()[-2:] == ["100", "1002"]
    np.testing.assert_allclose(df["score"], mos)
    short = load_dataset("clive", root)          # default: the test images only, as the papers report
    assert short["content"].tolist() == ["100", "1002"]
    (root / "Data" / "AllMOS_release.mat").unlink()
    with pytest.raises(DatasetError, match="AllMOS_release.mat: score file not found"):
        load_dataset("clive", root)


def test_clive_real_score_files(shared, tmp_path):
    data = shared("data", "native-scores", "CLIVE", "Data")
    root = tmp_path / "clive"
    shutil.copytree(data, root / "Data")
    from scipy.io import loadmat

    from benchmark.datasets.adapters._common import mat_strings

    names = mat_strings(loadmat(data / "AllImages_release.mat")["AllImages_release"])
    assert names[:7] == [f"t{i}.bmp" for i in range(1, 8)]
    _touch(root / "Images" / "trainingImages", names[:7])
    _touch(root / "Images", names[7:])
    df = load_dataset("clive", root, include_training=True)
    _check_frame(df, "clive")
    assert len(df) == 1169 and df["content"].is_unique
    assert df.iloc[6]["image"].endswith("trainingImages/t7.bmp") and df.iloc[7]["image"].endswith("Images/100.bmp")
    assert df["score"].between(0, 100).all()
    assert len(load_dataset("clive", root)) == 1162    # the papers' 1162 test images by default


# ----------------------------------------------------------------------------- KonIQ-10k
_KONIQ_HEAD = "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,set"


def test_koniq10k_fake_tree(tmp_path):
    root = tmp_path / "koniq10k"
    rows = ["10004473376.jpg,0.0,0.0,0.25,0.5,0.25,100,77.38,0.52,training",
            "10007357496.jpg,0.0,0.5,0.5,0.0,0.0,96,38.7,0.58,test",
            "10010511596.jpg,0.25,0.25,0.25,0.25,0.0,90,30.1,0.6,validation"]
    (root).mkdir()
    (root / "koniq10k_distributions_sets.csv").write_text(_KONIQ_HEAD + "\n" + "\n".join(rows) + "\n")
    for r in rows:
        _img(root / "1024x768" / r.split(",")[0])
        _img(root / "koniq10k_512x384" / "512x384" / r.split(",")[0])
    df = load_dataset("koniq10k", root)
    _check_frame(df, "koniq10k")
    assert df["split"].tolist() == ["train", "test", "val"] and df["score"].tolist() == [77.38, 38.7, 30.1]
    assert df.iloc[0]["image"].endswith("1024x768/10004473376.jpg") and df.iloc[0]["content"] == "10004473376"
    half = load_dataset("koniq10k", root, resolution="512x384")
    assert half.iloc[0]["image"].endswith("koniq10k_512x384/512x384/10004473376.jpg")
    np.testing.assert_allclose(load_dataset("koniq10k", root, score="mos_1to5")["score"], [4.0, 2.5, 2.5])
    with pytest.raises(ValueError, match="resolution"):
        load_dataset("koniq10k", root, resolution="2048x1536")

    # only the scores file: the 0..100 column is MOS_zscore there, no split
    (root / "koniq10k_distributions_sets.csv").unlink()
    (root / "koniq10k_scores_and_distributions.csv").write_text(
        "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore\n"
        "10004473376.jpg,0.0,0.0,0.25,0.5,0.25,100,4.0,0.52,77.38\n")
    only = load_dataset("koniq10k", root)
    assert only["score"].tolist() == [77.38] and only["split"].tolist() == [""]
    (root / "koniq10k_scores_and_distributions.csv").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("koniq10k", root)
    assert "koniq10k_distributions_sets.csv: score file not found" in _problems(exc)


def test_koniq10k_real_score_file(shared, tmp_path):
    src = shared("data", "native-scores", "KonIQ-10k", "koniq10k_distributions_sets.csv")
    root = tmp_path / "koniq10k"
    root.mkdir()
    shutil.copy(src, root / src.name)
    names = pd.read_csv(src)["image_name"].tolist()
    _touch(root / "1024x768", names)
    df = load_dataset("koniq10k", root)
    _check_frame(df, "koniq10k")
    assert len(df) == 10073 and df["content"].is_unique
    assert df["split"].value_counts().to_dict() == {"train": 7058, "test": 2015, "val": 1000}
    assert df["score"].between(0, 100).all()
    r15 = load_dataset("koniq10k", root, score="mos_1to5", check_files=False)["score"]
    assert r15.between(1, 5).all() and np.corrcoef(df["score"], r15)[0, 1] > 0.99


# ----------------------------------------------------------------------------- CID2013
def test_cid2013_csv_export(tmp_path):
    root = tmp_path / "CID2013"
    ids = [("IS_I_C01_D01", 1, "IS1/co1"), ("IS_I_C01_D02", 1, "IS1/co1"), ("IS_I_C02_D01", 1, "IS1/co2"),
           ("IS_IV_C01_D05", 4, "IS4/co1")]
    lines = ["Source_ID,Image set,Image set specific  MOS,Realigned MOS,Sharpness"]
    for k, (sid, s, folder) in enumerate(ids):
        lines.append(f"{sid},{s},{50 + k},{60 + 2 * k},1.0")
        _img(root / folder / f"{sid}.jpg")
    (root / "CID2013 data - version 12112014.csv").write_text("\n".join(lines) + "\n")
    df = load_dataset("cid2013", root)
    _check_frame(df, "cid2013")
    assert df["content"].tolist() == ["IS_I_C01", "IS_I_C01", "IS_I_C02", "IS_IV_C01"]
    assert df["score"].tolist() == [60, 62, 64, 66] and df.iloc[3]["image"].endswith("IS4/co1/IS_IV_C01_D05.jpg")
    assert load_dataset("cid2013", root, mos="set")["score"].tolist() == [50, 51, 52, 53]
    (root / "IS1" / "co2" / "IS_I_C02_D01.jpg").unlink()
    with pytest.raises(DatasetError, match="IS_I_C02_D01.jpg: file not found"):
        load_dataset("cid2013", root)
    (root / "CID2013 data - version 12112014.csv").unlink()
    with pytest.raises(DatasetError, match="CID2013 data - version 12112014.xlsx: score file not found"):
        load_dataset("cid2013", root)


def test_cid2013_xlsx(tmp_path):
    """``CID2013 data - version 12112014.xlsx``: sheet "CID2013 MOS" (header in the first row: Source_ID,
    a numeric column, "Image set specific  MOS" with two spaces, "Realigned MOS", then the attribute
    scales), not the workbook's first sheet; images in IS<n>/co<m>/ folders."""
    root = tmp_path / "CID2013"
    ids = [("IS_I_C01_D01", "IS1/co1"), ("IS_I_C01_D02", "IS1/co1"), ("IS_I_C02_D01", "IS1/co2"),
           ("IS_IV_C01_D05", "IS4/co1"), ("IS_VI_C06_D79", "IS6/co6")]
    for sid, folder in ids:
        _img(root / folder / f"{sid}.jpg")
    mos = pd.DataFrame({"Source_ID": [i for i, _ in ids], "Image set": [1, 1, 1, 4, 6],
                        "Image set specific  MOS": [50.5, 51.0, 52.25, 53.0, 12.0],
                        "Realigned MOS": [60.5, 62.0, 64.75, 66.0, 8.5],
                        "Sharpness": [1.0, 2.0, 3.0, 4.0, 5.0], "Graininess": [0.5] * 5, "Lightness": [0.1] * 5})
    other = pd.DataFrame({"Source_ID": [i for i, _ in ids], "Realigned MOS": [99.0] * 5})
    _write_xlsx(root / "CID2013 data - version 12112014.xlsx", {"Other sheet": other, "CID2013 MOS": mos})
    df = load_dataset("cid2013", data_root=tmp_path)
    _check_frame(df, "cid2013")
    assert len(df) == 5 and df["higher_better"].all() and set(df["dist_type"]) == {""}
    assert df["score"].tolist() == [60.5, 62.0, 64.75, 66.0, 8.5]
    assert df["content"].tolist() == ["IS_I_C01", "IS_I_C01", "IS_I_C02", "IS_IV_C01", "IS_VI_C06"]
    assert df.iloc[3]["image"].endswith("IS4/co1/IS_IV_C01_D05.jpg") and (df["ref"] == "").all()
    assert load_dataset("cid2013", root, mos="set")["score"].tolist() == [50.5, 51.0, 52.25, 53.0, 12.0]
    # the xlsx is also found under another "CID2013 data*" name
    (root / "CID2013 data - version 12112014.xlsx").rename(root / "CID2013 data.xlsx")
    assert load_dataset("cid2013", root)["score"].tolist()[-1] == 8.5
    # a re-saved workbook whose MOS sheet lost its name: the first sheet with a Source_ID header is read
    readme = pd.DataFrame({"CID2013": ["Camera Image Database 2013", "see the paper for the protocol"]})
    _write_xlsx(root / "CID2013 data.xlsx", {"Read me": readme, "Sheet2": mos})
    assert load_dataset("cid2013", root)["score"].tolist() == [60.5, 62.0, 64.75, 66.0, 8.5]
    _write_xlsx(root / "CID2013 data.xlsx", {"Read me": readme})
    with pytest.raises(DatasetError, match=r"no header row with columns \['Source_ID'\] \(looked in sheet\(s\) "
                                           r"\['Read me'\]\)"):
        load_dataset("cid2013", root)


# ----------------------------------------------------------------------------- SPAQ
def test_spaq_csv_export(tmp_path):
    root = tmp_path / "SPAQ"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "MOS and Image attribute scores.csv").write_text(
        "Image name,MOS,Brightness,Colorfulness,Contrast,Noisiness,Sharpness\n"
        "00001.jpg,42.65,43.4,38.6,40,42,45\n00002.jpg,71.2,60,61,62,63,64\n")
    for n in ("00001.jpg", "00002.jpg"):
        _img(root / "TestImage" / n)
    df = load_dataset("spaq", data_root=tmp_path)
    _check_frame(df, "spaq")
    assert df["score"].tolist() == [42.65, 71.2] and df["content"].tolist() == ["00001", "00002"]
    (root / "TestImage" / "00002.jpg").unlink()
    with pytest.raises(DatasetError, match="00002.jpg: file not found"):
        load_dataset("spaq", root)
    assert len(load_dataset("spaq", root, check_files=False)) == 2


def test_spaq_xlsx(tmp_path):
    """``Annotations/MOS and Image attribute scores.xlsx``: one sheet, header in the first row (Image name,
    MOS and the five attribute scores), image names with their .jpg suffix; images in TestImage/."""
    root = tmp_path / "SPAQ"
    rows = [("00001.jpg", 48.86, 47.43, 55.57, 55.71, 37.86, 42.57),
            ("00002.jpg", 62.5, 55.38, 67.13, 53.13, 57.5, 47.5),
            ("00003.jpg", 77.25, 62.38, 72.63, 65.75, 72.25, 82.71)]
    table = pd.DataFrame(rows, columns=["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness",
                                        "Sharpness"])
    _write_xlsx(root / "Annotations" / "MOS and Image attribute scores.xlsx", {"Sheet1": table})
    for r in rows:
        _img(root / "TestImage" / r[0])
    df = load_dataset("spaq", data_root=tmp_path)
    _check_frame(df, "spaq")
    assert len(df) == 3 and df["higher_better"].all()
    assert df["score"].tolist() == [48.86, 62.5, 77.25]              # MOS, not an attribute score
    assert df["content"].tolist() == ["00001", "00002", "00003"] and set(df["dist_type"]) == {""}
    assert df.iloc[2]["image"].endswith("TestImage/00003.jpg") and (df["ref"] == "").all()
    # image_dir= reads another copy of the images with the same table
    for r in rows:
        _img(root / "resized" / r[0])
    assert load_dataset("spaq", root, image_dir="resized").iloc[0]["image"].endswith("resized/00001.jpg")


@pytest.mark.parametrize("name", ["csiq", "spaq", "cid2013"])
def test_xlsx_without_openpyxl(tmp_path, monkeypatch, name):
    """With openpyxl unimportable, an xlsx-only tree says how to fix it (install it, or export a CSV)."""
    root = tmp_path / name
    if name == "csiq":
        _csiq_tree(root)
        _csiq_xlsx(root)
        sheet, csv = "all_by_image", "csiq.DMOS.csv"
    elif name == "spaq":
        _write_xlsx(root / "Annotations" / "MOS and Image attribute scores.xlsx",
                    {"Sheet1": pd.DataFrame({"Image name": ["00001.jpg"], "MOS": [50.0]})})
        sheet, csv = None, "MOS and Image attribute scores.csv"
    else:
        _write_xlsx(root / "CID2013 data - version 12112014.xlsx",
                    {"CID2013 MOS": pd.DataFrame({"Source_ID": ["IS_I_C01_D01"], "Realigned MOS": [50.0]})})
        sheet, csv = "CID2013 MOS", "CID2013 data - version 12112014.csv"
    monkeypatch.setitem(sys.modules, "openpyxl", None)          # makes `import openpyxl` raise ImportError
    with pytest.raises(DatasetError) as exc:
        load_dataset(name, root)
    msg = _problems(exc)
    assert ".xlsx: reading .xlsx needs openpyxl (pip install openpyxl)" in msg and repr(csv) in msg
    assert (repr(sheet) in msg) if sheet else "sheet as CSV" in msg


# ----------------------------------------------------------------------------- BIQ2021
def test_biq2021_fake_tree(tmp_path):
    root = tmp_path / "BIQ2021"
    root.mkdir()
    (root / "Train (Images and MOS).csv").write_text("Image Name,MOS,,\nss01 (1).jpg,0.2874,,\nss03 (7).jpg,0.76,,\n")
    (root / "Test (Images and MOS).csv").write_text("Image Name,MOS\nss02 (1014).jpg,0.5\n")
    for n in ("ss01 (1).jpg", "ss03 (7).jpg", "ss02 (1014).JPG"):
        _img(root / "Images" / n)
    df = load_dataset("biq2021", data_root=tmp_path)
    _check_frame(df, "biq2021")
    assert df["split"].tolist() == ["train", "train", "test"] and df["score"].tolist() == [0.2874, 0.76, 0.5]
    assert df.iloc[2]["image"].endswith("Images/ss02 (1014).JPG") and df.iloc[2]["content"] == "ss02 (1014)"
    (root / "Test (Images and MOS).csv").unlink()
    with pytest.raises(DatasetError, match=r"Test \(Images and MOS\).csv: score file not found"):
        load_dataset("biq2021", root)


def test_biq2021_shared_dev_copy(shared):
    shared("data", "BIQ2021-dev")
    df = load_dataset("biq2021", data_root=shared("data"))    # found by alias; checks every image file exists
    _check_frame(df, "biq2021")
    assert len(df) == 2500 and df["image"].is_unique
    assert df["split"].value_counts().to_dict() == {"train": 2000, "test": 500}
    assert df["score"].between(0, 1).all()
    assert set(df["content"].str[:4]) == {"ss01", "ss02", "ss03"}


# ----------------------------------------------------------------------------- checks on every adapter's records
def _biq_tree(tmp_path, train_rows, test_rows, images=("ss01 (1).jpg", "ss03 (7).jpg", "ss02 (9).jpg")):
    root = tmp_path / "BIQ2021"
    root.mkdir()
    (root / "Train (Images and MOS).csv").write_text("Image Name,MOS\n" + "".join(f"{r}\n" for r in train_rows))
    (root / "Test (Images and MOS).csv").write_text("Image Name,MOS\n" + "".join(f"{r}\n" for r in test_rows))
    for n in images:
        _img(root / "Images" / n)
    return root


@pytest.mark.parametrize("name", ["../../outside.jpg", "{abs}"])
def test_score_file_naming_a_file_outside_the_dataset_is_rejected(tmp_path, name):
    outside = _img(tmp_path / "outside.jpg")            # exists: without the check it would be read and trained on
    name = name.format(abs=outside)
    root = _biq_tree(tmp_path, ["ss01 (1).jpg,0.3", f"{name},0.9"], ["ss02 (9).jpg,0.5"])
    with pytest.raises(DatasetError, match="outside.jpg: image lies outside the dataset folder"):
        load_dataset("biq2021", root)


def test_official_split_overlap_is_an_error_and_duplicates_are_reported(tmp_path):
    from benchmark.datasets import DatasetWarning

    root = _biq_tree(tmp_path, ["ss01 (1).jpg,0.3", "ss02 (9).jpg,0.4"], ["ss02 (9).jpg,0.5"])
    with pytest.raises(DatasetError, match=r"official split: 1 image\(s\) in both the training and the test part"):
        load_dataset("biq2021", root)
    (root / "Test (Images and MOS).csv").write_text("Image Name,MOS\nss03 (7).jpg,0.5\n")
    (root / "Train (Images and MOS).csv").write_text("Image Name,MOS\nss01 (1).jpg,0.3\nss01 (1).jpg,0.3\n"
                                                     "ss02 (9).jpg,0.4\n")
    with pytest.warns(DatasetWarning, match=r"1 image\(s\) listed more than once \(2 rows\)"):
        df = load_dataset("biq2021", root)
    assert len(df) == 4
