"""Tests for simsiam_zoo.evaluate: kNN and linear probe against scikit-learn, subsets, input checks."""

from __future__ import annotations

import os
import re
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from simsiam_zoo.evaluate import (
    balanced_label_subset,
    class_sizes,
    fit_linear_probe,
    knn,
    knn_accuracy,
    knn_classify,
    linear_probe_sweep,
    read_subset_file,
    weight_decay_to_sklearn_c,
)
from tests.builders import make_fifo, make_transform, tiny_model, write_png

TEMPERATURE = 0.07


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    """Digits projected to 32-d with an offset, so cosine geometry differs from the raw pixels."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    x = x @ rng.normal(size=(64, 32)) + 5.0 * rng.normal(size=32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return {"x_train": x_train, "x_test": x_test, "y_train": y_train, "y_test": y_test}


def _torch(digits: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(digits["x_train"], dtype=torch.float32),
        torch.tensor(digits["y_train"], dtype=torch.long),
        torch.tensor(digits["x_test"], dtype=torch.float32),
        torch.tensor(digits["y_test"], dtype=torch.long),
    )


# --- kNN ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 20, 200])
def test_knn_matches_sklearn(digits: dict[str, np.ndarray], k: int) -> None:
    x_train, y_train, x_test, y_test = _torch(digits)
    sk = KNeighborsClassifier(
        n_neighbors=k,
        metric="cosine",
        algorithm="brute",
        weights=lambda dist: np.exp((1.0 - dist) / TEMPERATURE),
    ).fit(digits["x_train"], digits["y_train"])
    sk_pred = sk.predict(digits["x_test"])

    pred = knn_classify(x_train, y_train, x_test, k=k, temperature=TEMPERATURE)
    ours = knn_accuracy(x_train, y_train, x_test, y_test, ks=(k,), temperature=TEMPERATURE)[k]

    assert pred.dtype == torch.long and pred.shape == y_test.shape
    # Exact on a CPU (float64, as scikit-learn computes): every prediction the same.
    assert ours == 100.0 * np.mean(sk_pred == digits["y_test"])
    assert (pred.numpy() == sk_pred).all()
    assert ours > 80.0  # the task is learnable, so agreement is not agreement on noise


def test_knn_of_nearly_collinear_features_matches_sklearn(digits: dict[str, np.ndarray]) -> None:
    """Features sharing one large direction (a barely trained or random backbone's: similarities within 1e-9 of each
    other) scored near chance in float32, the ties going to the first classes. A CPU now compares in float64, as
    scikit-learn does; an accelerator's float32 products with the rows' offsets from their mean direction keep the
    order too."""
    rng = np.random.default_rng(1)
    shared = 1.6e5 * np.abs(rng.normal(size=32))
    x_train, x_test = (np.float32(digits[name] + shared).astype(np.float64) for name in ("x_train", "x_test"))
    sk = KNeighborsClassifier(
        n_neighbors=20, metric="cosine", algorithm="brute", weights=lambda dist: np.exp((1.0 - dist) / TEMPERATURE)
    ).fit(x_train, digits["y_train"])
    train, test = torch.tensor(x_train, dtype=torch.float32), torch.tensor(x_test, dtype=torch.float32)
    pred = knn_classify(train, torch.tensor(digits["y_train"]), test, k=20, temperature=TEMPERATURE)
    assert (pred.numpy() == sk.predict(x_test)).all()
    assert 100.0 * np.mean(pred.numpy() == digits["y_test"]) > 80.0

    unit = torch.nn.functional.normalize
    exact = unit(torch.tensor(x_test)) @ unit(torch.tensor(x_train)).T
    plain = unit(test) @ unit(train).T  # what the protocol computed before: its nearest is mostly another row
    centred = knn._similarities(unit(test), train, knn._mean_direction(train))  # float32, as on an accelerator
    assert centred.dtype == torch.float32
    assert (plain.argmax(dim=1) == exact.argmax(dim=1)).double().mean() < 0.5
    assert (centred.argmax(dim=1) == exact.argmax(dim=1)).double().mean() >= 0.99


def test_a_duplicate_train_row_in_the_last_block_ties_with_its_first_copy() -> None:
    """Train rows are compared a block at a time: a last block of another shape rounded its products otherwise, and a
    duplicate there won over its first copy (ties go to the smaller index) in 7 of 20 draws."""
    generator = torch.Generator().manual_seed(0)
    for extra in range(1, 6):
        train = torch.randn(knn._TRAIN_CHUNK + extra, 64, generator=generator)
        train[-1] = train[0]
        labels = torch.full((len(train),), 2)
        labels[0], labels[-1] = 0, 1
        query = train[:1] + 0.5 * torch.randn(1, 64, generator=generator)
        assert knn_classify(train, labels, query, k=1).item() == 0


def test_knn_accuracy_matches_knn_classify_per_k(digits: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, y_test = _torch(digits)
    accs = knn_accuracy(x_train, y_train, x_test, y_test, ks=(5, 20, 20, 200))
    assert list(accs) == [5, 20, 200]
    for k, acc in accs.items():
        pred = knn_classify(x_train, y_train, x_test, k=k)
        assert acc == pytest.approx(100.0 * (pred == y_test).double().mean().item())


def test_knn_chunked_equals_unchunked(digits: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, _ = _torch(digits)
    whole = knn_classify(x_train, y_train, x_test, k=20, chunk_size=len(x_test))
    for chunk_size in (1, 7, 64):
        assert torch.equal(knn_classify(x_train, y_train, x_test, k=20, chunk_size=chunk_size), whole)


def test_knn_computes_in_fp32_from_other_dtypes(digits: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, _ = _torch(digits)
    expected = knn_classify(x_train, y_train, x_test)
    # These float64 values came from float32, so the fp32 computation sees identical inputs. (Which device it runs
    # on is not tested here: this machine has only the CPU.)
    pred = knn_classify(x_train.double(), y_train.int(), x_test.double())
    assert pred.dtype == torch.long
    assert torch.equal(pred, expected)


def test_knn_hand_computed_votes() -> None:
    # Cosine similarities of the query [1, 0] to the train points: 1.0, 0.8, 0.0, -1.0.
    train = torch.tensor([[2.0, 0.0], [0.8, 0.6], [0.0, 3.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.tensor([[5.0, 0.0]])
    # k=2: class 0 gets e^1.0, class 1 gets e^0.8 -> 0.
    assert knn_classify(train, labels, query, k=2, temperature=1.0).tolist() == [0]
    # k=3: class 1 gets e^0.8 + e^0 = 3.23 > e^1 = 2.72 -> 1.
    assert knn_classify(train, labels, query, k=3, temperature=1.0).tolist() == [1]
    # A sharp temperature lets the single closest neighbour outvote the other two: e^(1/0.07) dominates.
    assert knn_classify(train, labels, query, k=3, temperature=0.07).tolist() == [0]
    # One search serves both k; each k gets its own vote.
    assert knn_accuracy(train, labels, query, torch.tensor([1]), ks=(2, 3), temperature=1.0) == {
        2: 0.0,
        3: 100.0,
    }


def test_knn_votes_at_a_small_temperature_do_not_overflow() -> None:
    """exp(sim / T) is inf once sim / T passes 709 in float64 (the CPU's votes; 88 in float32, an accelerator's),
    and every class would tie at class 0. At T = 0.07 the two neighbours at 0.99 and 0.98 (class 0) outvote the
    nearest one at 0.999 (class 1); at 0.001 the nearest one outweighs them. The mirrored rows (class 2) put the
    train rows' mean direction at zero, so that the similarities the votes use keep their size."""
    angles = torch.tensor([0.99, 0.98, 0.999], dtype=torch.float64)
    near = torch.stack([angles, (1 - angles**2).sqrt()], dim=1)
    train, labels = torch.cat([near, -near]), torch.tensor([0, 0, 1, 2, 2, 2])
    query = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert torch.isinf(torch.exp(angles / 0.001)).all()
    for temperature, expected in ((0.07, 0), (0.001, 1)):
        weights = torch.exp((angles - angles.max()) / temperature)
        assert int(weights[2] > weights[:2].sum()) == expected
        assert knn_classify(train, labels, query, k=3, temperature=temperature).tolist() == [expected]


