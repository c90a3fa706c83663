"""The CLI end to end: list, and run --suite fr on a small synth set (PSNR only, to stay fast)."""
import subprocess
import sys

from benchmark.cli import main


def test_list_shows_datasets_and_methods(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("synth", "live", "tid2013", "koniq10k", "biq2021", "psnr", "ssim", "fsimc", "gmsd"):
        assert name in out


def test_run_fr_on_synth_writes_tables(tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "fr", "--datasets", "synth", "--methods", "psnr",
           "--synth-contents", "3", "--repeats", "2", "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "tables.md").read_text()
    assert "PSNR" in md and "synth SROCC" in md and "severity level" in md
    tex = (out / "tables.tex").read_text()
    assert "\\toprule" in tex and "PSNR" in tex
    assert (out / "plots" / "scatter_synth.png").stat().st_size > 1000
    assert list((out / "predictions" / "psnr" / "within").glob("*__synth__r01.csv"))


def test_weights_argument_is_checked(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit, match="file not found"):
        main(["run", "--suite", "deep", "--weights", f"mobilenet_v2={tmp_path / 'missing.pth'}"])
