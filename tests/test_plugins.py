"""Your own method, two ways: ``--plugin FILE`` and an installed package's entry points.

The example plugin (``examples/sharpness_plugin.py``: a training-free Laplacian sharpness and a
Laplacian statistics + FeatureSVR method) lives outside the package; every test here runs it
through the command line (``run``, ``list``, ``tables``) and leaves the registries as it found them.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import pytest

from benchmark.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sharpness_plugin.py"
LABELS = ("Laplacian sharpness", "Laplacian stats + SVR")
PLUGIN_MODULES = ("sharpness_plugin", "iqabench_sharpness", "clash_plugin", "broken_plugin")


@pytest.fixture
def isolated(monkeypatch):
    """Registries, ``sys.path``, ``sys.modules`` and the loaded-plugin list restored after the test."""
    import features.registry as freg
    from benchmark.plugins import registries

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(freg, "_PLUGINS", {})
    with contextlib.ExitStack() as stack:
        for reg in registries().values():
            stack.enter_context(reg.temporarily())
        yield stack
    for name in PLUGIN_MODULES:
        sys.modules.pop(name, None)


def _run_args(tmp_path, *extra):
    return ["run", "--methods", "laplacian_sharpness", "laplacian_svr", "--datasets", "synth", "--quick",
            "--repeats", "2", "--synth-contents", "3", "--dataset-option", "synth.size=64", "--out",
            str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--n-jobs", "1", "--no-plots",
            "--no-progress", *extra]


def _check_run_and_tables(tmp_path, capsys, run_extra, unload):
    assert main(_run_args(tmp_path, *run_extra)) == 0
    out = capsys.readouterr().out
    assert all(lab in out for lab in LABELS) and "*NR hand-crafted*" in out
    tables = (tmp_path / "out" / "tables.md").read_text()
    unload()                      # the plugin's code is gone: the saved metadata rebuilds its rows
    from benchmark.methods import METHODS

    assert "laplacian_svr" not in METHODS
    (tmp_path / "out" / "tables.md").unlink()
    assert main(["tables", "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    assert (tmp_path / "out" / "tables.md").read_text() == tables
    assert all(lab in tables for lab in LABELS)


def test_plugin_file_in_list_run_and_tables(tmp_path, capsys, isolated):
    assert main(["list", "--plugin", str(EXAMPLE)]) == 0
    listing = capsys.readouterr().out
    for name, label in zip(("laplacian_sharpness", "laplacian_svr"), LABELS):
        row = next(ln for ln in listing.splitlines() if ln.split()[:1] == [name])
        assert label in row and "[plugin: " in row and "sharpness_plugin.py:" in row
    assert "[plugin:" not in next(ln for ln in listing.splitlines() if ln.split()[:1] == ["brisque"])

    def unload():
        isolated.close()          # restore the registries: the plugin's entries are gone

    _check_run_and_tables(tmp_path, capsys, ["--plugin", str(EXAMPLE)], unload)
    side = next((tmp_path / "out" / "predictions" / "laplacian_svr" / "within").glob("*.json")).read_text()
    assert '"label": "Laplacian stats + SVR"' in side and '"version": "1"' in side


def test_installed_package_entry_points_in_list_run_and_tables(tmp_path, capsys, isolated):
    """A distribution on sys.path declaring iqabench.methods / iqabench.extractors entry points; no
    --plugin, nothing installed by pip."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(EXAMPLE, site / "iqabench_sharpness.py")
    info = site / "iqabench_sharpness-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iqabench-sharpness\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[iqabench.methods]\n"
        "laplacian_sharpness = iqabench_sharpness:LaplacianSharpness\n"
        "laplacian_svr = iqabench_sharpness:laplacian_svr\n"
        "[iqabench.extractors]\n"
        "laplacian_stats = iqabench_sharpness\n")
    sys.path.insert(0, str(site))
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(lab in listing for lab in LABELS)
    assert "entry point 'laplacian_svr = iqabench_sharpness:laplacian_svr'" not in listing   # imported: file:line
    assert "iqabench_sharpness.py:" in listing

    def unload():
        sys.path.remove(str(site))
        isolated.close()

    _check_run_and_tables(tmp_path, capsys, [], unload)


def test_plugin_mistakes_are_one_line(tmp_path, capsys, isolated):
    clash = tmp_path / "clash_plugin.py"
    clash.write_text("from benchmark.methods import register_method\n\n\n"
                     "@register_method('brisque', label='Mine')\ndef build(ctx):\n    return None\n")
    with pytest.raises(SystemExit) as err:
        main(["list", "--plugin", str(clash)])
    msg = str(err.value)
    assert msg.startswith("iqabench: error: method 'brisque' is registered twice") and "\n" not in msg
    assert "features/brisque.py:" in msg and "clash_plugin.py:4" in msg
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(SystemExit, match=r"--plugin .*broken_plugin.py: cannot import it: ModuleNotFoundError"):
        main(["list", "--plugin", str(broken)])
    with pytest.raises(SystemExit, match="no such file"):
        main(["run", "--plugin", str(tmp_path / "absent.py"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="No module named 'no_such_plugin_module'"):
        main(["tables", "--plugin", "no_such_plugin_module", "--out", str(tmp_path / "o")])