def test_knn_clamps_k_to_train_size() -> None:
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[0.1, 1.0], [1.0, 0.05]])
    with pytest.warns(UserWarning, match="exceeds the 3 training samples"):
        clamped = knn_classify(train, labels, query, k=50, temperature=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # k equal to the training samples needs no clamp
        every_sample = knn_classify(train, labels, query, k=3, temperature=1.0)
    assert torch.equal(clamped, every_sample)
    with pytest.warns(UserWarning, match=r"k=5, 50 exceed the 3 training samples; clamping k to 3") as caught:
        accs = knn_accuracy(train, labels, query, torch.tensor([1, 0]), ks=(1, 50, 3, 5), temperature=1.0)
    assert set(accs) == {1, 50, 3, 5} and len(caught) == 1  # every clamped k named, not only the largest


@pytest.mark.parametrize(
    ("train_x", "train_y", "test_x", "match"),
    [
        (torch.randn(5, 4), torch.arange(4), torch.randn(2, 4), "5 rows"),
        (torch.randn(5, 4), torch.arange(5), torch.randn(2, 3), "dimensions differ"),
        (torch.randn(0, 4), torch.arange(0), torch.randn(2, 4), "empty"),
        (torch.randn(5, 4), torch.arange(5), torch.randn(0, 4), "empty"),
        (torch.randn(5, 4), torch.tensor([0, 1, -1, 2, 0]), torch.randn(2, 4), "negative labels"),
        (torch.randn(5, 4), torch.arange(5).float(), torch.randn(2, 4), "integer"),
        (torch.randn(5), torch.arange(5), torch.randn(2, 4), "2-D"),
    ],
)
def test_knn_rejects_bad_inputs(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        knn_classify(train_x, train_y, test_x)


def test_knn_rejects_bad_options() -> None:
    x, y = torch.randn(5, 4), torch.arange(5)
    with pytest.raises(ValueError, match="ks must be whole numbers"):
        knn_classify(x, y, x, k=0)
    with pytest.raises(ValueError, match=r"ks must be whole numbers >= 1, got \(2.5,\)"):  # was torch's topk error
        knn_accuracy(x, y, x, y, ks=(2.5,))
    for temperature in (0.0, float("nan"), float("inf")):  # NaN failed later, inf weighed every neighbour alike
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            knn_classify(x, y, x, temperature=temperature)
    with pytest.raises(ValueError, match="num_classes"):
        knn_classify(x, y, x, k=2, num_classes=3)
    with pytest.raises(ValueError, match="test_labels"):
        knn_accuracy(x, y, x, torch.arange(4))


# --- linear probe ------------------------------------------------------------------------------------


def test_weight_decay_to_sklearn_c() -> None:
    assert weight_decay_to_sklearn_c(1e-3, 500) == pytest.approx(2.0)
    assert weight_decay_to_sklearn_c(0.5, 1) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="weight_decay"):
        weight_decay_to_sklearn_c(0.0, 500)
    with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
        weight_decay_to_sklearn_c(1e-3, 0)


@pytest.mark.parametrize("weight_decay", [1e-3, 1e-2])
def test_linear_probe_matches_sklearn(digits: dict[str, np.ndarray], weight_decay: float) -> None:
    x_train, y_train, x_test, y_test = _torch(digits)
    scaler = StandardScaler().fit(digits["x_train"])
    sk = LogisticRegression(C=weight_decay_to_sklearn_c(weight_decay, len(x_train)), max_iter=5000, tol=1e-8).fit(
        scaler.transform(digits["x_train"]), digits["y_train"]
    )
    sk_acc = 100.0 * sk.score(scaler.transform(digits["x_test"]), digits["y_test"])

    probe = fit_linear_probe(x_train, y_train, weight_decay=weight_decay, max_iter=500)

    assert abs(probe.accuracy(x_test, y_test) - sk_acc) <= 0.5
    assert sk_acc > 85.0
    # Same objective, so the same optimum: this catches e.g. a factor 2 in the weight decay mapping.
    np.testing.assert_allclose(probe.weight.numpy(), sk.coef_, atol=0.02 * np.abs(sk.coef_).max())
    np.testing.assert_allclose(probe.mean.numpy(), scaler.mean_, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(probe.std.numpy(), scaler.scale_, rtol=1e-4)


def test_linear_probe_chunked_loss_is_full_batch(digits: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, _ = _torch(digits)
    whole = fit_linear_probe(x_train, y_train, weight_decay=1e-2, max_iter=100)
    chunked = fit_linear_probe(x_train, y_train, weight_decay=1e-2, max_iter=100, chunk_size=100)
    torch.testing.assert_close(chunked.weight, whole.weight, atol=1e-3, rtol=1e-3)
    assert torch.equal(chunked.predict(x_test), whole.predict(x_test, chunk_size=50))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_probe_leaves_input_untouched(dtype: torch.dtype) -> None:
    x = torch.randn(30, 4, dtype=dtype) + 3.0
    y = torch.arange(30) % 3
    x_before = x.clone()
    fit_linear_probe(x, y, weight_decay=1e-2, max_iter=10)
    assert torch.equal(x, x_before)


def test_linear_probe_handles_constant_feature() -> None:
    spreads = torch.tensor([1.0, 0.01, 100.0])  # a feature of small spread is scaled all the same
    x = torch.cat([torch.randn(40, 3) * spreads, torch.full((40, 1), 7.0)], dim=1)
    y = (x[:, 0] > 0).long()
    probe = fit_linear_probe(x, y, weight_decay=1e-3)
    torch.testing.assert_close(probe.std[:3], x[:, :3].std(dim=0, correction=0))
    assert probe.std[3] == 1.0
    assert torch.isfinite(probe.weight).all()
    assert probe.accuracy(x, y) > 90.0


def test_linear_probe_rejects_bad_inputs() -> None:
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="weight_decay"):
        fit_linear_probe(x, y, weight_decay=-1.0)
    with pytest.raises(ValueError, match="negative labels"):
        fit_linear_probe(x, torch.tensor([0, 1, -1, 1, 0, 1]), weight_decay=1e-3)
    with pytest.raises(ValueError, match="empty"):
        fit_linear_probe(x[:0], y[:0], weight_decay=1e-3)
    probe = fit_linear_probe(x, y, weight_decay=1e-3, max_iter=5)
    with pytest.raises(ValueError, match="D=3"):
        probe.predict(torch.randn(2, 4))
    with pytest.raises(ValueError, match="dimensions differ"):
        linear_probe_sweep(x, y, torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="val_fraction"):
        linear_probe_sweep(x, y, x, y, val_fraction=1.0)
    for weight_decay in (float("inf"), 1e300, -1e-9):  # inf and 1e300 were torch's float32 overflow error
        with pytest.raises(ValueError, match=r"weight_decay must be in \[0, 1e6\]"):
            fit_linear_probe(x, y, weight_decay=weight_decay)
    for weight_decay in (0.0, 1e6):  # the range's ends
        assert fit_linear_probe(x, y, weight_decay=weight_decay, max_iter=2).weight.isfinite().all()
    for max_iter in (1.5, True):  # both ran
        with pytest.raises(ValueError, match=rf"max_iter must be a whole number >= 1, got {max_iter!r}"):
            fit_linear_probe(x, y, weight_decay=1e-3, max_iter=max_iter)
    for seed in (0.5, 2**70):  # torch's errors
        with pytest.raises(ValueError, match=r"seed must be a whole number in \[-2\*\*63, 2\*\*64\)"):
            linear_probe_sweep(x, y, x, y, seed=seed)
    with pytest.raises(ValueError, match=r"chunk_size must be a whole number >= 1, got 2.5"):  # range()'s TypeError
        knn_accuracy(x, y, x, y, chunk_size=2.5)
    # Each was an AttributeError, torch's allocator or a TypeError deep in the work.
    for labels in (y.numpy(), y.tolist()):
        with pytest.raises(TypeError, match=r"train_labels must be a torch.Tensor, got (numpy.ndarray|list)"):
            knn_accuracy(x, labels, x, y)
        with pytest.raises(TypeError, match=r"train_y must be a torch.Tensor"):
            fit_linear_probe(x, labels, weight_decay=1e-3)
        with pytest.raises(TypeError, match=r"labels must be a torch.Tensor"):
            balanced_label_subset(labels, fraction=0.5, seed=0)
    for labels in (5, None):  # their len() was the TypeError
        with pytest.raises(TypeError, match=r"labels must be a torch.Tensor, got (int|NoneType)"):
            balanced_label_subset(labels, fraction=0.5, seed=0)
    with pytest.raises(ValueError, match=r"labels must be 1-D, got shape \(\)"):
        balanced_label_subset(torch.tensor(3), fraction=0.5, seed=0)
    for num_classes in (10**12, 5.5, "5", 0):
        with pytest.raises(ValueError, match=r"num_classes must be a whole number from 1 to 1_000_000, got"):
            knn_accuracy(x, y, x, y, num_classes=num_classes)
        with pytest.raises(ValueError, match=r"num_classes must be a whole number from 1 to 1_000_000, got"):
            fit_linear_probe(x, y, weight_decay=1e-3, num_classes=num_classes)
    for chunk_size in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"chunk_size must be a whole number >= 1"):
            probe.predict(x, chunk_size=chunk_size)
    with pytest.raises(TypeError, match=r"weight_decays must be a sequence such as \(1e-4, 1e-3\), got 0.001"):
        linear_probe_sweep(x, y, x, y, weight_decays=1e-3)
    for name, call in {  # comparison TypeErrors naming nothing, or True taken as 1
        "weight_decay": lambda bad: fit_linear_probe(x, y, weight_decay=bad),
        "temperature": lambda bad: knn_accuracy(x, y, x, y, temperature=bad),
    }.items():
        for bad in (None, "0.1", True):
            with pytest.raises(TypeError, match=rf"{name} must be a number, got {re.escape(repr(bad))}"):
                call(bad)
    for bad in ([], [-1.0], ["x"], [True], [float("nan")]):  # a comparison TypeError, or fits of no sense
        with pytest.raises(ValueError, match=r"weight_decays must be numbers in \[0, 1e6\], at least one; got"):
            linear_probe_sweep(x, y, x, y, weight_decays=bad)
    swept = linear_probe_sweep(x, y, x, y, weight_decays=np.array([1e-3, 1e-2]), max_iter=5)  # its truth value
    assert set(swept["val_accuracies"]) == {1e-3, 1e-2}
    swept = linear_probe_sweep(x, y, x, y, weight_decays=torch.tensor([1e-3, 1e-2], dtype=torch.float64), max_iter=5)
    assert set(swept["val_accuracies"]) == {1e-3, 1e-2}


def test_features_that_float32_cannot_hold_or_are_no_tensor_are_named() -> None:
    """float64 features of 1e39 or 1e-50 were cast to float32 and scored near chance in silence; a numpy array was an
    AttributeError."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 8, generator=generator, dtype=torch.float64), torch.arange(40) % 2
    for scale in (1e39, 1e-50):
        with pytest.raises(ValueError, match=r"train_features has rows whose largest value is beyond 1e\+15 or below"):
            knn_accuracy(x * scale, y, x, y, ks=(5,))
        with pytest.raises(ValueError, match="train_x has rows whose largest value"):
            fit_linear_probe(x * scale, y, weight_decay=1e-3)
    with pytest.raises(TypeError, match="train_features must be a torch.Tensor, got numpy.ndarray"):
        knn_accuracy(x.numpy(), y, x, y)
    assert knn_accuracy(x * 1e6, y, x, y, ks=(5,)) == knn_accuracy(x, y, x, y, ks=(5,))  # cosine: any real scale
    huge = y.clone()
    huge[0] = 2**40  # the allocator was asked for 44 TB of votes
    with pytest.raises(ValueError, match="train_labels contains class 1099511627776: over 1_000_000 classes"):
        knn_accuracy(x, huge, x, y, ks=(5,))


def test_linear_probe_sweep_picks_listed_wd_deterministically(digits: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, y_test = _torch(digits)
    wds = (1e-4, 1e-2, 1.0)
    first = linear_probe_sweep(x_train, y_train, x_test, y_test, weight_decays=wds, seed=3, max_iter=50)
    second = linear_probe_sweep(x_train, y_train, x_test, y_test, weight_decays=wds, seed=3, max_iter=50)

    assert first["weight_decay"] in wds
    assert set(first["val_accuracies"]) == set(wds)
    best = max(first["val_accuracies"].values())
    assert first["val_accuracies"][first["weight_decay"]] == best
    assert first["weight_decay"] == second["weight_decay"]
    assert first["val_accuracies"] == second["val_accuracies"]
    assert first["test_accuracy"] == second["test_accuracy"]
    assert first["test_accuracy"] == pytest.approx(first["probe"].accuracy(x_test, y_test))
    assert first["test_accuracy"] > 85.0


# --- subsets -----------------------------------------------------------------------------------------


def test_balanced_label_subset_is_balanced_and_seeded() -> None:
    labels = torch.tensor([0] * 100 + [1] * 30 + [2] * 5 + [3] * 1)[torch.randperm(136)]
    idx = balanced_label_subset(labels, fraction=0.1, seed=0)

    assert idx.dtype == torch.long
    assert torch.equal(idx, idx.unique())  # sorted, no repeats
    counts = torch.bincount(labels[idx], minlength=4).tolist()
    # round(10.0)=10, round(3.0)=3, round(0.5) rounds half up to 1, and a singleton class keeps 1.
    assert counts == [10, 3, 1, 1]
    assert torch.equal(idx, balanced_label_subset(labels, fraction=0.1, seed=0))
    assert not torch.equal(idx, balanced_label_subset(labels, fraction=0.1, seed=1))
    assert len(balanced_label_subset(labels, fraction=1.0, seed=0)) == len(labels)


def test_balanced_label_subset_per_class_count() -> None:
    labels = torch.tensor([0] * 100 + [1] * 30 + [2] * 5 + [3] * 1)[torch.randperm(136)]
    idx = balanced_label_subset(labels, per_class=6, seed=0)
    assert torch.bincount(labels[idx], minlength=4).tolist() == [6, 6, 5, 1]  # a smaller class gives all it has
    assert torch.equal(idx, balanced_label_subset(labels, per_class=6, seed=0))
    with pytest.raises(ValueError, match="one of fraction and per_class"):
        balanced_label_subset(labels, fraction=0.1, per_class=6, seed=0)
    with pytest.raises(ValueError, match="per_class"):
        balanced_label_subset(labels, per_class=0, seed=0)


def test_class_sizes_leaves_out_absent_classes() -> None:
    labels = torch.tensor([5, 0, 5, 2, 5, 0])  # classes 1, 3 and 4 have no sample
    assert class_sizes(labels).tolist() == np.unique(labels.numpy(), return_counts=True)[1].tolist() == [2, 1, 3]


def test_balanced_label_subset_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="fraction"):
        balanced_label_subset(torch.arange(4), fraction=0.0, seed=0)
    with pytest.raises(ValueError, match="negative labels"):
        balanced_label_subset(torch.tensor([0, -1]), fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="empty"):
        balanced_label_subset(torch.arange(0), fraction=0.5, seed=0)


def test_read_subset_file(tmp_path: Path) -> None:
    image_paths = [f"/data/imagenet/train/{syn}/{syn}_{i}.JPEG" for syn in ("n01440764", "n01443537") for i in range(3)]
    subset = tmp_path / "1percent.txt"
    subset.write_text("n01443537_2.JPEG\nn01440764_0.JPEG\n\n")
    assert read_subset_file(subset, image_paths).tolist() == [0, 5]
    assert read_subset_file(str(subset), [Path(p) for p in image_paths]).tolist() == [0, 5]

    subset.write_text("n01440764_0.JPEG\nn09999999_1.JPEG\n")
    with pytest.raises(ValueError, match="n09999999_1.JPEG"):
        read_subset_file(subset, image_paths)
    subset.write_text("\n")
    with pytest.raises(ValueError, match="no images"):
        read_subset_file(subset, image_paths)
    # A pipe, as `<(grep ...)` or /dev/stdin gives it, is read to its end; a FIFO without a writer is empty (its
    # read waited for a writer, for good); a device is refused (/dev/zero read for ever).
    readable, writable = os.pipe()
    writer = threading.Thread(
        target=lambda: (time.sleep(0.5), os.write(writable, b"n01443537_2.JPEG\n"), os.close(writable))
    )
    writer.start()
    assert read_subset_file(f"/dev/fd/{readable}", image_paths).tolist() == [5]
    writer.join()
    os.close(readable)
    with pytest.raises(ValueError, match="fifo.txt' lists no images"):
        read_subset_file(make_fifo(tmp_path / "fifo.txt"), image_paths)
    with pytest.raises(ValueError, match=r"/dev/zero': not a regular file or a pipe \(a socket or device\)$"):
        read_subset_file("/dev/zero", image_paths)


def test_round_half_up_matches_subset_docs() -> None:
    # The docs promise round-half-up, unlike Python's banker's rounding.
    labels = torch.tensor([0] * 5 + [1] * 15)
    counts = torch.bincount(labels[balanced_label_subset(labels, fraction=0.5, seed=0)]).tolist()
    assert counts == [3, 8]  # 2.5 -> 3 and 7.5 -> 8


def test_features_of_different_models_classes_or_one_class_are_refused(tmp_path: Path) -> None:
    """Each pair once ran and printed a number: labels matched by number, rows of two models compared."""
    from simsiam_zoo.errors import DataError
    from simsiam_zoo.features import extract_features, load_features
    from simsiam_zoo.protocols.cached import evaluate_knn, evaluate_linear

    def features(name: str, classes: tuple[str, ...], model: torch.nn.Module | None = None) -> Path:
        for c, class_name in enumerate(classes):
            for i in range(3):
                write_png(tmp_path / name / class_name / f"{i}.png", 10 * c + i)
        extract_features(
            model or tiny_model(), make_transform(), tmp_path / name, out=tmp_path / f"{name}.feats", progress=False
        )
        return tmp_path / f"{name}.feats"

    train, test = features("train", ("p", "q")), features("test", ("p", "q"))
    result = evaluate_knn(train, test, ks=(1, 20))  # a sound pair runs; k=20 is clamped to the 6 train features
    assert result["num_test"] == 6 and result["neighbours"] == {"1": 1, "20": 6}
    stored = load_features(train)  # what the result was computed from: the folders absolute, the model's digest
    assert (result["train"], result["test"]) == (str(train.resolve()), str(test.resolve()))
    assert (result["weights_sha256"], result["preprocessing"]) == (stored.weights_sha256, stored.preprocessing)
    assert result["top1"]["20"] == evaluate_knn(train, test, ks=(6,))["top1"]["6"]
    with pytest.warns(UserWarning, match=r"train.feats: features of the same images; the score measures"):
        assert evaluate_knn(train, train, ks=(1,))["top1"] == {"1": 100.0}  # scored against itself, in silence
    # Test images among the train images, not all of them (a --limit of the same data): warned in silence before.
    extract_features(
        tiny_model(), make_transform(), tmp_path / "train", out=tmp_path / "head.feats", progress=False, limit=4
    )
    for evaluate, options in ((evaluate_knn, {"ks": (1,)}), (evaluate_linear, {})):
        with pytest.warns(UserWarning, match=r"head.feats: 4 of the 4 test images are train images too; the score"):
            evaluate(train, tmp_path / "head.feats", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # images apart: no warning
        evaluate_knn(train, test, ks=(1,))
    other = tiny_model()
    with torch.no_grad():
        other[0].weight.mul_(2)
    cases = {
        features("other_model", ("p", "q"), other): "extracted with different models",
        features("other_classes", ("a", "b")): "different classes (p, q vs a, b): the test classes a, b are none of",
        features("more_classes", ("p", "q", "r")): "different classes (p, q vs p, q, r): the test classes r are none",
    }
    # A test split without the last classes numbers the others as the training split does (tar shards' classes
    # are their numbers, 0 to the largest label: a test shard without the top one was refused).
    linear = evaluate_linear(train, features("only_p", ("p",)))
    assert linear["num_test"] == 3 and (linear["val_fraction"], linear["seed"], linear["max_iter"]) == (0.2, 0, 200)
    # Without a first or middle class, the test's are matched to train's by name (refused as "different classes",
    # though the names said which was which): q's images scored as q, not as p, the class numbered 0 in both.
    only_q, train_f = load_features(features("only_q", ("q",))), load_features(train)
    q_labels = torch.ones(len(only_q.labels), dtype=torch.int64)  # q is train's class 1
    expected = knn_accuracy(train_f.embeddings, train_f.labels, only_q.embeddings, q_labels, ks=(1, 3))
    scored = evaluate_knn(train, tmp_path / "only_q.feats", ks=(1, 3))["top1"]
    assert scored == {str(k): pytest.approx(v) for k, v in expected.items()}
    for refused, message in cases.items():
        for evaluate in (evaluate_knn, evaluate_linear):
            with pytest.raises(DataError, match=re.escape(message)):
                evaluate(train, refused)
    # A train class whose images all failed to decode (listed, no feature): its test images scored 0% in silence.
    for c, class_name in enumerate(("p", "q", "r")):
        for i in range(3):
            write_png(tmp_path / "lost" / class_name / f"{i}.png", 10 * c + i)
    for image in (tmp_path / "lost" / "r").iterdir():
        image.write_bytes(b"not a png")
    extract_features(tiny_model(), make_transform(), tmp_path / "lost", out=tmp_path / "lost.feats", progress=False)
    three = features("three", ("p", "q", "r"))
    for evaluate in (evaluate_knn, evaluate_linear):
        with pytest.raises(DataError, match=r"lost.feats: no features of the test classes r \(a --limit, or images"):
            evaluate(tmp_path / "lost.feats", three)
    single = features("single", ("p",))
    with pytest.raises(DataError, match=r"single.feats: images of 1 class \(p\); a classifier needs at least two"):
        evaluate_linear(single, features("single_test", ("p",)))
    # Features float32 arithmetic cannot keep (a diverged model's, which extract stores): a ValueError traceback.
    huge = tiny_model()
    with torch.no_grad():
        huge[3].weight.mul_(1e17)
    huge_train, huge_test = features("huge", ("p", "q"), huge), features("huge_test", ("p", "q"), huge)
    for evaluate in (evaluate_knn, evaluate_linear):
        with pytest.raises(DataError, match=r"huge.feats: the store has rows whose largest value is beyond 1e\+15"):
            evaluate(huge_train, huge_test)


def test_a_class_of_one_train_image_is_never_held_out_to_choose_the_weight_decay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its one image in the validation split was unseen by every fit; one image a class left no fit split at all,
    and `eval linear` gave the sweep's traceback (exit 1)."""
    from simsiam_zoo.errors import DataError
    from simsiam_zoo.evaluate import linear_probe as module
    from simsiam_zoo.features import extract_features
    from simsiam_zoo.protocols.cached import evaluate_linear

    fitted: list[torch.Tensor] = []
    real_fit = module.fit_linear_probe
    monkeypatch.setattr(module, "fit_linear_probe", lambda x, y, **kw: fitted.append(y) or real_fit(x, y, **kw))
    x, y = torch.randn(9, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 1, 1, 1, 2, 2, 2, 2])
    linear_probe_sweep(x, y, x, y, weight_decays=(1e-3,))
    assert 0 in fitted[0].tolist()  # the choosing fit saw class 0
    with pytest.raises(ValueError, match="every class has one train sample: none is left to choose a weight decay"):
        linear_probe_sweep(x[:3], torch.tensor([0, 1, 2]), x, y)
    # Rounded half up, a fraction of 0.75 took both images of a class of two: no fit saw it.
    fit, val = module._fit_and_validation_split(torch.tensor([0, 0] + [1] * 10), val_fraction=0.75, seed=0)
    assert fit.tolist()[0] == 0 and 1 in val.tolist() and sorted(fit.tolist() + val.tolist()) == list(range(12))
    # A label the train split lacks (1 here) is no class the validation split took whole.
    fit, val = module._fit_and_validation_split(torch.tensor([0] * 4 + [2] * 4), val_fraction=0.25, seed=0)
    assert sorted(fit.tolist() + val.tolist()) == list(range(8)) and len(val) == 2
    for c, name in enumerate(("p", "q")):
        write_png(tmp_path / "one_each" / name / "0.png", c)
    extract_features(tiny_model(), make_transform(), tmp_path / "one_each", out=tmp_path / "one.feats", progress=False)
    with pytest.raises(DataError, match=r"one.feats: each class has one image, which leaves none to choose the weight"):
        evaluate_linear(tmp_path / "one.feats", tmp_path / "one.feats")


