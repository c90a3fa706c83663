"""Split disjointness and reproducibility, official splits, cross-dataset plans."""
import numpy as np
import pandas as pd
import pytest

from benchmark.protocol import (content_splits, cross_plans, lodo_plans, official_split, plan_splits,
                                shared_types)


def records(n_content=25, per=4, split=None):
    rows = []
    for c in range(n_content):
        for k in range(per):
            rows.append({"image": f"/x/c{c}_{k}.png", "content": f"c{c}", "score": float(k), "dist_type": "jpeg",
                         "split": "" if split is None else split(c)})
    return pd.DataFrame(rows)


def test_content_disjoint_80_20():
    rec = records()
    splits = content_splits(rec, n_repeats=10, seed=0)
    assert len(splits) == 10
    for sp in splits:
        tr = set(rec["content"].iloc[sp.train])
        te = set(rec["content"].iloc[sp.test])
        assert not tr & te
        assert len(te) == 5 and len(tr) == 20
        assert len(sp.train) + len(sp.test) == len(rec)


def test_splits_reproducible_and_different_across_repeats():
    rec = records()
    a = content_splits(rec, n_repeats=5, seed=3)
    b = content_splits(rec, n_repeats=5, seed=3)
    for x, y in zip(a, b):
        assert np.array_equal(x.test, y.test) and np.array_equal(x.train, y.train)
    tests = {tuple(sp.test) for sp in a}
    assert len(tests) == 5
    # independent of row order
    shuffled = rec.sample(frac=1.0, random_state=0).reset_index(drop=True)
    c1 = [set(rec["content"].iloc[sp.test]) for sp in a]
    c2 = [set(shuffled["content"].iloc[sp.test]) for sp in content_splits(shuffled, n_repeats=5, seed=3)]
    assert c1 == c2


def test_small_dataset_does_not_repeat_a_test_set():
    # 6 contents, 1 test content per split: seeds 0 and 2 draw the same content; the second is skipped
    rec = records(n_content=6)
    splits = content_splits(rec, n_repeats=6, seed=0)
    tests = [frozenset(rec["content"].iloc[sp.test]) for sp in splits]
    assert len(set(tests)) == 6
    assert [sp.name for sp in splits] == [f"r{i:02d}" for i in range(6)]
    # more repeats than distinct test sets: repeats are allowed once all are used
    assert len(content_splits(rec, n_repeats=8, seed=0)) == 8


def test_validation_carved_from_training_contents():
    rec = records()
    for sp in content_splits(rec, n_repeats=3, val_size=0.25):
        tr, te, va = (set(rec["content"].iloc[i]) for i in (sp.train, sp.test, sp.val))
        assert va and not (va & tr) and not (va & te)
        assert len(tr) + len(va) == 20


def test_official_split_used_when_present():
    rec = records(split=lambda c: "test" if c < 5 else ("val" if c < 8 else "train"))
    plan = plan_splits(rec)
    assert len(plan) == 1 and plan[0].name == "official"
    sp = official_split(rec)
    assert set(rec["split"].iloc[sp.test]) == {"test"}
    assert set(rec["split"].iloc[sp.train]) == {"train"}
    assert len(sp.val) == 12
    assert len(plan_splits(rec, "random", n_repeats=2)) == 2
    with pytest.raises(ValueError):
        official_split(records())


def test_cross_plans():
    names = ["a", "b", "c"]
    assert {(p.train_sets, p.test_set) for p in cross_plans(names)} == {
        (("a",), "b"), (("a",), "c"), (("b",), "a"), (("b",), "c"), (("c",), "a"), (("c",), "b")}
    lodo = lodo_plans(names)
    assert [(p.train_sets, p.test_set) for p in lodo] == [(("b", "c"), "a"), (("a", "c"), "b"), (("a", "b"), "c")]
    assert lodo_plans(["a", "b"]) == []
    a = pd.DataFrame({"dist_type": ["jpeg", "white_noise", ""]})
    b = pd.DataFrame({"dist_type": ["jpeg", "gaussian_blur", "white_noise"]})
    assert shared_types(a, b) == ("jpeg", "white_noise")
