"""Training-step throughput of simsiam-zoo's SimSiam against lightly's, same backbone, batch and dtype.

Baseline: lightly (pip install lightly) SimSiamProjectionHead + SimSiamPredictionHead +
NegativeCosineSimilarity on the same timm backbone, with the stop-gradient done by the caller as lightly's
examples do. Both sides run interleaved rounds of the same fixed batch; the best round counts.

    python scripts/bench_train.py                      # resnet18, 64 px, batch 64, CPU fp32
    python scripts/bench_train.py --arch resnet50 --image-size 224 --batch-size 256 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from simsiam_zoo.losses import simsiam_loss
from simsiam_zoo.model import HeadConfig, SimSiam, untrained_backbone


class LightlySimSiam(nn.Module):
    """lightly's documented SimSiam: its heads and loss around the same backbone."""

    def __init__(self, backbone: nn.Module, *, dim: int, pred_dim: int):
        super().__init__()
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        self.backbone = backbone
        self.projection_head = SimSiamProjectionHead(backbone.num_features, backbone.num_features, dim)
        self.prediction_head = SimSiamPredictionHead(dim, pred_dim, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projection_head(self.backbone(x))
        return z.detach(), self.prediction_head(z)


def _timed_steps(step, steps: int, device: torch.device) -> float:
    step()  # warm-up (allocator, autotuning)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--pred-dim", type=int, default=512)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    from lightly.loss import NegativeCosineSimilarity

    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    x1, x2 = (
        torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device).contiguous(
            memory_format=memory_format
        )
        for _ in range(2)
    )
    ours = SimSiam(untrained_backbone(args.arch), HeadConfig(dim=args.dim, pred_dim=args.pred_dim))
    theirs = LightlySimSiam(untrained_backbone(args.arch), dim=args.dim, pred_dim=args.pred_dim)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    criterion = NegativeCosineSimilarity()

    def make_step(model: nn.Module, loss_fn):
        model.to(device, memory_format=memory_format).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

        def step() -> None:
            with autocast:
                loss = loss_fn(model)
            optimizer.zero_grad(set_to_none=True)
            loss.float().backward()
            optimizer.step()

        return step

    def ours_loss(model: SimSiam) -> torch.Tensor:
        return simsiam_loss(*model(x1, x2))

    def lightly_loss(model: LightlySimSiam) -> torch.Tensor:
        z1, p1 = model(x1)
        z2, p2 = model(x2)
        return 0.5 * (criterion(p1, z2) + criterion(p2, z1))

    steps = {"simsiam-zoo": make_step(ours, ours_loss), "lightly": make_step(theirs, lightly_loss)}
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(args.rounds):
        for name, step in steps.items():
            best[name] = min(best[name], _timed_steps(step, args.steps, device))
    images = args.steps * args.batch_size
    print(
        f"{args.arch} at {args.image_size} px, batch {args.batch_size} (x2 views), {args.precision}, "
        f"device {device}, {torch.get_num_threads()} threads, best of {args.rounds} rounds of {args.steps} steps"
    )
    print(f"{'implementation':16s} {'images/s':>10s}")
    for name in steps:
        print(f"{name:16s} {images / best[name]:>10.1f}")
    print(f"ratio simsiam-zoo / lightly (baseline) = {best['lightly'] / best['simsiam-zoo']:.3f}  (goal >= 1.0)")


if __name__ == "__main__":
    main()
