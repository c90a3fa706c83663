"""Table rendering: grouping, top-three bold, dashes, LaTeX booktabs, summaries."""
import numpy as np
import pandas as pd

from benchmark.tables import Table, cross_matrix_table, single_dataset_table, summarise


def metrics_frame():
    rows = []
    spec = [("psnr", "PSNR", "FR", 0.80), ("ssim", "SSIM", "FR", 0.90), ("brisque", "BRISQUE", "NR hand-crafted", 0.70),
            ("cnn", "CNN+SVR", "NR deep", 0.95), ("kang", "Kang", "NR deep", 0.60)]
    for m, label, group, base in spec:
        for ds, off in (("synth", 0.0), ("live", -0.05)):
            for k in range(3):
                rows.append({"method": m, "label": label, "group": group, "plan": "within", "train_set": ds,
                             "test_set": ds, "split": f"r{k:02d}", "srocc": base + off + 0.01 * k,
                             "plcc": base + off + 0.02 * k, "krocc": 0.5, "plcc_raw": 0.5, "rmse": 1.0, "n": 10})
    rows.append({"method": "cnn", "label": "CNN+SVR", "group": "NR deep", "plan": "one-vs-one", "train_set": "synth",
                 "test_set": "live", "split": "all", "srocc": 0.42, "plcc": 0.40, "krocc": 0.3, "plcc_raw": 0.4,
                 "rmse": 1.0, "n": 10})
    return pd.DataFrame(rows)


def test_summary_median_mean_std():
    s = summarise(metrics_frame())
    row = s[(s.method == "ssim") & (s.test_set == "synth")].iloc[0]
    assert row.srocc_median == 0.91
    assert np.isclose(row.srocc_mean, 0.91)
    assert np.isclose(row.srocc_std, np.std([0.90, 0.91, 0.92]))
    assert row.n_splits == 3


def test_single_dataset_table_groups_and_bold_top_three():
    t = single_dataset_table(summarise(metrics_frame()), ["synth", "live"], caption="cap")
    assert t.row_groups == ["FR", "FR", "NR hand-crafted", "NR deep", "NR deep"]
    md = t.to_markdown()
    lines = md.splitlines()
    assert ("| Method | synth SROCC | synth PLCC | synth PLCC raw | live SROCC | live PLCC | live PLCC raw |"
            in md)
    empty = " |" * 6
    assert lines.index(f"| *FR* |{empty}") < lines.index(f"| *NR hand-crafted* |{empty}") < \
        lines.index(f"| *NR deep* |{empty}")
    # top three of the synth SROCC column: cnn 0.96, ssim 0.91, psnr 0.81 are bold; brisque and kang are not
    assert "| CNN+SVR | **0.960**" in md and "| SSIM | **0.910**" in md and "| PSNR | **0.810**" in md
    assert "| BRISQUE | 0.710" in md and "| Kang | 0.610" in md
    tex = t.to_latex()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\multicolumn{3}{c}{synth}" in tex and "\\textbf{0.960}" in tex
    assert "\\textit{NR deep}" in tex


def test_missing_cells_are_dashes_and_not_bold():
    t = Table("t", "c", ["a", "b", "c"], [("x", "")], np.array([[0.5], [np.nan], [0.7]]))
    md = t.to_markdown()
    assert "| b | –" in md and "| a | **0.500**" in md and "| c | **0.700**" in md
    assert "--" in t.to_latex()


def test_ties_share_bold_and_lower_is_better_columns():
    t = Table("t", "c", list("abcde"), [("x", "")], np.array([[1.0], [2.0], [3.0], [4.0], [4.0]]),
              higher_better=[False])
    bold = t._bold()[:, 0]
    assert bold.tolist() == [True, True, True, False, False]


def test_cross_matrix_diagonal_is_within_result():
    t = cross_matrix_table(summarise(metrics_frame()), ["synth", "live"], method_order=["cnn"])
    assert t.row_labels == ["synth →", "live →"]
    assert np.isclose(t.values[0, 0], 0.96) and np.isclose(t.values[0, 1], 0.42)
    assert np.isnan(t.values[1, 0]) and np.isclose(t.values[1, 1], 0.91)


def test_cross_matrix_leaves_out_methods_without_cross_results():
    t = cross_matrix_table(summarise(metrics_frame()), ["synth", "live"])
    # only cnn has a one-vs-one result; psnr/ssim/brisque/kang would show nothing but their diagonal
    assert t.row_groups == ["CNN+SVR", "CNN+SVR"]
