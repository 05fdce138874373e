"""SimSiam loss: a pure function of the two predictions and the two projections.

The stop-gradient lives here, not in the caller (lightly's `NegativeCosineSimilarity` leaves the
detach to the caller, which is the one line that decides between learning and collapse).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from simsiam_zoo.choices import Similarity
from simsiam_zoo.errors import type_name


def negative_similarity(p: torch.Tensor, z: torch.Tensor, *, similarity: Similarity = "cosine") -> torch.Tensor:
    """D(p, z) of the paper, averaged over the batch. Minimum -1 for cosine."""
    if p.dim() != 2 or p.shape != z.shape or p.shape[0] == 0:  # shapes only: no host sync in the step loop
        # Two shapes broadcast into another loss in silence; an empty batch gave NaN.
        raise ValueError(
            f"p and z must be batches of vectors (N, d) of one shape, got {tuple(p.shape)} and {tuple(z.shape)}"
        )
    if similarity == "cosine":
        return -F.cosine_similarity(p, z, dim=-1).mean()
    if similarity == "cross_entropy":
        # Paper section 4.5: D(p, z) = -softmax(z) . log softmax(p), softmax along channels.
        return -(F.softmax(z, dim=-1) * F.log_softmax(p, dim=-1)).sum(dim=-1).mean()
    raise ValueError(f"unknown similarity {similarity!r}; expected 'cosine' or 'cross_entropy'")


def simsiam_loss(
    p1: torch.Tensor,
    p2: torch.Tensor,
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    stop_gradient: bool = True,
    symmetric: bool = True,
    similarity: Similarity = "cosine",
) -> torch.Tensor:
    """L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2  (or only the first term when not symmetric)."""
    for name, value in (("p1", p1), ("p2", p2), ("z1", z1), ("z2", z2)):  # a numpy array had no .detach()
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type_name(value)}")
    if stop_gradient:
        z1, z2 = z1.detach(), z2.detach()
    loss = negative_similarity(p1, z2, similarity=similarity)
    if not symmetric:
        return loss
    return 0.5 * loss + 0.5 * negative_similarity(p2, z1, similarity=similarity)


@torch.no_grad()
def normalized_std(z: torch.Tensor) -> torch.Tensor:
    """Per-channel std of l2-normalised outputs, averaged over channels (paper Fig. 2, middle).

    Collapse to a constant gives 0; outputs spread like a zero-mean isotropic Gaussian give 1/sqrt(d).
    """
    if z.dim() != 2 or z.shape[0] < 2 or z.shape[1] < 1:  # a shape check only: reads nothing from the device
        raise ValueError(f"z must be a batch of two or more vectors (N, d), got shape {tuple(z.shape)}")
    return std_from_moments(normalized_moments(z)).float()


@torch.no_grad()
def normalized_moments(z: torch.Tensor) -> torch.Tensor:
    """The row count, then the per-channel sums and sums of squares of l2-normalised outputs `z` (N, d): summed
    over the ranks' shares of a batch, `std_from_moments` gives the whole batch's `normalized_std` (a mean of the
    ranks' own stds depended on how many there were). In float64 (float32 on MPS, which lacks it), so that taking
    the mean's square off the mean square loses nothing that matters."""
    precise = torch.float32 if z.device.type == "mps" else torch.float64
    unit = F.normalize(z.to(precise), dim=-1)
    return torch.cat([unit.new_full((1,), unit.shape[0]), unit.sum(dim=0), unit.square().sum(dim=0)])


def std_from_moments(moments: torch.Tensor) -> torch.Tensor:
    """`normalized_std` of the rows whose `normalized_moments` (summed) these are."""
    count, (sums, squares) = moments[0], moments[1:].view(2, -1)
    variance = (squares - sums.square() / count) / (count - 1)  # Bessel's correction, as torch.std
    return variance.clamp_min(0).sqrt().mean()
