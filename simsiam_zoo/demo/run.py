"""`simsiam-zoo demo`: the whole lifecycle on Fashion-MNIST within a time budget, offline, on a CPU.

pretrain (SimSiam, and a short run without stop-gradient for the collapse figure) -> export a hub folder
with its model card -> publish it to a local hub directory -> load it back by zoo name -> extract features
-> kNN and linear probe against a random-init backbone and raw pixels -> report with plots.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from simsiam_zoo._io import atomic_write_text, claim_output_dir, read_marker
from simsiam_zoo.arguments import is_int
from simsiam_zoo.data import FashionMNIST, LabelledSubset, Transformed
from simsiam_zoo.demo.report import METRICS, DemoRuns, Retrieval, write_report
from simsiam_zoo.demo.settings import (
    CALIBRATION_STEPS,
    CALIBRATION_WARMUP,
    COLLAPSE_BATCH,
    COLLAPSE_SETTINGS,
    COLLAPSE_STEPS,
    DEMO_EPOCHS,
    DEMO_INPUT,
    DEMO_MODEL,
    EVAL_TEST_IMAGES,
    EVAL_TRAIN_IMAGES,
    FEW_LABELS,
    FINAL_STEPS,
    FIXED_STEPS,
    MONITOR_BANK,
    MONITOR_QUERIES,
    PLAN_FILE,
    PROBE_MAX_ITER,
    PROBE_SETTINGS,
    RANDOM_INIT_DRAWS,
    RANDOM_INIT_LABEL,
    WEIGHT_DECAYS,
)
from simsiam_zoo.distributed import check_device
from simsiam_zoo.errors import OutputRefused
from simsiam_zoo.evaluate import balanced_label_subset, knn_accuracy, linear_probe_sweep
from simsiam_zoo.export import export_checkpoint, publish_local
from simsiam_zoo.hub.cards import HUB_DATASET_IDS
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.model import seeded
from simsiam_zoo.options import MAX_MINUTES
from simsiam_zoo.pretrain import (
    PretrainingViews,
    TrainResult,
    build_model,
    read_steps,
    recipe_optimizer,
    recipe_step,
    train,
)
from simsiam_zoo.protocols import digits_datasets
from simsiam_zoo.recipe import Recipe, load_recipe
from simsiam_zoo.zoo import ZOO, Result


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    report: Path
    table: list[dict[str, Any]]
    minimum_minutes: float  # what the demo needs on this machine (calibration, baselines, the collapse pair, one
    # step of the main run, reserve)
    collapse: dict[str, float]  # the pair's final z-std, with ("stop_gradient") and without ("no_stop_gradient")


def _calibrate(recipe: Recipe, dataset: FashionMNIST, device: str) -> tuple[float, float]:
    """(seconds per training step on real augmented views, seconds per embedded evaluation image)."""
    views = PretrainingViews(recipe, dataset, torch.device(device))
    memory_format = torch.channels_last if recipe.run.channels_last else torch.contiguous_format
    model = build_model(recipe).to(device, memory_format=memory_format)
    optimizer = recipe_optimizer(model, recipe)
    batch = recipe.optim.batch_size
    timings = []
    # The first steps warm up (allocator, oneDNN's kernel choices: the second and third still run up to a third
    # slower than the tenth), so a few are timed after them and the median taken.
    # On CUDA the step is only queued when recipe_step returns: each timing ends once the device has done it.
    synchronize = torch.cuda.synchronize if torch.device(device).type == "cuda" else lambda: None
    for _ in range(CALIBRATION_WARMUP + CALIBRATION_STEPS):
        start = time.perf_counter()
        moved = views.to_device(default_collate([views.dataset.sample((0, i)) for i in range(batch)]))
        x1, x2 = (views.finish(view).contiguous(memory_format=memory_format) for view in moved[:2])
        recipe_step(model, recipe, optimizer, x1, x2)
        synchronize()
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    with torch.inference_mode():
        model.backbone.eval()(x1)
    synchronize()
    return statistics.median(timings[CALIBRATION_WARMUP:]), (time.perf_counter() - start) / batch


def images_per_epoch(
    *, seconds: float, seconds_per_step: float, batch_size: int, dataset_size: int, epochs: int = DEMO_EPOCHS
) -> int:
    """Images per epoch so that `epochs` epochs fit in `seconds` (at least 2 steps an epoch)."""
    steps_per_epoch = max(2, int(seconds / seconds_per_step / epochs))
    return min(dataset_size, steps_per_epoch * batch_size)


class _Plan:
    """The plan of `PLAN_FILE`, for one budget, device and evaluation size; each value is written the moment it is
    chosen, and read back as JSON gives it, so that a first run and a rerun see the same values."""

    def __init__(self, out_dir: Path, *, minutes: float, device: str, sizes: tuple[int, int]):
        self.path = out_dir / PLAN_FILE
        self.key = {"minutes": minutes, "device": device, "evaluation_images": list(sizes)}
        saved = self._saved(out_dir)
        self.values = saved if saved.get("key") == self.key else {"key": self.key}

    def _saved(self, out_dir: Path) -> dict[str, Any]:
        """The plan file as a demo wrote it, or {}. An unmarked folder was taken for its plan file (a version
        before markers): one that is no demo's plan is a user's file of that name, which is not replaced."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError, RecursionError):
            saved = None
        # Earlier versions keyed the plan on fewer values (no evaluation sizes): still a demo's, planned again.
        key = saved.get("key") if isinstance(saved, dict) else None
        if isinstance(key, dict) and {"minutes", "device"} <= key.keys():
            return saved
        if self.path.exists() and read_marker(out_dir) != "demo":
            raise OutputRefused(
                f"{out_dir}: exists and was not written by simsiam-zoo ({PLAN_FILE} is not a demo's plan); choose "
                "a new or empty folder"
            )
        return {}

    def get(self, name: str, choose: Callable[[], Any], *, valid: Callable[[Any], bool]) -> Any:
        """The plan's `name`, chosen (and written) unless the plan holds a `valid` one."""
        if name not in self.values or not _checked(valid, self.values[name]):
            self.values[name] = json.loads(json.dumps(choose()))
            atomic_write_text(self.path, json.dumps(self.values, indent=1) + "\n")
        return self.values[name]


