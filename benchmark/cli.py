"""Command line: ``python -m benchmark {run,list,tables,goldens,sweep}`` (a thin layer over the Python API)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main"]


def _names(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out += [x for x in v.replace(",", " ").split() if x]
    return out


def _weights(values: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        if "=" not in v:
            raise SystemExit(f"--weights expects ARCH=PATH, got {v!r}")
        arch, path = v.split("=", 1)
        if not Path(path).expanduser().is_file():
            raise SystemExit(f"--weights {arch}: file not found: {path}")
        out[arch.strip()] = str(Path(path).expanduser().resolve())
    return out


def _plugins(values: Sequence[str] | None) -> list[str]:
    """Import the ``--plugin`` modules/files (one line and exit status 1 when one cannot be loaded)."""
    from features.registry import DuplicateNameError, PluginError

    from .plugins import load_plugins

    try:
        return load_plugins(values or [])
    except (PluginError, DuplicateNameError) as exc:
        raise SystemExit(f"iqabench: error: {' '.join(str(exc).split())}") from None


def _add_plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", metavar="MODULE_OR_FILE",
                   help="import a plugin first (a module name or a .py file; repeatable): its registered "
                        "methods, datasets, extractors and FR metrics join the built-ins")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _option_value(text: str):
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _dataset_options(values: Sequence[str] | None) -> dict[str, dict]:
    """``NAME.KEY=VALUE`` items -> ``{NAME: {KEY: value}}`` (true/false, numbers, else strings)."""
    out: dict[str, dict] = {}
    for v in values or []:
        name, dot, rest = v.partition(".")
        key, eq, val = rest.partition("=")
        if not (dot and eq and name.strip() and key.strip()):
            raise SystemExit(f"iqabench: error: --dataset-option expects NAME.KEY=VALUE, got {v!r}")
        out.setdefault(name.strip(), {})[key.strip()] = _option_value(val)
    return out


def build_parser() -> argparse.ArgumentParser:
    from .runner import SUITES

    p = argparse.ArgumentParser(prog="python -m benchmark", description="iqabench: classical-versus-deep IQA benchmark")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a suite and write tables, predictions and plots")
    r.add_argument("--suite", choices=SUITES, default="all",
                   help="fr, classical, deep, cross (cross-dataset plans of trainable methods) or all")
    r.add_argument("--datasets", nargs="+", metavar="NAME",
                   help="datasets to use (default: synth plus every dataset found under --data-root)")
    r.add_argument("--data-root", metavar="DIR", help="folder holding real datasets in their native layouts")
    r.add_argument("--out", default="results", metavar="DIR", help="output folder (default: results/)")
    r.add_argument("--methods", nargs="+", metavar="NAME", help="only these registered methods")
    r.add_argument("--quick", action="store_true", help="quick preset: 3 splits, small grids, tiny deep presets")
    r.add_argument("--repeats", type=_positive_int,
                   help="random splits per dataset without an official split (default 10)")
    r.add_argument("--protocol", choices=("auto", "random", "official"), default="auto")
    r.add_argument("--test-size", type=float, default=0.2)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--mapping", choices=("logistic5", "logistic4"), default="logistic5",
                   help="curve fitted before the mapped PLCC when the predictor is monotonic beyond chance")
    r.add_argument("--aggregate", choices=("median", "mean"), default="median",
                   help="aggregate over splits in every table (default median; Kim et al. and Bosse et al. "
                        "report the mean)")
    r.add_argument("--n-jobs", type=int, default=-1,
                   help="joblib processes for feature extraction and SVR grid search (default -1: all cores)")
    r.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address for feature extraction")
    r.add_argument("--weights", action="append", metavar="ARCH=PATH",
                   help="local state-dict file for a backbone (repeatable), e.g. mobilenet_v2=weights.pth")
    r.add_argument("--offline", action="store_true", default=None,
                   help="never download backbone weights (also IQABENCH_OFFLINE=1): use --weights or torch's cache")
    r.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    r.add_argument("--cpu-train", action="store_true",
                   help="without a GPU, also run the networks left out of a CPU run by default (deepIQA/WaDIQaM "
                        "NR and FR, Kim's and Yang's CNNs, fine-tuned backbones, DeepBIQ, VGG16 features + SVR): "
                        "each needs more than 10 CPU-minutes even on synth "
                        "(README: 'Trained CNNs on a CPU')")
    r.add_argument("--cache-dir", metavar="DIR", help="feature cache (default $IQABENCH_CACHE or ~/.cache/iqabench)")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    r.add_argument("--no-cross", action="store_true", help="skip cross-dataset plans in --suite all")
    r.add_argument("--no-plots", action="store_true")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--synth-contents", type=_positive_int, metavar="N", help="number of source photos in synth")
    r.add_argument("--dataset-option", action="append", metavar="NAME.KEY=VALUE",
                   help="an option of a dataset's loader (repeatable), e.g. clive.include_training=true for "
                        "CLIVE's 1169 images, live.dmos=dmos.mat")
    r.add_argument("--note", action="append", metavar="TEXT",
                   help="a note added to the run's main (single-dataset) table (repeatable), e.g. how a "
                        "dataset was subset")
    _add_plugin_option(r)

    lst = sub.add_parser("list", help="list datasets and methods")
    lst.add_argument("--data-root", metavar="DIR", help="also say which datasets are present there")
    _add_plugin_option(lst)

    t = sub.add_parser("tables", help="regenerate tables, CSV and plots from saved predictions")
    t.add_argument("--out", default="results", metavar="DIR")
    t.add_argument("--mapping", choices=("logistic5", "logistic4"), default="logistic5")
    t.add_argument("--aggregate", choices=("median", "mean"), default=None,
                   help="aggregate over splits (default: the run's own)")
    t.add_argument("--no-plots", action="store_true")
    _add_plugin_option(t)

    sw = sub.add_parser("sweep", help="vary one parameter of one method; tabulate and plot SROCC/PLCC")
    sw.add_argument("--method", required=True, help="registered method, e.g. mobilenet_v2_svr, deepiqa_nr_patchwise")
    sw.add_argument("--param", required=True,
                    help="n_crops | pooling | n_patches | kernel, or any parameter of the method's estimator")
    sw.add_argument("--values", nargs="+", required=True, help="values to try (ints, floats, names; 'all')")
    sw.add_argument("--dataset", default="synth")
    sw.add_argument("--data-root", metavar="DIR")
    sw.add_argument("--out", default="results/sweep", metavar="DIR")
    sw.add_argument("--pooling", nargs="+", default=["mean"],
                    help="n_crops: aggregation line(s): mean min max concat prediction (default mean)")
    sw.add_argument("--crops", type=int, help="pooling sweep: crops per image (default 25)")
    sw.add_argument("--train-crops", type=int, default=4, help="prediction pooling: crops per training image")
    sw.add_argument("--draws", type=int, default=5, help="n_patches: random draws per N_p (default 5)")
    sw.add_argument("--repeats", type=int, default=3, help="random splits when there is no official split")
    sw.add_argument("--max-train", type=int, metavar="N", help="random subset of N training images per split")
    sw.add_argument("--max-test", type=int, metavar="N", help="random subset of N test images per split")
    sw.add_argument("--cached-only", action="store_true",
                    help="crop sweeps: use only images whose per-crop features are already cached")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="fixed estimator parameter (repeatable)")
    sw.add_argument("--quick", action="store_true", help="small SVR grid and quick CNN presets")
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--weights", action="append", metavar="ARCH=PATH")
    sw.add_argument("--device")
    sw.add_argument("--n-jobs", type=int, default=1)
    sw.add_argument("--cache-dir", metavar="DIR")
    sw.add_argument("--no-plots", action="store_true")
    sw.add_argument("--no-progress", action="store_true")
    _add_plugin_option(sw)

    g = sub.add_parser("goldens", help="check (default) or regenerate the score-drift golden values")
    g.add_argument("--update", action="store_true", help="rewrite benchmark/reference/ (the package's golden files) from the current code")
    g.add_argument("--reference", default=None, metavar="DIR", help="golden folder (default: benchmark/reference inside the package)")
    return p


def cmd_run(a: argparse.Namespace) -> int:
    """Run a suite.  Mistakes in the arguments are one line and exit status 1 before any work; the
    exit status is 1 too when a method named in ``--methods`` (or every method) produced no result."""
    from .datasets import DatasetError
    from .runner import RunConfig, RunConfigError, run

    cache = None if a.no_cache else (a.cache_dir or True)
    opts = _dataset_options(a.dataset_option)
    if a.synth_contents:
        opts.setdefault("synth", {})["n_contents"] = a.synth_contents
    cfg = RunConfig(suite=a.suite, datasets=_names(a.datasets), data_root=a.data_root, out=a.out,
                    methods=_names(a.methods), quick=a.quick, n_repeats=a.repeats, protocol=a.protocol,
                    test_size=a.test_size, seed=a.seed, mapping=a.mapping, aggregate=a.aggregate, n_jobs=a.n_jobs,
                    scheduler=a.scheduler, weights=_weights(a.weights), offline=a.offline, device=a.device,
                    cache_dir=cache,
                    cross=False if a.no_cross else None, plots=not a.no_plots, progress=not a.no_progress,
                    dataset_options=opts, cpu_train=a.cpu_train, plugins=list(a.plugin or []),
                    notes=list(a.note or []))
    try:
        cfg.validate()
    except RunConfigError as exc:
        raise SystemExit(f"iqabench: error: {exc}") from None
    try:
        res = run(cfg)
    except DatasetError as exc:     # no dataset could be loaded (each one's reason was printed above)
        print(f"iqabench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    md = Path(a.out) / "tables.md"
    if md.exists():
        print(md.read_text())
    print(f"wall time {res.wall_s:.1f} s; outputs in {res.out}/")
    requested = [m for m in (cfg.methods or []) if m in res.failed_methods]
    produced = set(res.metrics.loc[res.metrics["status"] == "ok", "method"]) if not res.metrics.empty else set()
    if requested:
        print(f"iqabench: error: no result at all for requested method(s) {', '.join(requested)} "
              f"(see failures.csv)", file=sys.stderr)
        return 1
    if not produced:
        print("iqabench: error: no method produced a result (see failures.csv)", file=sys.stderr)
        return 1
    return 0


TITLE_WIDTH = 40

#: the score's own name in a dataset's notes: "MOS", "DMOS", "Realigned MOS", "'dmos'" (not "DMOS-like",
#: "csiq.DMOS.xlsx" or "mos_1to5")
_SCORE_NAME = re.compile(r"(?<![\w.'-])'?((?:realigned\s+)?d?mos)'?(?![\w-])", re.IGNORECASE)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def score_label(info) -> str:
    """``"<score name> (higher|lower is better)"`` for a :class:`~benchmark.datasets.DatasetInfo`.

    The name is the first MOS/DMOS mention in the dataset's ``notes`` (``Realigned MOS`` for
    CID2013, ``DMOS`` for KADID-10k's ``dmos`` column); without one, ``MOS`` for higher-is-better
    scores and ``DMOS`` for lower-is-better ones.
    """
    m = _SCORE_NAME.search(info.notes or "")
    if m:
        *prefix, score = m.group(1).split()
        name = " ".join([*(w.capitalize() for w in prefix), score.upper()])
    else:
        name = "MOS" if info.higher_better else "DMOS"
    return f"{name} ({'higher' if info.higher_better else 'lower'} is better)"


def _table(rows: list[list[str]]) -> list[str]:
    """Rows of cells, left-aligned in columns as wide as their widest cell (the last column unpadded)."""
    if not rows:
        return []
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]) - 1)]
    return ["  " + " ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]


def cmd_list(a: argparse.Namespace) -> int:
    from .datasets import list_datasets
    from .datasets.base import DATASETS
    from .methods.base import METHODS, available, list_methods

    _plugins(a.plugin)
    print("Datasets:")
    rows = []
    for d in list_datasets():
        where = ""
        if d.builtin:
            where = "built in"
        elif a.data_root:
            root = d.find_root(a.data_root)
            where = f"found at {root}" if root else "not found"
        ref = "FR+NR" if d.has_reference else "NR only"
        rows.append([d.name, _clip(d.title, TITLE_WIDTH), d.kind, ref, score_label(d), where + _source(DATASETS, d.name)])
    print("\n".join(_table(rows)))
    print("\nMethods:")
    rows = []
    for m in sorted(list_methods("all", include_unavailable=True), key=lambda m: (m.suite, m.name)):
        flag = "" if available(m) else f"  [needs {', '.join(m.requires)}]"
        direction = "higher" if m.higher_better else "lower"
        rows.append([m.name, m.display, m.kind, m.suite, "trained" if m.trainable else "training-free",
                     f"{direction}-is-better{flag}{_source(METHODS, m.name)}"])
    print("\n".join(_table(rows)))
    return 0


def _source(registry, name: str) -> str:
    """``"  [plugin: where]"`` for an entry a plugin registered, else nothing."""
    return "" if registry.is_builtin(name) else f"  [plugin: {registry.origin(name)}]"


def cmd_tables(a: argparse.Namespace) -> int:
    from .regenerate import regenerate

    _plugins(a.plugin)   # not needed for the tables (the run saved each method's metadata); accepted
    files = regenerate(Path(a.out), mapping=a.mapping, plots=not a.no_plots, aggregate=a.aggregate)
    print(f"rewrote {len(files)} files in {a.out}/")
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from .analysis.sweep import SweepConfig, check_config, parse_values, run_sweep

    _plugins(a.plugin)
    fixed: dict = {}
    for kv in a.set or []:
        if "=" not in kv:
            raise SystemExit(f"--set expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        fixed[k.strip()] = parse_values([v])[0]
    cfg = SweepConfig(method=a.method, param=a.param, values=parse_values(a.values), dataset=a.dataset,
                      data_root=a.data_root, out=a.out, pooling=a.pooling, crops=a.crops, train_crops=a.train_crops,
                      draws=a.draws, repeats=a.repeats, max_train=a.max_train, max_test=a.max_test,
                      cached_only=a.cached_only, quick=a.quick, seed=a.seed,
                      weights=_weights(a.weights), set_params=fixed, cache_dir=a.cache_dir or True, device=a.device,
                      n_jobs=a.n_jobs, progress=not a.no_progress, plots=not a.no_plots)
    try:
        check_config(cfg)
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"sweep: {exc}") from None
    res = run_sweep(cfg)
    print(res["table"].to_markdown())
    print(f"wall time {res['wall_s']:.1f} s; outputs in {a.out}/")
    return 0


def cmd_goldens(a: argparse.Namespace) -> int:
    from .goldens import check_goldens, update_goldens

    if a.update:
        path = update_goldens(a.reference)
        print(f"golden values written to {path}; review them with `git diff {path}`")
        return 0
    problems = check_goldens(a.reference)
    if problems:
        print("\n".join(problems))
        return 1
    print("no drift")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    handler = {"run": cmd_run, "list": cmd_list, "tables": cmd_tables, "goldens": cmd_goldens,
               "sweep": cmd_sweep}[a.command]
    return handler(a)


if __name__ == "__main__":
    sys.exit(main())
