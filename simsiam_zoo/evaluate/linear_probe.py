"""Linear probe on cached features: full-batch L-BFGS multinomial logistic regression."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor

from simsiam_zoo.arguments import as_sequence, check_real
from simsiam_zoo.distributed import device_named
from simsiam_zoo.evaluate._validation import check_at_least, check_features, check_labels, check_same_dim, class_count
from simsiam_zoo.evaluate.subsets import balanced_label_subset

DEFAULT_WEIGHT_DECAYS: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def weight_decay_to_sklearn_c(weight_decay: float, num_samples: int) -> float:
    """Return scikit-learn's ``LogisticRegression(C=...)`` that matches our ``weight_decay``.

    We minimise ``mean_i CE_i + weight_decay / 2 * ||W||^2`` (bias unpenalised); scikit-learn minimises
    ``C * sum_i CE_i + 1/2 * ||W||^2``. Dividing the latter by ``C * N`` gives the same objective, so
    ``C = 1 / (weight_decay * N)`` with N the number of training samples.
    """
    if not weight_decay > 0:
        raise ValueError(f"weight_decay must be > 0 to have a finite C, got {weight_decay}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    return 1.0 / (weight_decay * num_samples)


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe: ``logits = ((x - mean) / std) @ weight.T + bias``."""

    weight: Tensor  # (C, D), acts on standardised features
    bias: Tensor  # (C,)
    mean: Tensor  # (D,) train feature mean
    std: Tensor  # (D,) train feature std (population), 1 for constant features

    @torch.no_grad()
    def predict(self, x: Tensor, *, chunk_size: int = 65536) -> Tensor:
        """Predicted int64 labels for (N, D) features, on ``x``'s device."""
        check_features(x, "x")
        check_at_least(1, chunk_size=chunk_size)
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x has D={x.shape[1]} but the probe was fit on D={self.weight.shape[1]}")
        preds = [
            _logits(self, x[start : start + chunk_size]).argmax(dim=1).to(x.device)
            for start in range(0, x.shape[0], chunk_size)
        ]
        return torch.cat(preds)

    def accuracy(self, x: Tensor, y: Tensor) -> float:
        """Top-1 accuracy in percent."""
        check_labels(y, x.shape[0], "y")
        return 100.0 * (self.predict(x) == y.to(x.device)).double().mean().item()


def _logits(probe: LinearProbe, x: Tensor) -> Tensor:
    x = x.to(device=probe.weight.device, dtype=torch.float32)
    return ((x - probe.mean) / probe.std) @ probe.weight.T + probe.bias


def _check_fit(train_x: Tensor, train_y: Tensor, *, weight_decay: float, max_iter: int, chunk_size: int) -> None:
    check_features(train_x, "train_x")
    check_labels(train_y, train_x.shape[0], "train_y")
    check_real("weight_decay", weight_decay)
    if not 0 <= weight_decay <= 1e6:  # 1e300 or inf overflowed float32 in torch's error
        raise ValueError(f"weight_decay must be in [0, 1e6], got {weight_decay}")
    check_at_least(1, max_iter=max_iter, chunk_size=chunk_size)


