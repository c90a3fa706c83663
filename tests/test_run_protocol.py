"""What a run promises (issues 13 and 19): pooled score scales, both shared-type plans, failed and
degenerate cells that keep their rows, the aggregate and mapping in every caption, rows over the same
splits, reported training-image failures, and CLI mistakes that stop before any work.

Stand-in methods keep these tests fast and independent of the real metrics (as in test_runner.py).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.datasets import base as dsbase
from benchmark.datasets.base import DatasetInfo, make_records
from benchmark.methods import base as mbase
from benchmark.methods.base import MethodInfo, training_target
from benchmark.runner import RunConfig, RunConfigError, run
from features.imageio import ImageError, load_image

SEEN: list[pd.DataFrame] = []     # training frames the Recorder was fitted on


def _brightness(paths, failures):
    out = []
    for p in paths:
        try:
            out.append(load_image(p).mean())
        except ImageError as exc:
            failures[p] = exc.reason
            out.append(np.nan)
    return np.array(out)


class Recorder:
    """Least squares on mean brightness; remembers its training frame; reports its failures."""

    def fit(self, records):
        SEEN.append(records.copy())
        self.failures_ = {}
        x = _brightness(records["image"], self.failures_)
        ok = np.isfinite(x)
        self.coef_ = np.polyfit(x[ok], training_target(records)[ok], 1)
        return self

    def predict(self, records):
        self.failures_ = {}
        return np.polyval(self.coef_, _brightness(records["image"], self.failures_))


class Picky(Recorder):
    """Fails to train on dataset ``a`` only."""

    def fit(self, records):
        if (records["dataset"] == "a").any():
            raise RuntimeError("cannot train on a")
        return super().fit(records)


class Const(Recorder):
    """Constant predictions whenever content c1 is in the test set: an undefined correlation."""

    def predict(self, records):
        out = super().predict(records)
        return np.full(len(out), 3.0) if (records["content"] == "c1").any() else out


def make_set(root, name, *, n_content=5, levels=4, higher_better=False, scale=1.0, types=("white_noise", "other"),
             corrupt=(), split=None):
    """A small dataset: ``n_content`` contents x ``levels`` noise levels, 16x16 PNGs under ``root/name``."""
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    rows = []
    for c in range(n_content):
        base = rng.integers(60, 200, size=(16, 16, 3)).astype(np.uint8)
        ref = folder / f"ref{c}.png"
        Image.fromarray(base).save(ref)
        for lev in range(1, levels + 1):
            noisy = np.clip(base + rng.normal(0, 12 * lev, base.shape), 0, 255).astype(np.uint8)
            p = folder / f"c{c}_l{lev}.png"
            Image.fromarray(noisy).save(p)
            score = float(lev) * scale if not higher_better else float(levels + 1 - lev) * scale
            rows.append({"image": str(p), "ref": str(ref), "score": score, "higher_better": higher_better,
                         "dist_type": types[lev % len(types)], "dist_level": lev, "content": f"c{c}",
                         "split": split(c) if split else ""})
    for c, lev in corrupt:
        (folder / f"c{c}_l{lev}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return make_records(rows, name)


@pytest.fixture
def registry(use_entries):
    """Register datasets (``add(name, records, kind)``) and stand-in methods for one test."""
    real = {m.name: m for m in mbase.METHODS.values()}
    methods = {
        "rec": MethodInfo("rec", lambda ctx: Recorder(), "NR", "NR hand-crafted", "classical", trainable=True,
                          label="Recorder"),
        "picky": MethodInfo("picky", lambda ctx: Picky(), "NR", "NR hand-crafted", "classical", trainable=True,
                            label="Picky"),
        "const": MethodInfo("const", lambda ctx: Const(), "NR", "NR hand-crafted", "classical", trainable=True,
                            label="Const"),
        "net": MethodInfo("net", lambda ctx: Recorder(), "NR", "NR deep", "deep", trainable=True,
                          trains_network=True, label="TinyNet"),
    }
    use_entries(mbase.METHODS, *methods.values(), only=True)
    SEEN.clear()

    def add(name, records, kind="synthetic"):
        use_entries(dsbase.DATASETS, DatasetInfo(
            name=name, loader=lambda root, **kw: records, title=name, kind=kind, builtin=True,
            higher_better=bool(records["higher_better"].iloc[0])))
        return records

    def use_real(*names):
        """Put these methods of the real registry beside the stand-ins."""
        use_entries(mbase.METHODS, *(real[n] for n in names))
        return [real[n] for n in names]

    add.use_real = use_real
    add.use = use_entries
    return add


# ----------------------------------------------------------------------------- pooled training sets
def test_pooled_training_sets_share_one_scale_and_namespace_contents(tmp_path, registry):
    registry("a", make_set(tmp_path, "a"))                                   # DMOS 1..4, lower is better
    registry("b", make_set(tmp_path, "b", higher_better=True, scale=25.0))   # MOS 25..100
    registry("c", make_set(tmp_path, "c", higher_better=True, scale=2.0))    # MOS 2..8
    run(RunConfig(suite="cross", datasets=["a", "b", "c"], methods=["rec"], out=str(tmp_path / "o"),
                  n_repeats=1, progress=False, plots=False))
    pooled = [f for f in SEEN if f["dataset"].nunique() > 1]
    assert len(pooled) == 3                                                   # the three leave-one-out plans
    for f in pooled:
        assert f["higher_better"].all()
        for name, part in f.groupby("dataset"):
            assert part["score"].min() == 0.0 and part["score"].max() == 1.0  # each dataset on [0, 1]
            assert part["content"].str.startswith(f"{name}/").all()           # c0 of a is not c0 of b
            worst = part.loc[part["image"].str.endswith("_l4.png"), "score"]
            assert (worst == 0.0).all()                                        # DMOS inverted: level 4 worst
    caption = (tmp_path / "o" / "tables" / "leave_one_out.md").read_text()
    assert "min-max scaled to [0, 1]" in caption and "Bosse et al. 2018, Sec. IV-B" in caption


# ----------------------------------------------------------------------------- shared distortion types
def test_both_shared_type_variants_for_any_pair(tmp_path, registry):
    registry("a", make_set(tmp_path, "a", types=("white_noise", "other")))
    registry("b", make_set(tmp_path, "b", higher_better=True, types=("white_noise", "blur")), kind="authentic")
    res = run(RunConfig(suite="cross", datasets=["a", "b"], methods=["rec"], out=str(tmp_path / "o"),
                        n_repeats=1, progress=False, plots=False))
    m = res.metrics[res.metrics["status"] == "ok"]
    pairs = set(zip(m["plan"], m["train_set"], m["test_set"]))
    # Bosse et al. Table II: all of A for training, only the shared types of B for testing
    assert ("shared-types-test", "a", "b[white_noise]") in pairs
    assert ("shared-types-test", "b", "a[white_noise]") in pairs
    assert ("shared-types-both", "a[white_noise]", "b[white_noise]") in pairs
    fitted = {(tuple(sorted(f["dist_type"].unique())), f["dataset"].iloc[0]) for f in SEEN}
    assert (("white_noise",), "a") in fitted                 # the 'both' variant trained on the shared type only
    one = m[(m["plan"] == "one-vs-one") & (m["train_set"] == "a")]
    test_only = m[(m["plan"] == "shared-types-test") & (m["train_set"] == "a")]
    assert int(test_only["n"].iloc[0]) == 10 < int(one["n"].iloc[0]) == 20
    out = tmp_path / "o" / "tables"
    assert "Bosse et al. 2018, Table II" in (out / "shared_types_test.md").read_text()
    both = (out / "shared_types_both.md").read_text()
    assert "both sides restricted" in both and "a → b: white_noise." in both


# ----------------------------------------------------------------------------- failed and degenerate cells
def test_a_method_fails_only_where_it_failed_and_keeps_its_row(tmp_path, registry):
    registry("a", make_set(tmp_path, "a"))
    registry("b", make_set(tmp_path, "b"))
    res = run(RunConfig(suite="classical", datasets=["a", "b"], methods=["picky", "rec"], out=str(tmp_path / "o"),
                        n_repeats=2, progress=False, plots=False))
    m = res.metrics.set_index(["method", "test_set", "split"]).sort_index()
    assert (m.loc[("picky", "a"), "status"] == "failed").all()
    assert (m.loc[("picky", "b"), "status"] == "ok").all()                   # b still has its rows
    md = (tmp_path / "o" / "tables" / "single_dataset.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| Picky |"))
    assert row.split("|")[2].strip() == "failed" and row.split("|")[5].strip() not in ("failed", "–")
    assert "Picky on a: failed (cannot train on a)." in md
    assert "picky" not in res.failed_methods                                  # it has results on b


def test_undefined_correlations_are_left_out_and_counted(tmp_path, registry):
    registry("a", make_set(tmp_path, "a"))
    res = run(RunConfig(suite="classical", datasets=["a"], methods=["const", "rec"], out=str(tmp_path / "o"),
                        n_repeats=5, progress=False, plots=False))
    c = res.metrics[res.metrics["method"] == "const"]
    und = c[c["status"] == "undefined"]
    assert len(und) >= 1 and und["srocc"].isna().all() and (und["reason"] == "constant predictions").all()
    s = res.summary[(res.summary["method"] == "const")].iloc[0]
    assert s["n_splits"] == 5 - len(und)
    assert s["srocc_median"] == pytest.approx(c.loc[c["status"] == "ok", "srocc"].median())
    md = (tmp_path / "o" / "tables" / "single_dataset.md").read_text()
    assert f"Const on a: median of {5 - len(und)} of 5 splits; left out: {len(und)} with an undefined " \
           f"correlation (constant predictions)." in md
    assert f"({5 - len(und)})" in md and "trained CNNs on a CPU" not in md


# ----------------------------------------------------------------------------- aggregate and mapping in captions
def test_aggregate_and_mapping_are_stated_in_every_caption(tmp_path, registry):
    registry("a", make_set(tmp_path, "a", n_content=10))
    res = run(RunConfig(suite="classical", datasets=["a"], methods=["rec"], out=str(tmp_path / "o"), n_repeats=3,
                        progress=False, plots=False, aggregate="mean", mapping="logistic4"))
    md = (tmp_path / "o" / "tables.md").read_text()
    assert "a: mean of 3 random splits" in md and "4-parameter VQEG logistic" in md and "5-parameter" not in md
    assert "(mean over the splits where it is defined)" in md                 # the per-distortion table
    mean = res.metrics["srocc"].mean()
    assert f"| Recorder | **{mean:.3f}**" in md or f"| Recorder | {mean:.3f}" in md
    from benchmark.cli import main

    # regenerated tables keep the run's aggregate unless told otherwise
    assert main(["tables", "--out", str(tmp_path / "o"), "--no-plots", "--mapping", "logistic4"]) == 0
    assert (tmp_path / "o" / "tables.md").read_text() == md
    assert main(["tables", "--out", str(tmp_path / "o"), "--no-plots", "--aggregate", "median"]) == 0
    assert "a: median of 3 random splits" in (tmp_path / "o" / "tables.md").read_text()


# ----------------------------------------------------------------------------- every row over the same splits
def test_feature_svr_on_cnn_features_uses_every_split_like_brisque(tmp_path, registry, monkeypatch):
    # Issue 19: only networks trained on a CPU may be limited; ImageNet features + SVR is not one.
    _, svr, kang = registry.use_real("brisque", "mobilenet_v2_svr", "kang_cnn")
    assert svr.suite == "deep" and svr.trainable and not svr.trains_network
    # a tiny stand-in for the CNN features (tests never load weights); registry metadata kept
    registry.use(mbase.METHODS, dataclasses.replace(svr, factory=lambda ctx: Recorder(),
                                                     backbone=None))
    cfg = RunConfig(suite="all", datasets=["synth"], methods=["brisque", "mobilenet_v2_svr", "kang_cnn"],
                    out=str(tmp_path / "o"), quick=True, n_repeats=2, device="cpu", progress=False, plots=False,
                    dataset_options={"synth": {"n_contents": 3, "distortions": ["jpeg", "white_noise"]}})
    assert cfg.repeats_for(kang) == 1                                        # a network on a CPU, quick preset
    monkeypatch.setattr(cfg, "methods", ["brisque", "mobilenet_v2_svr"])
    res = run(cfg)
    n = res.summary.set_index("method")["n_splits"]
    assert n["brisque"] == n["mobilenet_v2_svr"] == 2


def test_rows_over_different_splits_are_shown_and_compared_on_common_splits(tmp_path, registry):
    registry("a", make_set(tmp_path, "a"))
    run(RunConfig(suite="all", datasets=["a"], methods=["rec", "net"], out=str(tmp_path / "o"), n_repeats=5,
                  device="cpu", progress=False, plots=False))
    md = (tmp_path / "o" / "tables" / "single_dataset.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| TinyNet |"))
    assert "(3)" in row and "a: median of 5 random splits" in md
    assert "TinyNet: networks trained on a CPU are trained and tested on the first 3 split(s) only" in md
    common = (tmp_path / "o" / "tables" / "single_dataset_common_splits.md").read_text()
    assert "a: median of 3 split(s) (r00, r01, r02)" in common and "(3)" not in common.split("\n\n")[1]
    run_json = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run_json["split_limits"] == {"net": 3}


# ----------------------------------------------------------------------------- failures are reported
def test_training_image_failures_reach_failures_csv_and_the_summary(tmp_path, registry, capsys):
    registry("a", make_set(tmp_path, "a", corrupt=[(0, 3)]))
    run(RunConfig(suite="classical", datasets=["a"], methods=["rec"], out=str(tmp_path / "o"), n_repeats=3,
                  progress=False, plots=False))
    f = pd.read_csv(tmp_path / "o" / "failures.csv", keep_default_na=False)
    train = f[f["stage"] == "train"]
    assert train["image"].str.endswith("c0_l3.png").any() and (train["dataset"] == "a").all()
    err = capsys.readouterr().err                                             # printed although progress=False
    assert "rec on a: 1 training image(s) left out of training, e.g." in err


def test_all_test_images_failing_names_them_and_the_exit_status_says_so(tmp_path, registry):
    from benchmark.cli import main

    registry.use_real("brisque")                                             # the real BRISQUE + SVR
    bad = registry("bad", make_set(tmp_path, "bad", n_content=5, corrupt=[(4, lev) for lev in range(1, 5)],
                                   split=lambda c: "test" if c == 4 else "train"))
    registry("good", make_set(tmp_path, "good"))
    out = tmp_path / "o"
    args = ["run", "--suite", "classical", "--methods", "brisque", "--quick", "--repeats", "2", "--no-plots",
            "--no-progress", "--n-jobs", "1", "--cache-dir", str(tmp_path / "cache")]
    assert main(args + ["--datasets", "bad", "good", "--out", str(out)]) == 0   # a result on good: status 0
    m = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    assert m.loc[m["test_set"] == "bad", "status"].tolist() == ["failed"]
    assert (m.loc[m["test_set"] == "good", "status"] == "ok").all()          # later datasets keep their rows
    f = pd.read_csv(out / "failures.csv", keep_default_na=False)
    named = set(f.loc[(f["dataset"] == "bad") & (f["stage"] == "test"), "image"])
    assert named == set(bad.loc[bad["split"] == "test", "image"])            # every failed image is named
    assert main(args + ["--datasets", "bad", "--out", str(tmp_path / "o2")]) == 1   # nothing at all: non-zero


def test_no_progress_still_prints_dataset_errors_and_the_failure_summary(tmp_path, registry, capsys):
    registry("a", make_set(tmp_path, "a", corrupt=[(0, 4)]))
    (tmp_path / "data").mkdir()
    run(RunConfig(suite="classical", datasets=["a", "live"], data_root=str(tmp_path / "data"), methods=["rec"],
                  out=str(tmp_path / "o"), n_repeats=2, progress=False, plots=False))
    err = capsys.readouterr().err
    assert "dataset live: not loaded" in err and "failures:" in err and "c0_l4.png" in err


def test_synth_is_generated_under_the_cache_dir(tmp_path):
    from benchmark.runner import resolve_datasets

    cache = tmp_path / "cache"
    cfg = RunConfig(datasets=["synth"], cache_dir=str(cache), progress=False,
                    dataset_options={"synth": {"n_contents": 1, "distortions": ["jpeg"]}})
    data, problems = resolve_datasets(cfg, lambda *a, **k: None)
    assert not problems and data["synth"]["image"].map(lambda p: p.startswith(str(cache))).all()


# ----------------------------------------------------------------------------- CLI mistakes: one line, no work
@pytest.mark.parametrize("extra,match", [
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--datasets", "nope"], "unknown dataset 'nope'"),
    (["--data-root", "{tmp}/missing"], "no such folder"),
    (["--out", "{tmp}/file.txt"], "exists and is not a folder"),
    (["--cache-dir", "{tmp}/file.txt"], "exists and is not a folder"),
])
def test_cli_mistakes_are_one_line_before_any_work(tmp_path, extra, match, monkeypatch):
    from benchmark import runner
    from benchmark.cli import main

    (tmp_path / "file.txt").write_text("x")
    monkeypatch.setattr(runner, "resolve_datasets", lambda *a, **k: pytest.fail("work started"))
    args = ["run", "--suite", "fr", "--methods", "psnr", "--out", str(tmp_path / "o"), "--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(args + [e.format(tmp=tmp_path) for e in extra])
    msg = str(exc.value)
    assert match in msg and "\n" not in msg and msg.startswith("iqabench: error:")
    assert not (tmp_path / "o").exists()


def test_cli_rejects_zero_repeats(capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", "fr", "--repeats", "0"])
    assert exc.value.code == 2 and "expected a positive integer, got 0" in capsys.readouterr().err


def test_run_config_errors_before_any_work(tmp_path):
    with pytest.raises(RunConfigError, match="n_repeats must be a positive integer"):
        run(RunConfig(out=str(tmp_path / "o"), n_repeats=0))
    with pytest.raises(RunConfigError, match="aggregate must be one of median, mean"):
        run(RunConfig(out=str(tmp_path / "o"), aggregate="mode"))
    assert not (tmp_path / "o").exists()
