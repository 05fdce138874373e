"""The demo's fixed settings: what it trains, evaluates and reports beside its time budget."""

from __future__ import annotations

DEMO_MODEL = "resnet18.simsiam_fashion_mnist_demo"
DEMO_EPOCHS = 5
# How the demo's runs feed their steps, on any device: decoding inline (on a CPU, worker processes only take cores
# from the step) and the augmentation batched on the training device, the CPU included, where it keeps more of the
# step's rate than the per-image path (README's benchmarks: scripts/bench_pipeline.py measures both).
DEMO_INPUT = {"data.num_workers": 0, "data.augment_on_device": True}
# The paper's Fig. 2 experiment in miniature, the same network and augmentation with and without stop-gradient:
# at the main run's settings the collapse takes one to two epochs (README), so this pair trains a fixed number of
# steps at settings where it shows within them on any machine (16 px, batch 64, lr 1.0, weight decay 0.02: the
# decay shrinks the projector's output until the BN without affine can no longer spread it). No kNN monitor.
COLLAPSE_STEPS, COLLAPSE_BATCH = 48, 64
COLLAPSE_SETTINGS = {
    "data.image_size": 16,
    "optim.batch_size": COLLAPSE_BATCH,
    "optim.base_lr": 4.0,
    "optim.weight_decay": 0.02,
    "optim.epochs": 1,
    "data.knn_train_size": 0,
    "data.knn_test_size": 0,
}
# The final z-std of a pair's run: the mean over its last quarter of steps (one batch's std is noisy).
FINAL_STEPS = COLLAPSE_STEPS // 4
EVAL_TRAIN_IMAGES, EVAL_TEST_IMAGES = 5_000, 1_000
# Few labels: 1% of Fashion-MNIST's 60,000 training labels (60 a class), drawn from the evaluation's train images.
FEW_LABELS = 600
MONITOR_BANK, MONITOR_QUERIES = 1_000, 500
# Export, publishing, loading and plots, reserved as this many training steps beside the measured evaluation: they
# run on the same CPU, so a slower machine is slower at both (README's demo section has the wall clock this gives).
FIXED_STEPS = 6
# The demo's linear probe, cheaper than `eval linear`'s (six weight decays, 200 iterations) within the budget, and the
# same for every row it compares: `eval linear` on the demo's feature folders gives another number.
WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3)
PROBE_MAX_ITER = 100
_DECAYS_SHOWN = ", ".join(f"{decay:.0e}".replace("e-0", "e-") for decay in WEIGHT_DECAYS)
PROBE_SETTINGS = (
    f"L-BFGS, {PROBE_MAX_ITER} iterations, weight decay chosen among {_DECAYS_SHOWN} on a held-out 20% of train"
)
# The timings and run sizes chosen for a budget; a rerun with the same budget and device reuses them, so that
# it resumes (or skips) the very runs it planned instead of planning new ones from its own timings.
PLAN_FILE = "plan.json"
# The measured longer run that the report shows beside the demo's own (its command, length, machine and rows).
LONGER_RUN_FILE = "longer_run.json"
# The fair baseline: the same network with the standard init. One draw's linear probe varies by about 3 points
# from seed to seed on the demo's split (README), as much as the differences it is compared with: the mean of a few.
RANDOM_INIT_DRAWS = 3
RANDOM_INIT_LABEL = "random-init ResNet-18 (standard init)"
# Training steps run before the main run is planned: the first ones warm up, the median of the rest is the plan's
# seconds a step (README, the demo section: the minimum of two steps was off by up to a third).
CALIBRATION_WARMUP, CALIBRATION_STEPS = 3, 4