def _checked(valid: Callable[[Any], bool], value: Any) -> bool:
    """`valid(value)`, False where the check itself fails on a value of another shape (an edited plan file)."""
    try:
        return bool(valid(value))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return False


def _two_timings(values: Any) -> bool:
    """The plan's seconds a training step and an embedded image take."""
    return _positive_numbers(values, 2)


def _positive_numbers(values: Any, count: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == count
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf for v in values)
    )


def _features(source: Any, data: str, *, out: Path, limit: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    from simsiam_zoo.digests import weights_sha256
    from simsiam_zoo.features import SETTINGS_FILE, labelled_features

    settings = out / SETTINGS_FILE
    # The demo's own features from an earlier run, of a model that has trained on since: made again, not mixed.
    # Only a features folder this project wrote is removed; anything else is left for extract_features to refuse.
    if read_marker(out) == "features" and settings.exists() and _weights_of(settings) != weights_sha256(source.model):
        shutil.rmtree(out)
    return labelled_features(
        source.model,
        source.transform,
        data,
        out=out,
        batch_size=256,
        device=device,
        limit=limit,
        model_name=source.source,
    )


def _weights_of(settings: Path) -> Any:
    """The weights' sha256 a features folder's settings record, or None where they record none (edited)."""
    try:
        recorded = json.loads(settings.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return recorded.get("weights_sha256") if isinstance(recorded, dict) else None


def _evaluate(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor) -> dict:
    knn = knn_accuracy(train_x, train_y, test_x, test_y, ks=(20,))[20]
    linear = linear_probe_sweep(train_x, train_y, test_x, test_y, weight_decays=WEIGHT_DECAYS, max_iter=PROBE_MAX_ITER)
    return {"knn_top1": knn, "linear_top1": linear["test_accuracy"], "dim": train_x.shape[1]}


def _few_labels(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *, seed: int
) -> dict:
    """kNN and linear probe trained on FEW_LABELS images of the train features (a seeded draw of the same number
    from each class), evaluated on the same test set."""
    keep = balanced_label_subset(train_y, per_class=FEW_LABELS // len(train_y.unique()), seed=seed)
    scores = _evaluate(train_x[keep], train_y[keep], test_x, test_y)
    return {
        "few_labels": len(keep),
        "few_label_knn_top1": scores["knn_top1"],
        "few_label_linear_top1": scores["linear_top1"],
    }


def _digits_split(source: Any, digits: tuple[Any, Any], *, device: str) -> tuple[torch.Tensor, ...]:
    """sklearn's digits (`digits_datasets`' train and test) as (train x, train y, test x, test y): `source`'s
    features, or with None the 8x8 pixels."""
    from simsiam_zoo.features import embed_dataset

    train, test = digits
    if source is None:
        from sklearn.datasets import load_digits

        originals = torch.from_numpy(load_digits().data).float() / 16  # the 8x8 images, by the paths' indices

        def pixels(split: Any) -> torch.Tensor:
            return originals[[int(path.rpartition("/")[2]) for path in split.paths]]

        return (pixels(train), train.labels, pixels(test), test.labels)
    return (
        *embed_dataset(source.model, Transformed(train, source.transform), device=device),
        *embed_dataset(source.model, Transformed(test, source.transform), device=device),
    )


def _digits(split: tuple[torch.Tensor, ...]) -> dict:
    """Transfer to digits: kNN and linear probe on its split."""
    scores = _evaluate(*split)
    return {"digits_knn_top1": scores["knn_top1"], "digits_linear_top1": scores["linear_top1"]}


def run_demo(
    *,
    out_dir: str | Path = "demo_output",
    minutes: float = 5.0,
    device: str = "cpu",
    eval_train_images: int = EVAL_TRAIN_IMAGES,
    eval_test_images: int = EVAL_TEST_IMAGES,
    monitor_bank: int = MONITOR_BANK,
    monitor_queries: int = MONITOR_QUERIES,
    progress: bool = True,
    started: float | None = None,
) -> DemoResult:
    """The whole demo within `minutes` from `started` (a `time.monotonic()`, the command's start; default now)."""
    _check_arguments(minutes=minutes, device=device)
    started = time.monotonic() if started is None else started
    deadline = started + minutes * 60
    out_dir = claim_output_dir(out_dir, kind="demo", legacy_files=(PLAN_FILE,))
    recipe = _demo_recipe(monitor_bank=monitor_bank, monitor_queries=monitor_queries)
    dataset = FashionMNIST(recipe.data.path)
    sizes = (eval_train_images, eval_test_images)
    plan = _Plan(out_dir, minutes=minutes, device=device, sizes=sizes)
    # Said as each stage starts: the first minutes hold no training, and a budget below the minimum shows only after.
    _say(progress, "timing a few training steps and embeddings on this machine, to plan the budget", started)
    timings = plan.get("timings", lambda: _calibrate(recipe, dataset, device), valid=_two_timings)
    seconds_per_step, seconds_per_image = timings
    evaluation = _Evaluation(out_dir / "features", recipe, dataset, sizes=sizes, device=device)
    _say(progress, f"the baselines: {RANDOM_INIT_DRAWS} random inits and the raw pixels, evaluated", started)
    baselines, reserve = _baselines(evaluation, recipe, plan, seconds_per_step=seconds_per_step)
    _say(progress, f"the collapse pair: {COLLAPSE_STEPS} steps with and without stop-gradient", started)
    pair = collapse_pair(recipe, dataset, out_dir=out_dir, device=device, progress=progress)
    # The main run trains at least one step, after its kNN monitor's two epoch-0 embeddings (both inits).
    shortest_run = seconds_per_step + 3 * (monitor_bank + monitor_queries) * seconds_per_image
    minimum_minutes = _warn_if_short(minutes, (time.monotonic() - started + shortest_run + reserve) / 60)
    main_run, run_dir = _pretrain(
        recipe,
        dataset,
        plan,
        out_dir=out_dir,
        device=device,
        progress=progress,
        started=started,
        seconds_left=deadline - time.monotonic() - reserve,
        seconds_per_step=seconds_per_step,
        monitor_seconds=(DEMO_EPOCHS + 2) * (monitor_bank + monitor_queries) * seconds_per_image,
    )
    rows = [_published_row(run_dir, out_dir, evaluation, say=lambda text: _say(progress, text, started)), *baselines]
    collapse = {"stop_gradient": final_z_std(pair[0]), "no_stop_gradient": final_z_std(pair[1])}
    report = write_report(
        out_dir / "report",
        rows=rows,
        runs=DemoRuns(main_run, recipe, pair, collapse),
        retrieval=Retrieval(
            evaluation.features["simsiam"], evaluation.pixels_train.images, evaluation.pixels_test.images
        ),
        card=(out_dir / "export" / DEMO_MODEL / "README.md").read_text(),
        minutes=(time.monotonic() - started) / 60,
    )
    _say(progress, f"done: {report}", started)
    return DemoResult(out_dir, report, rows, minimum_minutes, collapse)


def _check_arguments(*, minutes: float, device: str) -> None:
    if not 0 < minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be a positive number up to {MAX_MINUTES:,} (a year), got {minutes!r}")
    check_device(device)


def _baselines(
    evaluation: _Evaluation, recipe: Recipe, plan: _Plan, *, seconds_per_step: float
) -> tuple[list[dict[str, Any]], float]:
    """The random-init and raw-pixel rows, and the seconds to keep for after pretraining. The baselines go first:
    the trained backbone's evaluation does the same work on the same images, so its time is measured here instead
    of guessed; export, publishing, loading and plots are reserved as `FIXED_STEPS` training steps. The rows are
    deterministic, so a rerun takes them from the plan."""

    def evaluate() -> dict[str, Any]:
        evaluation_started = time.monotonic()
        draws = [
            evaluation.backbone_row(RANDOM_INIT_LABEL, _standard_init(recipe, draw=draw), f"random-{draw}")
            for draw in range(RANDOM_INIT_DRAWS)
        ]
        seconds = (time.monotonic() - evaluation_started) / len(draws)
        return {"rows": [mean_row(draws, label=RANDOM_INIT_LABEL), evaluation.pixel_row()], "seconds": seconds}

    baselines = plan.get("baselines", evaluate, valid=_baselines_whole)
    return baselines["rows"], baselines["seconds"] + FIXED_STEPS * seconds_per_step


_ROW_SCORES = tuple(key for key, _ in METRICS)


def _baselines_whole(baselines: Any) -> bool:
    """The plan file's baselines: the seconds one took, the random inits' mean row with its range, the pixels' row."""
    random_init, pixels = baselines["rows"]
    ranges = [random_init["range"][key] for key in _ROW_SCORES]
    return (
        _positive_numbers([baselines["seconds"]], 1)
        and _row_whole(random_init)
        and _row_whole(pixels)
        and all(len(bounds) == 2 and _percentages(bounds) for bounds in ranges)
    )


def _row_whole(row: Any) -> bool:
    """A baseline row holds its label, width and every score."""
    return isinstance(row["features"], str) and is_int(row["dim"]) and _percentages([row[key] for key in _ROW_SCORES])


def _percentages(values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100 for v in values)


def mean_row(draws: list[dict[str, Any]], *, label: str) -> dict[str, Any]:
    """The draws' mean score for each metric, and each metric's lowest and highest draw (`range`), as `label`."""
    metrics = [key for key, value in draws[0].items() if key.endswith("_top1")]
    row = {**draws[0], **{key: sum(d[key] for d in draws) / len(draws) for key in metrics}}
    row["features"] = f"{label}, mean of {len(draws)} draws"
    row["range"] = {key: [min(d[key] for d in draws), max(d[key] for d in draws)] for key in metrics}
    return row


def _demo_recipe(*, monitor_bank: int, monitor_queries: int) -> Recipe:
    return load_recipe("simsiam_r18_fashion_mnist").replace(
        {
            "data.knn_train_size": monitor_bank,
            "data.knn_test_size": monitor_queries,
            "optim.epochs": DEMO_EPOCHS,
            **DEMO_INPUT,
            "run.log_every_steps": 1,  # the runs are short: every step is a point of the figure
        }
    )


def _published_row(run_dir: Path, out_dir: Path, evaluation: _Evaluation, *, say: Callable[[str], None]) -> dict:
    """The run exported, published locally, loaded back by its zoo name and evaluated; the card's model-index then
    gets these numbers and the local hub copy is republished with them."""
    hub_dir = _publish(run_dir, out_dir)
    say(f"published {ZOO[DEMO_MODEL].hub_id} to {hub_dir}; loading it back by name")
    ours = evaluation.backbone_row("SimSiam (this run)", load_backbone(DEMO_MODEL, hub_dir=hub_dir), "simsiam")
    say("extracted and evaluated features; report")
    _publish(run_dir, out_dir, results=_results(ours, test_images=len(evaluation.features["simsiam"][2])))
    return ours


def _publish(run_dir: Path, out_dir: Path, *, results: tuple[Result, ...] = ()) -> Path:
    """The run exported as the demo's zoo entry and published to the demo's local hub directory (returned)."""
    folder = export_checkpoint(run_dir, out_dir / "export" / DEMO_MODEL, name=DEMO_MODEL, results=results)
    hub_dir = out_dir / "local_hub"
    publish_local(folder, hub_dir=hub_dir, repo_id=ZOO[DEMO_MODEL].hub_id)
    return hub_dir


def _warn_if_short(minutes: float, minimum_minutes: float) -> float:
    """A warning when the budget is below the minimum; the minimum."""
    if minimum_minutes > minutes:
        warnings.warn(
            f"--minutes {minutes:g} is below what the demo needs on this machine (about "
            f"{minimum_minutes:.1f} min): the main run trains one step",
            stacklevel=3,
        )
    return minimum_minutes


def _results(ours: dict[str, Any], *, test_images: int) -> tuple[Result, ...]:
    dataset = HUB_DATASET_IDS["fashion_mnist"]
    return (
        Result(
            "knn",
            dataset,
            f"top-1 accuracy (k=20, {test_images} test images)",
            round(ours["knn_top1"], 2),
            "simsiam-zoo demo",
        ),
        Result(
            "linear",
            dataset,
            f"top-1 accuracy (cached features, {PROBE_SETTINGS}, {test_images} test images)",
            round(ours["linear_top1"], 2),
            "simsiam-zoo demo",
        ),
    )


def _standard_init(recipe: Recipe, *, draw: int) -> Any:
    with seeded(recipe.run.seed + draw):  # the same random network on a rerun, so its features resume
        return load_backbone(DEMO_MODEL, pretrained=False)


def collapse_pair(
    recipe: Recipe, dataset: FashionMNIST, *, out_dir: Path, device: str, progress: bool
) -> tuple[TrainResult, TrainResult]:
    """The recipe at `COLLAPSE_SETTINGS` for `COLLAPSE_STEPS` steps, with and without stop-gradient, each
    resumed (or kept, when finished) from its folder in `out_dir`."""
    images = LabelledSubset(dataset, range(COLLAPSE_STEPS * COLLAPSE_BATCH))
    runs = []
    for stop_gradient, name in ((True, "stop-gradient"), (False, "no-stop-gradient")):
        runs.append(
            train(
                recipe.replace({**COLLAPSE_SETTINGS, "loss.stop_gradient": stop_gradient}),
                output_dir=out_dir / f"run-collapse-{name}",
                device=device,
                dataset=images,
                progress=progress,
            )
        )
    return runs[0], runs[1]


def final_z_std(run: TrainResult) -> float:
    """The mean std of l2-normalised z over the run's last `FINAL_STEPS` logged steps."""
    last = read_steps(run)["z_std"][-FINAL_STEPS:]
    return sum(last) / len(last)


def _pretrain(
    recipe: Recipe,
    dataset: FashionMNIST,
    plan: _Plan,
    *,
    out_dir: Path,
    device: str,
    progress: bool,
    started: float,
    seconds_left: float,
    seconds_per_step: float,
    monitor_seconds: float,
) -> tuple[TrainResult, Path]:
    """The main run, planned from `seconds_left` and stopped there whatever the plan said (the budget is a
    deadline). Returns it and its folder."""
    images = plan.get(
        "main_images",
        lambda: images_per_epoch(
            seconds=seconds_left - monitor_seconds,
            seconds_per_step=seconds_per_step,
            batch_size=recipe.optim.batch_size,
            dataset_size=len(dataset),
        ),
        valid=lambda value: is_int(value) and 0 < value <= len(dataset),
    )
    run_dir = out_dir / f"run-{images}"  # a run folder per plan, so that another budget starts afresh
    _say(
        progress,
        f"pretraining {recipe.model.arch} on {images} images, planned {DEMO_EPOCHS} epochs "
        f"(~{seconds_per_step:.2f} s/step, {max(seconds_left, 0):.0f} s left for it)",  # spent: it was negative
        started,
    )
    # The schedule is fitted to the deadline at each epoch's end from the steps' own pace (this machine's speed
    # drifts by a third within minutes, README), so that it ends there whether the steps run faster or slower than
    # calibrated. A run stops after the step that passes its deadline, hence one step less.
    main_run = train(
        recipe,
        output_dir=run_dir,
        device=device,
        dataset=LabelledSubset(dataset, range(images)),
        progress=progress,
        max_minutes=max(seconds_left - seconds_per_step, 0.0) / 60,
        fit_to_deadline=True,
    )
    return main_run, run_dir


class _Evaluation:
    """The frozen-feature evaluation of the demo's rows on one split of Fashion-MNIST and on digits."""

    def __init__(
        self, features_dir: Path, recipe: Recipe, train_set: FashionMNIST, *, sizes: tuple[int, int], device: str
    ):
        self.features_dir, self.recipe, self.device = features_dir, recipe, device
        self.train_images, self.test_images = sizes  # images of the evaluation's train and test splits
        self.digits = digits_datasets(image_size=recipe.data.image_size)
        self.pixels_train = train_set  # already read for pretraining
        self.pixels_test = FashionMNIST(recipe.data.path, split="test")
        self.features: dict[str, tuple[torch.Tensor, ...]] = {}

    def backbone_row(self, label: str, source: Any, key: str) -> dict[str, Any]:
        train_x, train_y = _features(
            source, "fashion_mnist", out=self.features_dir / f"{key}-train", limit=self.train_images, device=self.device
        )
        test_x, test_y = _features(
            source,
            "fashion_mnist:test",
            out=self.features_dir / f"{key}-test",
            limit=self.test_images,
            device=self.device,
        )
        self.features[key] = (train_x, train_y, test_x, test_y)
        return self._row(label, (train_x, train_y, test_x, test_y), source)

    def pixel_row(self) -> dict[str, Any]:
        n_train, n_test = min(self.train_images, len(self.pixels_train)), min(self.test_images, len(self.pixels_test))
        raw = (
            self.pixels_train.images[:n_train].flatten(1).float() / 255,
            self.pixels_train.labels[:n_train],
            self.pixels_test.images[:n_test].flatten(1).float() / 255,
            self.pixels_test.labels[:n_test],
        )
        return self._row("raw pixels (28x28)", raw, None)

    def _row(self, label: str, split: tuple[torch.Tensor, ...], source: Any) -> dict[str, Any]:
        return {
            "features": label,
            **_evaluate(*split),
            **_few_labels(*split, seed=self.recipe.run.seed),
            **_digits(_digits_split(source, self.digits, device=self.device)),
        }


def _say(enabled: bool, message: str, started: float) -> None:
    if enabled:
        print(f"[demo {time.monotonic() - started:5.0f} s] {message}", flush=True)


def format_table(rows: list[dict[str, Any]]) -> str:
    width = max(len("features"), *(len(row["features"]) for row in rows))
    lines = [f"{'features':{width}s} {'dim':>5s} {'kNN top-1':>10s} {'linear top-1':>13s}"]
    for row in rows:
        lines.append(
            f"{row['features']:{width}s} {row['dim']:>5d} {row['knn_top1']:>9.2f}% {row['linear_top1']:>12.2f}%"
        )
    return "\n".join(lines)
