"""scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``) on the fitted methods.

* :class:`~benchmark.methods.regression.LinearKernel` is a numeric transformer: every check applies
  and passes.
* :class:`~benchmark.methods.regression.FeatureSVR` takes whatever its ``features`` transformer takes;
  with a numeric one (``FunctionTransformer(validate=True)``) it is a numeric regressor and runs every
  check; :data:`FEATURE_SVR_EXPECTED` lists the two that cannot pass by design, and why.
* The trained CNNs (:class:`deep.models._base.TrainedIQA` subclasses) and the fine-tuned ImageNet
  CNNs (:class:`deep.finetune.FineTunedCNN`, :class:`deep.deepbiq.DeepBIQ`) take image *records*
  (paths and scores), not a numeric ``X``: their ``input_tags.two_d_array`` tag is ``False``, so
  scikit-learn's data checks do not apply (:data:`RECORDS_NOT_APPLICABLE` says why, check by check;
  ``tests/test_contract.py`` runs their fit/predict/clone/determinism contract on real images); the
  checks that need no data (:data:`RECORDS_CHECKS`) run here.
"""
from __future__ import annotations

import inspect

import pytest
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as ec
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from benchmark.methods.regression import FeatureSVR, LinearKernel

#: FeatureSVR checks that cannot pass, and why (``expected_failed_checks``; strict xfail)
FEATURE_SVR_EXPECTED = {
    "check_requires_y_none": "fit(records, y=None) is the method contract: y defaults to the records' scores "
                             "(turned higher-is-better), so a missing y is not an error",
    "check_fit2d_1sample": "at least 3 usable training images are needed; the error names the images that "
                           "failed rather than sklearn's 'n_samples=1' wording",
}


def _expected(est) -> dict[str, str]:
    return FEATURE_SVR_EXPECTED if isinstance(est, FeatureSVR) else {}


@parametrize_with_checks([LinearKernel(), FeatureSVR(features=FunctionTransformer(validate=True), quick=True)],
                         expected_failed_checks=_expected, xfail_strict=True)
def test_numeric_estimators(estimator, check):
    check(estimator)


#: checks that need no data: they run on the record-based estimators
RECORDS_CHECKS = ("check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
                  "check_estimator_repr", "check_no_attributes_set_in_init", "check_estimators_unfitted",
                  "check_parameters_default_constructible", "check_get_params_invariance", "check_set_params",
                  "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order")
#: the other checks scikit-learn would run, grouped by why they cannot apply to image-record estimators
RECORDS_NOT_APPLICABLE = {
    "numeric X": "fit/predict take a records DataFrame of image paths (and references), so every check that "
                 "fits on a random numeric array (dtypes, NaN/inf, sparse, complex, empty data, 1-D / 2-D "
                 "shapes, n_features_in_, pickling a fitted model, regressor training, fit returns self, "
                 "parameters not overwritten by fit) has no input to give; tests/test_contract.py checks "
                 "fit returns self and leaves the parameters unchanged on real images",
    "sample weights": "no sample_weight: the papers' losses weight every image (or patch) equally",
    "fit_score_takes_y": "fits on numeric X; the signature part (fit(records, y=None)) is checked here",
}


def _record_estimators():
    torch = pytest.importorskip("torch")  # noqa: F841
    from deep.deepbiq import DeepBIQ
    from deep.finetune import FineTunedCNN
    from deep.models.bosse import DeepIQA
    from deep.models.kang import KangCNN
    from deep.models.kim import KimCNN
    from deep.models.yang import YangSiamese

    return [KangCNN(quick=True), DeepIQA(quick=True), DeepIQA(weighted=True, fr=True, quick=True),
            KimCNN(quick=True), YangSiamese(quick=True), FineTunedCNN("alexnet", "random"),
            DeepBIQ("mobilenet_v2", "random")]


@pytest.mark.parametrize("check", RECORDS_CHECKS)
def test_record_estimators(check):
    for est in _record_estimators():
        assert not get_tags(est).input_tags.two_d_array, type(est).__name__
        getattr(ec, check)(type(est).__name__, est)


def test_record_estimators_fit_signature():
    """``fit(records, y=None)`` and ``score(records, y)``: usable in a Pipeline / model selection."""
    for est in _record_estimators():
        for method in ("fit", "score"):
            params = list(inspect.signature(getattr(est, method)).parameters)
            assert params[1] == "y", (type(est).__name__, method, params)


def test_finetuned_cnn_stores_parameters_verbatim_and_checks_them_in_fit(tmp_path):
    pytest.importorskip("torch")
    import pandas as pd

    from deep.finetune import FineTunedCNN

    est = FineTunedCNN("MobileNet-V2", "random", loss="l1")
    assert est.get_params()["arch"] == "MobileNet-V2" and est.size == 224     # normalised where used
    records = pd.DataFrame({"image": [str(tmp_path / "missing.png")] * 3, "score": [1.0, 2.0, 3.0],
                            "higher_better": True})
    with pytest.raises(ValueError, match="unknown arch 'vgg19'"):        # before any file is read
        FineTunedCNN("vgg19").fit(records)
    with pytest.raises(ValueError, match="loss must be one of"):
        FineTunedCNN("alexnet", loss="huber").fit(records)
