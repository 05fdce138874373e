"""Frozen-backbone embeddings of a dataset, batched, for monitors and evaluations."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def embed_dataset(
    backbone: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x D float32 embeddings, N int64 labels) of a dataset yielding (image tensor, label)."""
    device = torch.device(device)
    was_training = backbone.training
    backbone.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    features, labels = [], []
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    try:
        for images, batch_labels in loader:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                output = backbone(images)
            features.append(output.float().cpu())
            labels.append(torch.as_tensor(batch_labels, dtype=torch.int64))
    finally:
        backbone.train(was_training)
    return torch.cat(features), torch.cat(labels)