def test_knn_neighbours_do_not_depend_on_the_other_ks() -> None:
    """Near-constant features tie at the k-th place for most queries; ties go to the smaller train index, so k=20's
    answer is the same asked alone or with k=200, and equals a stable sort by (similarity, index)."""
    generator = torch.Generator().manual_seed(0)
    directions = torch.eye(4)[:, :3] + 0.001  # 4 distinct directions (one shared by many rows): exact ties
    train = directions[torch.randint(0, 4, (300,), generator=generator)]
    train_labels = torch.randint(0, 5, (300,), generator=generator)
    test = directions[torch.randint(0, 4, (50,), generator=generator)]
    alone = knn_classify(train, train_labels, test, k=20)
    both = knn_accuracy(train, train_labels, test, torch.zeros(50, dtype=torch.long), ks=(20, 200))
    alone_acc = knn_accuracy(train, train_labels, test, torch.zeros(50, dtype=torch.long), ks=(20,))
    assert both[20] == alone_acc[20]
    sim = torch.nn.functional.normalize(test, dim=1) @ torch.nn.functional.normalize(train, dim=1).T
    expected = []
    for row in sim.numpy():
        nearest = np.lexsort((np.arange(len(row)), -row))[:20]  # by similarity, then by index
        votes = np.zeros(5)
        np.add.at(votes, train_labels.numpy()[nearest], np.exp(row[nearest] / 0.07))
        expected.append(int(votes.argmax()))
    assert alone.tolist() == expected


def test_features_with_a_nan_or_inf_row_are_refused_naming_the_argument() -> None:
    """kNN voted with NaN similarities (a score of chance, as if valid); the probe failed inside torch's L-BFGS."""
    from simsiam_zoo.evaluate import knn_accuracy, linear_probe_sweep

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 4, generator=generator), torch.arange(20) % 2
    for bad in (float("nan"), float("inf")):
        broken = x.clone()
        broken[3, 1] = bad
        with pytest.raises(ValueError, match=r"^train_features has 1 rows with NaN or inf$"):
            knn_accuracy(broken, y, x, y, ks=(3,))
        with pytest.raises(ValueError, match=r"^test_x has 1 rows with NaN or inf$"):
            linear_probe_sweep(x, y, broken, y)
