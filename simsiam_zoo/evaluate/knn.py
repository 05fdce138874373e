"""Weighted k-nearest-neighbour classification on cached features (InstDisc / DINO protocol)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from simsiam_zoo.arguments import as_sequence, check_real, is_int
from simsiam_zoo.distributed import device_named
from simsiam_zoo.evaluate._validation import check_at_least, check_features, check_labels, check_same_dim, class_count


def _check_inputs(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    ks: Sequence[int],
    temperature: float,
    chunk_size: int,
) -> None:
    check_features(train_features, "train_features")
    check_features(test_features, "test_features")
    check_same_dim(train_features, test_features)
    check_labels(train_labels, train_features.shape[0], "train_labels")
    if not ks or any(not is_int(k) or k < 1 for k in ks):
        raise ValueError(f"ks must be whole numbers >= 1, got {tuple(ks)}")
    check_real("temperature", temperature)
    if not (math.isfinite(temperature) and temperature > 0):  # inf weighed every neighbour alike, NaN failed later
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    check_at_least(1, chunk_size=chunk_size)


def _knn_predict(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    ks: Sequence[int],
    temperature: float,
    num_classes: int | None,
    chunk_size: int,
    device: torch.device | str | None,
) -> dict[int, Tensor]:
    """Predict test labels for every k in ``ks`` from one top-max(k) search."""
    _check_inputs(train_features, train_labels, test_features, ks=ks, temperature=temperature, chunk_size=chunk_size)
    n_train = train_features.shape[0]
    if clamped := sorted({k for k in ks if k > n_train}):
        warnings.warn(
            f"k={', '.join(map(str, clamped))} {'exceeds' if len(clamped) == 1 else 'exceed'} the {n_train} training "
            f"samples; clamping k to {n_train} (every training sample votes)",
            stacklevel=3,
        )
    device = device_named(device) if device is not None else train_features.device

    with torch.no_grad():
        # No-op when already on the device, so 1.28M x 2048 train features are not duplicated.
        train = train_features.to(device=device)
        labels = train_labels.to(device=device, dtype=torch.long)
        num_classes = class_count(labels, num_classes, "train_labels")
        centre = _mean_direction(train)

        k_max = min(max(ks), n_train)
        preds: dict[int, list[Tensor]] = {k: [] for k in ks}
        # Exact on a CPU (float64, as scikit-learn on float64 features); float32 products on an accelerator, where
        # float64 is slow.
        compute = torch.float64 if device.type == "cpu" else torch.float32
        for start in range(0, test_features.shape[0], chunk_size):
            query = test_features[start : start + chunk_size].to(device=device, dtype=compute)
            query = query / query.norm(dim=1, keepdim=True).clamp_min(1e-12)
            sim = _similarities(query, train, centre)  # (chunk, N_train): the only large temporary
            top_sim, top_idx = _nearest(sim, k_max)
            del sim  # free it before the next chunk's matmul allocates another, halving peak memory
            top_labels = labels[top_idx]
            # exp(sim / T) over each row's largest, which leaves the votes' order as it is: at a small T the
            # plain exponential overflows float32 (sim / T > 88), and every vote would be inf.
            top_weight = ((top_sim - top_sim[:, :1]) / temperature).exp_()
            for k, chunks in preds.items():
                # Ordered by (similarity, index): the first k columns are the k nearest, whatever the other ks.
                k_eff = min(k, n_train)
                votes = torch.zeros(query.shape[0], num_classes, device=device, dtype=top_weight.dtype)
                votes.scatter_add_(1, top_labels[:, :k_eff], top_weight[:, :k_eff])
                # argmax returns the first maximum, so exact vote ties go to the smallest class id.
                chunks.append(votes.argmax(dim=1).to(test_features.device))
    return {k: torch.cat(chunks) for k, chunks in preds.items()}


# Train rows made unit-length at a time: a float64 temporary of this many rows.
_TRAIN_CHUNK = 8192


def _unit_rows(train: Tensor, start: int) -> Tensor:
    """Rows `start` on of the train features, l2-normalised in float64 (float32 on a device without it)."""
    precise = torch.float32 if train.device.type == "mps" else torch.float64
    rows = train[start : start + _TRAIN_CHUNK].to(precise)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _mean_direction(train: Tensor) -> Tensor:
    """The mean of the unit-length train rows, in float64 (the direction they share)."""
    total = sum(_unit_rows(train, start).sum(dim=0) for start in range(0, train.shape[0], _TRAIN_CHUNK))
    return total / train.shape[0]


def _similarities(query: Tensor, train: Tensor, centre: Tensor) -> Tensor:
    """Each unit `query` row's cosine similarity to every train row, less its similarity to `centre` (the same for
    every train row, so orders and differences, all the votes use, are the similarities'): products with the train
    rows' offsets from `centre`, in `query`'s dtype. Features of a barely trained or random backbone share one
    direction (similarities within 1e-7 of each other): float32 products with the rows themselves rounded those
    differences away (13% where float64 gives 60%, ties going to the first classes); with the offsets, float32
    keeps differences down to about 1e-7 of the offsets' length."""
    sim = torch.empty(query.shape[0], train.shape[0], device=query.device, dtype=query.dtype)
    for start in range(0, train.shape[0], _TRAIN_CHUNK):
        offsets = (_unit_rows(train, start) - centre).to(query.dtype)
        rows = offsets.shape[0]
        if rows < _TRAIN_CHUNK < train.shape[0]:
            # Every block of one shape: a product of another shape rounds otherwise, and a train row there tied with
            # its duplicate in another block no more (ties go to the smaller index).
            padded = torch.nn.functional.pad(offsets, (0, 0, 0, _TRAIN_CHUNK - rows))
            sim[:, start:] = (query @ padded.T)[:, :rows]
        else:
            torch.matmul(query, offsets.T, out=sim[:, start : start + rows])
    return sim


