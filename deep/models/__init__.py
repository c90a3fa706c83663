"""IQA CNNs from the source papers, each with ``fit(records)`` / ``predict(records)``.

* :class:`~deep.models.kang.KangCNN` - Kang et al. 2014 (patch CNN, local normalisation).
* :class:`~deep.models.bosse.DeepIQA` - Bosse et al. 2018 deepIQA / WaDIQaM, NR and FR.
* :class:`~deep.models.kim.KimCNN` - Kim et al. 2017 image-wise CNN baseline.
* :class:`~deep.models.yang.YangSiamese` - Yang et al. 2019 Siamese ranking + quality attributes.
"""
