"""Deep IQA models (torch/torchvision): ImageNet backbones, transfer baselines and IQA CNNs."""