# Gradients whatever the caller's mode: features made under `torch.inference_mode()` (the usual way), or a call
# inside `no_grad`, failed in torch's autograd.
@torch.inference_mode(False)
@torch.enable_grad()
def fit_linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    *,
    weight_decay: float,
    max_iter: int = 200,
    num_classes: int | None = None,
    chunk_size: int = 65536,
    device: torch.device | str | None = None,
) -> LinearProbe:
    """Fit multinomial logistic regression on standardised features with full-batch L-BFGS.

    Minimises ``mean CE + weight_decay / 2 * ||W||^2`` (see :func:`weight_decay_to_sklearn_c` for the
    scikit-learn equivalent) with strong-Wolfe line search, for at most ``max_iter`` iterations.
    Features are standardised with the train mean/std into one fp32 working copy on ``device``
    (default: their own device), so N x D x 4 bytes must fit there; the loss and gradient are
    accumulated over ``chunk_size`` rows at a time, so the optimisation is exactly full-batch while
    only a chunk of logits is held in memory.
    """
    _check_fit(train_x, train_y, weight_decay=weight_decay, max_iter=max_iter, chunk_size=chunk_size)
    device = device_named(device) if device is not None else train_x.device

    y = train_y.to(device=device, dtype=torch.long, copy=True)  # an inference tensor cannot be saved for backward
    num_classes = class_count(y, num_classes, "train_y")

    with torch.no_grad():
        x = train_x.to(device=device, dtype=torch.float32)
        std, mean = torch.std_mean(x, dim=0, correction=0)
        # Constant features would divide by zero; like sklearn's StandardScaler, leave them unscaled.
        std = torch.where(std > 0, std, torch.ones_like(std))
        # Standardise once, not in every loss evaluation: in place when .to() already made a private copy,
        # else into a new buffer, so there is one working copy and the caller's tensor is untouched.
        x = x.sub_(mean).div_(std) if x is not train_x else (x - mean) / std
    n, dim = x.shape

    weight = torch.zeros(num_classes, dim, device=device, requires_grad=True)
    bias = torch.zeros(num_classes, device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = 0.5 * weight_decay * weight.square().sum()
        loss.backward()
        total = loss.detach()
        for start in range(0, n, chunk_size):
            logits = x[start : start + chunk_size] @ weight.T + bias
            chunk_loss = F.cross_entropy(logits, y[start : start + chunk_size], reduction="sum")
            (chunk_loss / n).backward()
            total = total + chunk_loss.detach() / n
        return total

    optimizer.step(closure)
    return LinearProbe(weight=weight.detach(), bias=bias.detach(), mean=mean, std=std)


class SweepResult(TypedDict):
    """Output of :func:`linear_probe_sweep`."""

    test_accuracy: float  # top-1 % of the probe refit on all train data with the chosen weight decay
    weight_decay: float  # the chosen weight decay
    val_accuracies: dict[float, float]  # top-1 % on the validation split for each candidate
    probe: LinearProbe  # the refit probe


def _fit_and_validation_split(train_y: Tensor, *, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """CPU indices of the samples to fit on and of the class-stratified validation split, held out of the classes
    of two samples or more only, and never all of one: a class's samples in the validation split alone were unseen
    by every fit."""
    labels = train_y.cpu()
    counts = torch.bincount(labels)
    splittable = (counts >= 2)[labels].nonzero().squeeze(1)
    if splittable.numel() == 0:
        raise ValueError("every class has one train sample: none is left to choose a weight decay on")
    val_idx = splittable[balanced_label_subset(labels[splittable], fraction=val_fraction, seed=seed)]
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    is_val[val_idx] = True
    # Rounded half up, a large fraction takes a whole class (2 of 2 at 0.75): its first one goes back to the fit.
    taken_whole = (torch.bincount(labels[val_idx], minlength=len(counts)) == counts) & (counts > 0)
    for whole in taken_whole.nonzero().squeeze(1).tolist():
        is_val[val_idx[labels[val_idx] == whole][0]] = False
    return (~is_val).nonzero().squeeze(1), is_val.nonzero().squeeze(1)


def check_weight_decays(weight_decays: Any) -> tuple[float, ...]:
    """`weight_decays` as floats, each one `fit_linear_probe` takes; else a TypeError or ValueError naming it (said
    before any work: `transfer` extracted every split first)."""
    values = list(as_sequence("weight_decays", weight_decays, example="(1e-4, 1e-3)"))  # not a numpy array's truth
    try:  # numpy's and torch's scalars too; a bool or a string is no weight decay
        floats = tuple(float(wd) for wd in values if not isinstance(wd, (bool, str, bytes)))
    except (TypeError, ValueError):
        floats = ()
    if not values or len(floats) < len(values) or not all(0 <= wd <= 1e6 for wd in floats):
        raise ValueError(f"weight_decays must be numbers in [0, 1e6], at least one; got {values!r}")
    return floats


def linear_probe_sweep(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    *,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 200,
    device: torch.device | str | None = None,
) -> SweepResult:
    """Choose the weight decay on a held-out split of train, refit on all train, report test top-1.

    The validation split is class-stratified (:func:`balanced_label_subset` with ``val_fraction`` and
    ``seed``) over the classes with two samples or more, so the result is deterministic. Ties in validation
    accuracy go to the larger weight decay, the more regularised model.
    """
    check_features(train_x, "train_x")
    check_features(test_x, "test_x")
    check_same_dim(train_x, test_x)
    check_labels(train_y, train_x.shape[0], "train_y")
    check_labels(test_y, test_x.shape[0], "test_y")
    weight_decays = check_weight_decays(weight_decays)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")

    # Every fit gets the full class count, so a split that misses a rare class still yields comparable heads.
    num_classes = int(train_y.max()) + 1
    fit_idx, val_idx = _fit_and_validation_split(train_y, val_fraction=val_fraction, seed=seed)
    # CPU index tensors index tensors on any device.
    fit_x, fit_y = train_x[fit_idx], train_y[fit_idx]
    val_x, val_y = train_x[val_idx], train_y[val_idx]
    val_accuracies = {
        float(wd): fit_linear_probe(
            fit_x, fit_y, weight_decay=wd, max_iter=max_iter, num_classes=num_classes, device=device
        ).accuracy(val_x, val_y)
        for wd in weight_decays
    }
    best_wd = max(val_accuracies, key=lambda wd: (val_accuracies[wd], wd))
    probe = fit_linear_probe(
        train_x, train_y, weight_decay=best_wd, max_iter=max_iter, num_classes=num_classes, device=device
    )
    return SweepResult(
        test_accuracy=probe.accuracy(test_x, test_y),
        weight_decay=best_wd,
        val_accuracies=val_accuracies,
        probe=probe,
    )
