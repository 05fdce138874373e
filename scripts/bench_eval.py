"""Time simsiam_zoo.evaluate's kNN and linear probe against scikit-learn on synthetic clustered features.

Baseline: scikit-learn ``KNeighborsClassifier(algorithm="brute", metric="cosine", n_jobs=-1)`` with the
same exp(sim / T) vote weights, and ``StandardScaler`` + ``LogisticRegression(solver="lbfgs")`` with the
C matching our weight decay. Prints both times, the speed ratio (sklearn time / ours) and whether the
top-1 accuracies agree within 0.5 points; asserts nothing.

Also prints the floor of exact kNN on this device: one fp32 matmul of the test by the train features, which
any exact cosine kNN (ours, scikit-learn's brute force) must compute. sklearn time / floor bounds the ratio
that any exact implementation can reach here: on a CPU both sides are bound by the same matrix product.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from simsiam_zoo.evaluate import fit_linear_probe, knn_accuracy, weight_decay_to_sklearn_c

TOLERANCE = 0.5  # accuracy points


def make_features(
    *, n_train: int, n_test: int, dim: int, num_classes: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian clusters around random class centres, shifted off the origin like post-ReLU features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim))
    offset = rng.normal(size=dim)
    y = rng.integers(0, num_classes, size=n_train + n_test)
    x = (centres[y] + offset + noise * rng.normal(size=(len(y), dim))).astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def best_time(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Run ``fn`` ``repeats`` times; return (fastest wall time in s, its accuracy)."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        acc = fn()
        runs.append((time.perf_counter() - start, acc))
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-test", type=int, default=5_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--noise", type=float, default=8.0, help="per-dimension noise std around centres")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--max-iter", type=int, default=200, help="L-BFGS iterations cap for both probes")
    parser.add_argument("--repeats", type=int, default=3, help="report the fastest of this many runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = make_features(
        n_train=args.n_train,
        n_test=args.n_test,
        dim=args.dim,
        num_classes=args.num_classes,
        noise=args.noise,
        seed=args.seed,
    )
    t_x_train, t_x_test = torch.from_numpy(x_train).to(args.device), torch.from_numpy(x_test).to(args.device)
    t_y_train, t_y_test = torch.from_numpy(y_train).to(args.device), torch.from_numpy(y_test).to(args.device)

    def ours_knn() -> float:
        acc = knn_accuracy(t_x_train, t_y_train, t_x_test, t_y_test, ks=(args.k,), temperature=args.temperature)[args.k]
        if t_x_train.is_cuda:
            torch.cuda.synchronize()
        return acc

    def sklearn_knn(dtype: type = np.float32) -> float:
        clf = KNeighborsClassifier(
            n_neighbors=args.k,
            algorithm="brute",
            metric="cosine",
            weights=lambda dist: np.exp((1.0 - dist) / args.temperature),
            n_jobs=-1,
        ).fit(x_train.astype(dtype, copy=False), y_train)
        return 100.0 * clf.score(x_test.astype(dtype, copy=False), y_test)

    def ours_probe() -> float:
        probe = fit_linear_probe(t_x_train, t_y_train, weight_decay=args.weight_decay, max_iter=args.max_iter)
        return probe.accuracy(t_x_test, t_y_test)

    c = weight_decay_to_sklearn_c(args.weight_decay, args.n_train)

    def sklearn_probe() -> float:
        scaler = StandardScaler().fit(x_train)
        clf = LogisticRegression(C=c, max_iter=args.max_iter).fit(scaler.transform(x_train), y_train)
        return 100.0 * clf.score(scaler.transform(x_test), y_test)

    # Untimed warm-up on a small slice, so one-off library initialisation is not billed to either side.
    knn_accuracy(t_x_train[:500], t_y_train[:500], t_x_test[:50], t_y_test[:50], ks=(5,))
    fit_linear_probe(t_x_train[:500], t_y_train[:500], weight_decay=args.weight_decay, max_iter=5)
    KNeighborsClassifier(n_neighbors=5, algorithm="brute", metric="cosine", n_jobs=-1).fit(
        x_train[:500], y_train[:500]
    ).predict(x_test[:50])

    def gemm_floor() -> float:
        t_x_test @ t_x_train.T
        if t_x_train.is_cuda:
            torch.cuda.synchronize()
        return float("nan")

    floor_s, _ = best_time(gemm_floor, args.repeats)
    knn = best_time(ours_knn, args.repeats)
    # scikit-learn keeps float32 features in float32; ours computes in float64 on a CPU (see evaluate/knn.py), so
    # the second row gives scikit-learn the same precision (its copies to float64 timed, as ours are).
    rows = [
        (f"kNN k={args.k} T={args.temperature}", knn, best_time(sklearn_knn, args.repeats)),
        ("  the same, scikit-learn in float64", knn, best_time(lambda: sklearn_knn(np.float64), args.repeats)),
        (
            f"linear probe wd={args.weight_decay:g} (C={c:.3g})",
            best_time(ours_probe, args.repeats),
            best_time(sklearn_probe, args.repeats),
        ),
    ]

    print(
        f"data: {args.n_train} train x {args.n_test} test, D={args.dim}, {args.num_classes} classes, noise={args.noise}"
    )
    print(
        f"ours: simsiam_zoo.evaluate on torch {torch.__version__}, device={args.device}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"baseline: scikit-learn {sklearn.__version__} KNeighborsClassifier(brute, cosine, n_jobs=-1, "
        "exp(sim/T) weights) / StandardScaler + LogisticRegression(lbfgs)"
    )
    print(f"times: best of {args.repeats}, max_iter={args.max_iter} for both probes\n")
    header = (
        f"{'task':<34} {'ours s':>8} {'sklearn s':>10} {'sklearn/ours':>13} "
        f"{'acc ours':>9} {'acc sklearn':>12} {'agree':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, (ours_s, ours_acc), (sk_s, sk_acc) in rows:
        agree = "yes" if abs(ours_acc - sk_acc) <= TOLERANCE else "NO"
        print(
            f"{name:<34} {ours_s:>8.3f} {sk_s:>10.3f} {sk_s / ours_s:>12.1f}x "
            f"{ours_acc:>9.2f} {sk_acc:>12.2f} {agree:>6}"
        )
    knn_ours_s, knn_sklearn_s = rows[0][1][0], rows[0][2][0]
    print(
        f"\nexact-kNN floor (test @ train.T, fp32): {floor_s:.3f} s; ours = {knn_ours_s / floor_s:.2f}x the floor; "
        f"the best sklearn/ours any exact kNN can reach on this device: {knn_sklearn_s / floor_s:.1f}x"
    )


if __name__ == "__main__":
    main()