def _nearest(sim: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k most similar train rows of each query, by similarity and then by index (the smaller first) on ties.

    topk alone picks among equal similarities arbitrarily, so the k nearest for k=20 could depend on whether k=200
    was asked for too. Rows where ties cross the k-th place take every candidate at or above it, in index order.
    """
    top_sim, top_idx = sim.topk(k, dim=1, largest=True, sorted=True)
    crossing = ((sim >= top_sim[:, -1:]).sum(dim=1) > k).nonzero().flatten().tolist()
    for row in crossing:
        candidates = (sim[row] >= top_sim[row, -1]).nonzero().flatten()  # ascending index
        order = torch.sort(sim[row, candidates], descending=True, stable=True).indices[:k]
        top_idx[row] = candidates[order]
        top_sim[row] = sim[row, top_idx[row]]
    by_index = top_idx.sort(dim=1).indices
    top_idx, top_sim = top_idx.gather(1, by_index), top_sim.gather(1, by_index)
    by_similarity = torch.sort(top_sim, dim=1, descending=True, stable=True).indices
    return top_sim.gather(1, by_similarity), top_idx.gather(1, by_similarity)


def knn_classify(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> Tensor:
    """Predict test labels by temperature-weighted kNN voting on cosine similarity.

    Each of the k most similar train samples votes for its label with weight exp(sim / temperature);
    the class with the largest summed weight wins. Features are l2-normalised (in float64; float32 on mps) and
    compared on ``device`` (default: the train features' device) as products with the train rows' offsets from
    their mean direction: in float64 on a CPU, in float32 on an accelerator (which keeps near-collinear features
    apart down to about 1e-7 of the offsets' length); test rows ``chunk_size`` at a time, so peak extra memory is
    about chunk_size x N_train x 8 bytes on a CPU (4 on an accelerator). ``k`` larger than N_train is clamped to
    N_train with a warning. ``num_classes`` defaults to max(train_labels) + 1.

    Returns int64 predictions of shape (N_test,) on the test features' device.
    """
    return _knn_predict(
        train_features,
        train_labels,
        test_features,
        ks=(k,),
        temperature=temperature,
        num_classes=num_classes,
        chunk_size=chunk_size,
        device=device,
    )[k]


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    ks: Sequence[int] = (20, 200),
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> dict[int, float]:
    """Top-1 accuracy (%) of weighted kNN for each k, sharing one similarity search for max(ks).

    Same protocol and options as :func:`knn_classify`; keys are the requested ks even when clamped.
    """
    ks = as_sequence("ks", ks, example="(20, 200)")
    check_features(test_features, "test_features")
    check_labels(test_labels, test_features.shape[0], "test_labels")
    preds = _knn_predict(
        train_features,
        train_labels,
        test_features,
        ks=ks,
        temperature=temperature,
        num_classes=num_classes,
        chunk_size=chunk_size,
        device=device,
    )
    targets = test_labels.to(test_features.device)
    return {k: 100.0 * (p == targets).double().mean().item() for k, p in preds.items()}
