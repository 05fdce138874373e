import pytest
import torch
from torch import nn

from simsiam_zoo.model import (
    HeadConfig,
    SimSiam,
    pooled_width,
    prediction_mlp,
    projection_mlp,
    untrained_backbone,
)


def _layer_list(module: nn.Sequential) -> list[tuple]:
    rows = []
    for layer in module:
        if isinstance(layer, nn.Linear):
            rows.append(("fc", layer.in_features, layer.out_features, layer.bias is not None))
        elif isinstance(layer, nn.BatchNorm1d):
            rows.append(("bn", layer.num_features, layer.affine))
        elif isinstance(layer, nn.ReLU):
            rows.append(("relu",))
    return rows


def test_projector_matches_the_papers_layer_list():
    # Paper section 4 / official builder.py: 3 fc, BN on each, ReLU on all but the output, 2048-d, output BN
    # without affine parameters.
    assert _layer_list(projection_mlp(2048, 2048, 2048)) == [
        ("fc", 2048, 2048, False),
        ("bn", 2048, True),
        ("relu",),
        ("fc", 2048, 2048, False),
        ("bn", 2048, True),
        ("relu",),
        ("fc", 2048, 2048, False),
        ("bn", 2048, False),
    ]


def test_predictor_matches_the_papers_layer_list():
    # 2048 -> 512 -> 2048 bottleneck, BN on the hidden layer only, no ReLU or BN on the output.
    assert _layer_list(prediction_mlp(2048, 512)) == [
        ("fc", 2048, 512, False),
        ("bn", 512, True),
        ("relu",),
        ("fc", 512, 2048, True),
    ]


@pytest.mark.parametrize(
    ("placement", "projector_bn", "predictor_bn"),
    [("none", 0, 0), ("hidden", 2, 1), ("default", 3, 1), ("all", 3, 2)],
)
def test_bn_placements_of_table_3(placement, projector_bn, predictor_bn):
    def count(m):
        return sum(isinstance(layer, nn.BatchNorm1d) for layer in m)

    assert count(projection_mlp(16, 16, 16, bn_placement=placement)) == projector_bn
    assert count(prediction_mlp(16, 4, bn_placement=placement)) == predictor_bn


def test_resnet50_simsiam_dimensions_and_zero_init_residual():
    model = SimSiam(untrained_backbone("resnet50"), HeadConfig())
    assert model.backbone.num_features == 2048
    # zero_init_residual: the last BN of every residual branch starts at 0 (official code's setting).
    assert all(
        block.bn3.weight.abs().sum() == 0 for layer in (model.backbone.layer1, model.backbone.layer4) for block in layer
    )
    model.eval()
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert out.p1.shape == out.z2.shape == (2, 2048)


def test_predictor_variants():
    backbone = untrained_backbone("resnet18")
    assert isinstance(SimSiam(backbone, HeadConfig(dim=32, predictor="identity")).predictor, nn.Identity)
    fixed = SimSiam(untrained_backbone("resnet18"), HeadConfig(dim=32, pred_dim=8, predictor="fixed_random"))
    assert not any(p.requires_grad for p in fixed.predictor.parameters())


def test_momentum_target_follows_the_online_encoder():
    torch.manual_seed(0)
    model = SimSiam(untrained_backbone("resnet18"), HeadConfig(dim=32, pred_dim=8), momentum=0.9)
    target_before = [p.clone() for p in model.target.parameters()]
    assert not any(p.requires_grad for p in model.target.parameters())
    with torch.no_grad():
        for p in model.projector.parameters():
            p.add_(1.0)
    model.update_target(progress=0.0)  # tau = 0.9 at the start of the cosine schedule
    moved = [(a - b).abs().max().item() for a, b in zip(model.target.parameters(), target_before, strict=True)]
    assert max(moved) == pytest.approx(0.1, rel=1e-4)
    out = model(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32))
    assert not out.z1.requires_grad and out.p1.requires_grad


@pytest.mark.parametrize("arch", ["mobilenetv3_small_050", "resnet18"])
def test_the_projector_takes_the_width_the_backbone_gives(arch: str) -> None:
    """MobileNetV3's conv_head follows its pooling: 1024 features where `num_features` says 288, and the first step
    failed in the projector (mat1 and mat2 shapes cannot be multiplied) after the run had claimed its folder."""
    backbone = untrained_backbone(arch)
    model = SimSiam(backbone, HeadConfig(dim=32, pred_dim=8)).eval()
    images = torch.randn(2, 3, 32, 32)
    width = backbone(images).shape[-1]
    assert pooled_width(backbone) == width == model.projector[0].in_features
    assert model.encode(images).shape == (2, 32)
