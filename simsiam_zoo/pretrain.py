"""SimSiam pretraining on the engine, for one process (CPU or one GPU) or one rank of a torchrun job.

Checkpoints hold the model, the optimiser, the step and the monitor history; they are written
atomically, and a restart in the same output folder continues bit-for-bit where the last one stopped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from simsiam_zoo import engine
from simsiam_zoo._io import (
    atomic_write_text,
    claim_output_dir,
    hold_lock,
    lock_path_outside,
    read_marker,
    remove_stale_temps,
)
from simsiam_zoo.arguments import check_bool, is_int, is_real
from simsiam_zoo.augment import SimSiamViews, eval_transform
from simsiam_zoo.checkpoint import (
    CHECKPOINT_NAME,
    RECIPE_NAME,
    TrainingCheckpoint,
    non_finite_keys,
    read_training_checkpoint,
)
from simsiam_zoo.data import (
    EpochSampler,
    FakeImages,
    FashionMNIST,
    LabelledSubset,
    NextIfUndecodable,
    SourceImages,
    Transformed,
    dataset_fingerprint,
    dataset_stretches,
    held_out_folder,
    held_out_images,
    images_fingerprint,
    is_named_source,
    labelled_images,
    unlabelled,
)
from simsiam_zoo.distributed import (
    DistributedContext,
    all_outcomes,
    all_reduce_sum,
    any_rank,
    check_same_on_every_rank,
    check_same_resume,
    convert_sync_batchnorm,
    device_named,
    init_distributed,
    local_device,
    main_only,
    on_every_rank,
    on_main,
)
from simsiam_zoo.engine import Augmented, cosine_lr, rows_whole, run_steps
from simsiam_zoo.errors import ConversionError, DataError, RecipeError, listed, squeezed, type_name
from simsiam_zoo.evaluate.knn import knn_accuracy
from simsiam_zoo.features import embed_dataset
from simsiam_zoo.losses import normalized_moments, simsiam_loss, std_from_moments
from simsiam_zoo.model import HeadConfig, SiameseOutput, SimSiam, check_arch, seeded, untrained_backbone
from simsiam_zoo.recipe import (
    Recipe,
    checked_recipe,
    recipe_differences,
    recipe_from_dict,
    shared_settings,
)

# The files a run rewrites as it goes (atomically: a kill can leave a temp file beside one, removed on resume).
RUN_FILES = (CHECKPOINT_NAME, RECIPE_NAME, "metrics.csv", "steps.csv")
RUN_LOCK = ".train.lock"
STEP_FIELDS = ("step", "loss", "z_std", "lr")
# knn_top1_standard_init (epoch 0 only): the same architecture with the standard random init, the fair baseline.
EPOCH_FIELDS = (
    "epoch",
    "step",
    "loss",
    "z_std",
    "z_std_reference",
    "knn_top1",
    "knn_top1_standard_init",
    "lr",
    "seconds",
)


@dataclass
class TrainResult:
    output_dir: Path
    step: int
    total_steps: int
    epochs: list[dict[str, float]] = field(default_factory=list)
    resumed_at: int = 0  # the step this invocation started from: steps before it were trained by earlier ones

    @property
    def completed(self) -> bool:
        return self.step >= self.total_steps


def build_model(recipe: Recipe) -> SimSiam:
    """The recipe's network, initialised from its seed without resetting the caller's generator (every draw after
    `train` was the same whatever seed a notebook had set)."""
    spec = recipe.model
    heads = HeadConfig(
        dim=spec.dim,
        pred_dim=spec.pred_dim,
        projector_layers=spec.projector_layers,
        predictor=spec.predictor,
        bn_placement=spec.bn_placement,
    )
    with seeded(recipe.run.seed):
        return SimSiam(untrained_backbone(spec.arch), heads, momentum=spec.momentum_target)


def _recipe_model(recipe: Recipe) -> SimSiam:
    """`build_model`, before the run claims its folder: a network this machine cannot allocate (a `model.dim` with
    digits too many) is the recipe's error, naming its heads' sizes (the out-of-memory message named the batch and
    image sizes, and the folder was left claimed)."""
    try:
        return build_model(recipe)
    except (RuntimeError, MemoryError) as error:
        if isinstance(error, RuntimeError) and "allocate" not in str(error):
            raise
        raise RecipeError(
            f"recipe {recipe.name!r}: its network does not fit in memory (model.dim {recipe.model.dim}, "
            f"model.pred_dim {recipe.model.pred_dim}); give smaller heads"
        ) from None


def recipe_optimizer(model: SimSiam, recipe: Recipe) -> torch.optim.Optimizer:
    optim = recipe.optim
    predictor_params = [p for p in model.predictor.parameters() if p.requires_grad]
    predictor_ids = {id(p) for p in predictor_params}
    other_params = [p for p in model.parameters() if p.requires_grad and id(p) not in predictor_ids]
    groups: list[dict[str, Any]] = [{"params": other_params, "fix_lr": False}]
    if predictor_params:
        groups.append({"params": predictor_params, "fix_lr": optim.fix_predictor_lr})
    return engine.build_optimizer(
        groups, kind=optim.optimizer, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay
    )


def learning_rate(recipe: Recipe, step: int, steps_per_epoch: int, *, total_steps: int | None = None) -> float:
    """Linear warm-up (large batches) then half-cosine decay to 0 at `total_steps` (the recipe's epochs unless a
    run's horizon was fitted to its deadline), per step."""
    optim = recipe.optim
    total = optim.epochs * steps_per_epoch if total_steps is None else total_steps
    return cosine_lr(optim.lr, step, total, warmup_steps=optim.warmup_epochs * steps_per_epoch)


def build_dataset(recipe: Recipe, *, split: str = "train") -> Dataset:
    data = recipe.data
    if data.dataset == "fake":
        if data.path is not None:
            raise RecipeError(
                f"recipe {recipe.name!r}: data.path {data.path!r} is set but data.dataset is 'fake', "
                "which generates its images; set data.dataset=imagefolder to train on that folder"
            )
        return FakeImages(data.fake_size, image_size=data.image_size, seed=recipe.run.seed + (split == "test"))
    if _named_dataset(recipe) is not None:
        # `cifar10:train`, `fashion_mnist:test`: the named dataset's split, as any DATA reads it, whatever the recipe
        # reads at a path of its own (Fashion-MNIST's recipe looked for its IDX files in a folder of that name).
        return labelled_images(data.path)
    if data.dataset == "fashion_mnist":
        return _fashion_mnist_files(recipe, split=split)
    if data.path is None:
        raise RecipeError(f"recipe {recipe.name!r}: data.path is required for an image folder")
    root = Path(data.path)
    return labelled_images(root / "train" if (root / "train").is_dir() else root)


def _named_dataset(recipe: Recipe) -> str | None:
    """The dataset data.path names (`cifar10` for `cifar10:train`), or None where it is a path or unset."""
    path = recipe.data.path
    return path.partition(":")[0] if path is not None and is_named_source(path) else None


def trained_dataset(recipe: Recipe) -> str:
    """What a run trains on, as its card names it: a named DATA's dataset, whatever the recipe reads at a path of
    its own, else the recipe's reader (`fashion_mnist`, `imagefolder`, `fake`)."""
    return _named_dataset(recipe) or recipe.data.dataset


def _fashion_mnist_files(recipe: Recipe, *, split: str) -> Dataset:
    """Fashion-MNIST's IDX files, in data.path or where Debian's package puts them."""
    path = recipe.data.path
    if path is not None:
        reads = f"recipe {recipe.name!r} reads Fashion-MNIST's IDX files there (data.dataset 'fashion_mnist')"
        if not Path(path).is_dir():
            raise DataError(f"{path}: no such folder; {reads}")
        if not (Path(path) / "train-images-idx3-ubyte.gz").is_file():
            raise DataError(
                f"{path}: no train-images-idx3-ubyte.gz; {reads}: set data.dataset=imagefolder for a folder of images"
            )
    return FashionMNIST(path, split=split)


def held_out_dataset(recipe: Recipe, train: Dataset) -> Dataset | None:
    """The labelled images apart from `train` (the recipe's training images) that the kNN monitor queries
    (Fashion-MNIST's test split, a folder's `val/` or `test/`, fake images of another seed), or None where the data
    has none: a folder without either, or images given to `train` as a dataset. A source's classes are numbered as
    `train`'s, matched by name (a `val/` may lack some of them: each folder numbers its own)."""
    data = recipe.data
    named = _named_dataset(recipe)
    if data.dataset != "imagefolder" and named is None:
        return build_dataset(recipe, split="test")
    if data.path is None or not isinstance(train, SourceImages):  # a dataset given to `train`: its classes unnamed
        return None
    if named is not None:  # its test split, unless that is what trains
        held_out = f"{named}:test"
        if data.path == held_out:
            return None
    else:
        held_out = held_out_folder(Path(data.path))
    return held_out_images(held_out, train, train_name=data.path)[0] if held_out is not None else None


def knn_monitor_split(recipe: Recipe, dataset: Dataset, *, strict: bool = False) -> tuple[Dataset, Dataset] | None:
    """Labelled bank and query sets for the kNN monitor, or None when there are no labels; an image that does not
    decode is skipped as in training (`NextIfUndecodable`), or with `strict` the error."""
    data = recipe.data
    labels = getattr(dataset, "labels", None)
    if data.knn_train_size <= 0 or data.knn_test_size <= 0 or labels is None or bool((labels < 0).all()):
        return None
    problem = unlabelled(labels)
    if not problem and len(set(torch.as_tensor(labels).tolist()) - {-1}) < 2:
        problem = "the images are of one class, which every query would be right about"
    if problem:
        warnings.warn(f"kNN monitor off: {problem}", stacklevel=2)
        return None
    transform = eval_transform(image_size=data.image_size, crop_pct=1.0, mean=data.mean, std=data.std)
    g = torch.Generator().manual_seed(recipe.run.seed)
    try:
        test_set = held_out_dataset(recipe, dataset)
    except DataError as error:  # a val/ with a class training lacks, or with no images: pretraining goes on
        warnings.warn(f"kNN monitor off: {error}", stacklevel=2)
        return None
    if test_set is None:  # no split apart from training: the queries are held out of the bank, a fifth at most
        order = torch.randperm(len(dataset), generator=g).tolist()
        queries = min(data.knn_test_size, len(dataset) // 5)
        if queries == 0:
            warnings.warn(f"kNN monitor off: {len(dataset)} images, too few to hold queries out", stacklevel=2)
            return None
        test_set, bank_indices, query_indices = dataset, order[queries : queries + data.knn_train_size], order[:queries]
    else:
        bank_indices = torch.randperm(len(dataset), generator=g)[: data.knn_train_size].tolist()
        query_indices = torch.randperm(len(test_set), generator=g)[: data.knn_test_size].tolist()
    return (
        Transformed(NextIfUndecodable(LabelledSubset(dataset, bank_indices), strict=strict), transform),
        Transformed(NextIfUndecodable(LabelledSubset(test_set, query_indices), strict=strict), transform),
    )


def knn_monitor_accuracy(encoder: nn.Module, split: tuple[Dataset, Dataset], device: torch.device) -> float:
    """Weighted kNN top-1 (k=20) of `encoder` embeddings of the queries against the bank."""
    bank_x, bank_y = embed_dataset(encoder, split[0], device=device)
    query_x, query_y = embed_dataset(encoder, split[1], device=device)
    return knn_accuracy(bank_x, bank_y, query_x, query_y, ks=(20,))[20]


def _standard_init_knn(recipe: Recipe, split: tuple[Dataset, Dataset], device: torch.device) -> float:
    """kNN monitor accuracy of `recipe`'s architecture with the standard random init, seeded by the recipe; the
    global RNG is left as it was, so that training does not depend on the monitor."""
    with seeded(recipe.run.seed):
        baseline = untrained_backbone(recipe.model.arch, zero_init_last=False)
    return knn_monitor_accuracy(baseline.to(device), split, device)


def _write_csv(path: Path, rows: list[dict[str, float]], fields: Sequence[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_steps(run: TrainResult) -> dict[str, list[float]]:
    """The run's steps.csv: step, loss and z_std, one value a logged step."""
    with open(run.output_dir / "steps.csv") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows] for key in ("step", "loss", "z_std")}


class PretrainingViews:
    """The recipe's two seeded views of each image (`Augmented`), either finished per image in the loader's
    workers or, with `data.augment_on_device`, cropped there and finished batched on the training device."""

    def __init__(self, recipe: Recipe, dataset: Dataset, device: torch.device, *, strict: bool = False):
        data = recipe.data
        self.device = device
        self.augmentation = SimSiamViews(
            image_size=data.image_size, variant=data.augmentation, mean=data.mean, std=data.std
        )
        on_device = data.augment_on_device
        self.on_device = device.type == "cuda" if on_device is None else on_device
        transform = self.augmentation.crop_and_draw if self.on_device else self.augmentation
        self.dataset = Augmented(dataset, transform, seed=recipe.run.seed, views=2, strict=strict)

    def to_device(self, batch: list[Any]) -> list[Any]:
        """A loader batch with its images copied to the device (without waiting); parameters stay on the host."""

        def copy(view: Any) -> Any:
            if self.on_device:
                crops, params = view
                return crops.to(self.device, non_blocking=True), params
            return view.to(self.device, non_blocking=True)

        return [*(copy(view) for view in batch[:2]), *batch[2:]]

    def finish(self, view: Any) -> torch.Tensor:
        """One view of a batch on the device, ready for the network."""
        return self.augmentation.finish_batch(*view) if self.on_device else view


def recipe_loss(
    forward: nn.Module, recipe: Recipe, x1: torch.Tensor, x2: torch.Tensor
) -> tuple[torch.Tensor, SiameseOutput]:
    """(loss, model output) for one batch of two views: the forward in the recipe's precision, its loss in fp32."""
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=recipe.run.precision == "bf16"):
        out = forward(x1, x2)
    loss = simsiam_loss(
        out.p1.float(),
        out.p2.float(),
        out.z1.float(),
        out.z2.float(),
        stop_gradient=recipe.loss.stop_gradient,
        symmetric=recipe.loss.symmetric,
        similarity=recipe.loss.similarity,
    )
    return loss, out


def recipe_step(
    forward: nn.Module, recipe: Recipe, optimizer: torch.optim.Optimizer, x1: torch.Tensor, x2: torch.Tensor
) -> torch.Tensor:
    """One optimiser step on one batch of two views, at the optimiser's current lr; its loss, detached. The training
    loop's step without its schedule, checks and logging: what calibration and benchmarks time."""
    loss, _ = recipe_loss(forward, recipe, x1, x2)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


# Gradients whatever the caller's mode: under a notebook's `no_grad` or `inference_mode` (whose tensors autograd
# cannot save) the first step failed in torch, after the run had claimed its folder.
@torch.inference_mode(False)
@torch.enable_grad()
def train(
    recipe: Recipe,
    *,
    output_dir: str | Path,
    device: str = "cpu",
    max_minutes: float | None = None,
    max_steps: int | None = None,
    dataset: Dataset | None = None,
    progress: bool = True,
    strict: bool = False,
    fit_to_deadline: bool = False,
) -> TrainResult:
    """Pretrain per `recipe` into `output_dir`, resuming from its checkpoint when there is one.

    `max_minutes` and `max_steps` (a global step count) end this invocation early with a checkpoint;
    the same call again continues the schedule as if it had never stopped. An image that does not decode is
    skipped, the next one taking its place in the batch (`Augmented`), or with `strict` the error.

    With `fit_to_deadline` (and `max_minutes`), the recipe's epochs are only the first plan of the schedule's
    horizon: at each epoch's end it is re-fitted to the steps that this invocation's measured pace fits before the
    deadline, so that the schedule ends there on a machine faster or slower than planned (the demo's budget). The
    horizon is kept in the checkpoint.
    """
    recipe = checked_recipe(recipe)
    _check_limits(max_minutes=max_minutes, max_steps=max_steps, fit_to_deadline=fit_to_deadline, progress=progress)
    context = init_distributed(device_named(device))
    if fit_to_deadline and context.enabled:
        raise ValueError("fit_to_deadline runs on one process: ranks would each fit the horizon to their own clock")
    check_arch(recipe.model.arch, recipe.data.image_size)
    check_same_on_every_rank(
        context, recipe=shared_settings(recipe), max_minutes=max_minutes, max_steps=max_steps, strict=strict
    )
    given = dataset
    # Each rank reads the data at its path (a node's own copy): a failure there is every rank's error.
    dataset = on_every_rank(context, lambda: _training_data(recipe, given, world_size=context.world_size))
    data = _data_records(dataset)
    _check_same_data(context, data)
    model = _recipe_model(recipe)
    with contextlib.ExitStack() as held:
        # The other ranks read the run (its checkpoint) only once rank 0 holds it: a second launch on one folder
        # waits whole, where its rank 1 started from step 0 beside its rank 0's resume.
        output_dir = on_main(context, lambda: _claim_run_dir(recipe, output_dir, held))
        device = local_device(device, context)
        run = _Pretraining(
            recipe, model, Path(output_dir), dataset, context, device, strict=strict, max_steps=max_steps, records=data
        )
        deadline = time.monotonic() + max_minutes * 60 if max_minutes is not None else None
        shown = progress and context.is_main
        run.bar = tqdm(total=run.total_steps, initial=run.step, disable=not shown, unit="step")
        first_step = run.step
        try:  # the bar ends its line even on an error, so that the message starts on its own
            run.monitor_epoch_zero()
            run.forward.train()
            run.step = _steps_to_horizon(run, max_steps=max_steps, deadline=deadline, fit=fit_to_deadline)
            unsaved = run.step % run.steps_per_epoch != 0 and run.step % recipe.run.checkpoint_every_steps != 0
            if run.step > first_step and unsaved:
                run.checkpoint()
        finally:
            run.close()
    return TrainResult(run.output_dir, run.step, run.total_steps, list(run.state["epochs"]), resumed_at=first_step)


def _claim_run_dir(recipe: Recipe, output_dir: str | Path, held: contextlib.ExitStack) -> Path:
    """The run folder, claimed and locked for as long as `held` lasts: a second `train` on it waits, then resumes
    what the first saved (or is refused for another recipe), where both used to write it at once and report success.
    One process claims it (the others would see its marker half-made), and every rank gets its refusal."""
    folder = Path(claim_output_dir(output_dir, kind="run", inputs=(recipe.data.path,), legacy_files=(CHECKPOINT_NAME,)))
    # A folder taken for an older version's run (no marker) may be a user's own that holds a `checkpoint.pt`: its
    # lock lives outside it, so that a refused train leaves nothing there. Such a folder is never marked later.
    lock = folder / RUN_LOCK if read_marker(folder) == "run" else lock_path_outside(folder.resolve())
    hold_lock(lock, held, waiting=f"{folder}: another train is writing this run; waiting for it to end")
    remove_stale_temps(folder, RUN_FILES)  # under the lock: another run's temp files are not stale
    return folder


def _training_data(recipe: Recipe, dataset: Dataset | None, *, world_size: int) -> Dataset:
    """The recipe's dataset, or the one given with its first item's form checked; either with one global batch at
    least. Said here, naming the data, before the run claims its folder (the loader's workers said it later, as
    torchvision's or collate's error)."""
    where = f"{recipe.data.path or recipe.data.dataset}"
    if dataset is None:
        dataset = build_dataset(recipe)
    else:
        where = f"dataset ({type(dataset).__name__})"
        _check_training_item(dataset, where)
    _check_batch_split(recipe, world_size)
    if len(dataset) < recipe.optim.batch_size:  # the global batch, which the ranks share
        raise DataError(
            f"{where}: {len(dataset)} images are fewer than one global batch (optim.batch_size "
            f"{recipe.optim.batch_size})"
        )
    _check_local_stretches(recipe, dataset, world_size)
    return dataset


def _check_local_stretches(recipe: Recipe, dataset: Dataset, world_size: int) -> None:
    """Under `data.shuffle: local` each rank reads its own stretch of the data (whole tar shards): the smallest must
    hold a rank's share of a batch. Checked before the run's folder is claimed (it was claimed, then refused naming
    neither setting)."""
    if recipe.data.shuffle != "local" or world_size == 1:
        return
    per_rank = recipe.optim.batch_size // world_size
    smallest = min(map(len, dataset_stretches(dataset, world_size)))
    if smallest < per_rank:
        raise RecipeError(
            f"data.shuffle: local: the smallest rank's stretch of the data (whole tar shards) holds {smallest} "
            f"images, fewer than a rank's {per_rank} of optim.batch_size {recipe.optim.batch_size}; lower "
            "optim.batch_size, or shuffle globally"
        )


def _check_same_data(context: DistributedContext, records: dict[str, Any]) -> None:
    """Every rank found the images rank 0 found (`_data_records`): other images at the path trained in silence, and
    another count made one rank stop early, the others left waiting for it."""
    gathered = all_outcomes(context, lambda: records)
    for rank, theirs in enumerate(gathered[1:], start=1):
        ours, count = gathered[0], theirs["num_images"]
        if theirs != ours:
            what = f"{count} images, rank 0 {ours['num_images']}" if count != ours["num_images"] else "other names"
            raise DataError(
                f"rank {rank} finds other images at the data's path than rank 0 ({what}); give every node the same copy"
            )


def _check_batch_split(recipe: Recipe, world_size: int) -> None:
    """`optim.batch_size` is the global batch: each rank takes an equal share, of two images at least where its
    BatchNorm statistics are its own (without `run.sync_batchnorm`). Both said before the run claims its folder
    (torch's BatchNorm error advised `--batch-size`, an option of `finetune`)."""
    batch = recipe.optim.batch_size
    if batch % world_size:
        raise RecipeError(
            f"optim.batch_size {batch} is not divisible by the {world_size} ranks; give a multiple of {world_size}"
        )
    if batch // world_size < 2 and not recipe.run.sync_batchnorm:
        raise RecipeError(
            f"optim.batch_size {batch} over {world_size} ranks is one image a rank, and BatchNorm needs two without "
            "run.sync_batchnorm: give a larger optim.batch_size, or set run.sync_batchnorm: true"
        )


def _check_training_item(dataset: Dataset, where: str) -> None:
    """Item 0 of a dataset given to `train` is (image, label), the image a uint8 tensor (C, H, W) of 1 or 3
    channels, as the recipe's datasets give them (an image that does not decode is a skip, not checked here)."""
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):  # a generator, an IterableDataset
        raise DataError(f"{where}: not a map-style dataset (len() and dataset[i]): train draws its items by index")
    if len(dataset) == 0:
        raise DataError(f"{where}: the dataset is empty")
    try:
        item = dataset[0]
    except DataError:
        return
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        length = f" of {len(item)}" if isinstance(item, (tuple, list)) else ""
        got = f"a {type_name(item)}{length}"
    elif not isinstance(item[0], torch.Tensor):
        got = f"a {type_name(item[0])} image"
    elif item[0].dtype != torch.uint8 or item[0].ndim != 3 or item[0].shape[0] not in (1, 3):
        got = f"a {item[0].dtype} image of shape {tuple(item[0].shape)}"
    else:
        return
    raise DataError(
        f"{where}: item 0 is {got}; train needs (image, label) items, each image a uint8 tensor (C, H, W) "
        "with 1 or 3 channels"
    )


def _steps_to_horizon(run: _Pretraining, *, max_steps: int | None, deadline: float | None, fit: bool) -> int:
    """The run's steps to its horizon (or `max_steps`), or until `deadline`; with `fit`, epoch by epoch, the horizon
    re-fitted after each to the steps the pace measured since this call fits before the deadline."""
    last = math.inf if max_steps is None else max_steps
    past = run.deadline_check(deadline)
    if not fit:
        return run_steps(run, start_step=run.step, stop_step=min(run.total_steps, last), stop_after=past)
    assert deadline is not None
    started, first_step, step = time.monotonic(), run.step, run.step
    while True:
        epoch_end = (step // run.steps_per_epoch + 1) * run.steps_per_epoch
        step = run_steps(run, start_step=step, stop_step=min(run.total_steps, last, epoch_end), stop_after=past)
        now = time.monotonic()
        if step >= min(run.total_steps, last) or now > deadline:
            return step
        pace = (now - started) / (step - first_step)
        run.fit_horizon(step + max(1, int((deadline - now) / pace)))


class _Pretraining:
    """One SimSiam run on the engine: the model (resumed, wrapped for DDP and compile), its seeded views, and what
    each step and epoch records (per-step loss and z-std, the kNN monitor, checkpoints, TensorBoard)."""

    def __init__(
        self,
        recipe: Recipe,
        model: SimSiam,
        output_dir: Path,
        dataset: Dataset,
        context: Any,
        device: torch.device,
        *,
        strict: bool,
        max_steps: int | None = None,
        records: dict[str, Any] | None = None,
    ):
        self.recipe, self.output_dir, self.dataset = recipe, output_dir, dataset
        records = records or _data_records(dataset)
        self.context, self.device = context, device
        self.checkpoint_path = output_dir / CHECKPOINT_NAME
        self.monitor_split = knn_monitor_split(recipe, dataset, strict=strict)
        self.optimizer = recipe_optimizer(model, recipe)
        # The checkpoint's records: the epochs' rows, the logged steps, the epoch's running sums (and the horizon).
        self.step, self.state = self._resumed(model, records)
        # The epoch's running sums of loss and z-std, on the device; the checkpoint holds them as floats.
        *sums, self.epoch_steps = self.state.pop("epoch_sums")
        self.epoch_sums = torch.tensor(sums, dtype=torch.float64, device=device)
        if recipe.run.sync_batchnorm and context.enabled:
            model = convert_sync_batchnorm(model, device)  # the same parameters, so the optimizer still owns them
        self.memory_format = torch.channels_last if recipe.run.channels_last else torch.contiguous_format
        self.core: SimSiam = model.to(device, memory_format=self.memory_format)
        _optimizer_to(self.optimizer, device)
        self.forward: nn.Module = DistributedDataParallel(self.core) if context.enabled else self.core
        if recipe.run.compile:
            self.forward = torch.compile(self.forward)
        self.per_rank_batch = recipe.optim.batch_size // context.world_size  # divisible: `_check_batch_split`
        data = recipe.data
        self.views = PretrainingViews(recipe, dataset, device, strict=strict)
        self.stretches = dataset_stretches(dataset, context.world_size) if data.shuffle == "local" else None
        self.steps_per_epoch = EpochSampler(
            len(dataset),
            batch_size=self.per_rank_batch,
            seed=0,
            epoch=0,
            world_size=context.world_size,
            stretches=self.stretches,
        ).batches_per_epoch
        # The schedule's horizon: the recipe's epochs, unless the run was fitted to a deadline (`fit_horizon`); a
        # checkpoint written before runs could be fitted has none.
        self.total_steps = self.state.pop("horizon", recipe.optim.epochs * self.steps_per_epoch)
        _check_epoch_length(self.checkpoint_path, self.state.pop("steps_per_epoch", None), self.steps_per_epoch)
        steps_left = self.step < min(self.total_steps, max_steps or self.total_steps)
        self.writer = main_only(context, lambda: _run_outputs(recipe, output_dir, steps_left=steps_left))
        if self.step:  # a kill between the checkpoint and its tables left them a step behind
            main_only(context, self._write_tables)
        # metrics.csv's seconds count the run's training time over its invocations (they restarted at a resume); a
        # checkpoint written before it held them counts from the resume.
        earlier = self.state.pop("seconds", 0.0)
        valid = isinstance(earlier, (int, float)) and math.isfinite(earlier) and earlier >= 0
        self.started = time.monotonic() - (earlier if valid else 0.0)
        self.bar: Any = None

    def _resumed(self, model: SimSiam, records: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`_resume` on every rank, a refusal on one raised on all; the ranks must find one checkpoint (a node's own
        disk at the run's path held none: its ranks started from step 0 beside rank 0's resume)."""
        context = self.context
        resumed = on_every_rank(
            context,
            lambda: _resume(
                self.checkpoint_path,
                self.recipe,
                model,
                self.optimizer,
                dataset=self.dataset,
                data=records,
                ranks=context.enabled,
            ),
        )
        check_same_resume(context, resumed[0], where=self.output_dir, folder="a folder")
        return resumed

    def monitor_epoch_zero(self) -> None:
        if self.step == 0 and not self.state["epochs"] and self.monitor_split is not None:
            # Epoch 0: the recipe's init (each residual branch's last BN zero, nearly constant features), and the
            # baseline the kNN curve has to beat: the same architecture with the standard random init.
            self.state["epochs"] = [
                {
                    **dict.fromkeys(EPOCH_FIELDS, float("nan")),
                    "epoch": 0,
                    "step": 0,
                    "knn_top1": knn_monitor_accuracy(self.core.backbone, self.monitor_split, self.device),
                    "knn_top1_standard_init": _standard_init_knn(self.recipe, self.monitor_split, self.device),
                    "z_std_reference": 1 / math.sqrt(self.recipe.model.dim),
                    "lr": 0.0,
                    "seconds": 0.0,
                }
            ]

    def batches(self, epoch: int, start_batch: int) -> Iterator[Any]:
        context = self.context
        sampler = EpochSampler(
            len(self.dataset),
            batch_size=self.per_rank_batch,
            seed=self.recipe.run.seed,
            epoch=epoch,
            rank=context.rank,
            world_size=context.world_size,
            start_batch=start_batch,
            stretches=self.stretches,
        )
        batches = self.views.dataset.batches(
            sampler,
            batch_size=self.per_rank_batch,
            num_workers=self.recipe.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        return engine.prefetched(batches, self.views.to_device, self.device)

    def lr_at(self, step: int) -> float:
        return learning_rate(self.recipe, step, self.steps_per_epoch, total_steps=self.total_steps)

    def deadline_check(self, deadline: float | None) -> Callable[[int], bool] | None:
        """Whether to stop after a step, `deadline` (`time.monotonic()`) having passed. Ranks, each with its own clock
        and start, agree where the host waits anyway (`syncs_at`), so that they stop at one step."""
        if deadline is None:
            return None
        if not self.context.enabled:
            return lambda step: time.monotonic() > deadline
        return lambda step: self.syncs_at(step) and any_rank(time.monotonic() > deadline, self.context, self.device)

    def fit_horizon(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.bar.total = total_steps
        self.bar.refresh()

    def loss_of(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, SiameseOutput]:
        x1, x2 = (self.views.finish(view).contiguous(memory_format=self.memory_format) for view in batch[:2])
        return recipe_loss(self.forward, self.recipe, x1, x2)

    def advice(self) -> str:
        kept = (
            f"The last good checkpoint is kept in {self.checkpoint_path}"
            if self.checkpoint_path.exists()
            else "No checkpoint had been written yet"
        )
        return f"stopped. {kept}; lower optim.base_lr or check the data."

    def syncs_at(self, step: int) -> bool:
        """The steps whose values the host reads: logged, an epoch's end, a checkpoint."""
        run = self.recipe.run
        return (
            step % run.log_every_steps == 0
            or step % self.steps_per_epoch == 0
            or step % run.checkpoint_every_steps == 0
        )

    def after_step(self, step: int, loss: torch.Tensor, out: SiameseOutput, lr: float) -> None:
        self.step = step
        self.core.update_target(step / self.total_steps)
        # The step's loss and z-std stay on the device (one collective, no host sync) until a logged step reads them;
        # the z-std is the whole batch's, its moments summed over the ranks.
        moments = normalized_moments(out.z1.detach())
        summed = all_reduce_sum(torch.cat([loss.detach().to(moments.dtype).view(1), moments]), self.context)
        values = torch.stack([summed[0] / self.context.world_size, std_from_moments(summed[1:])])
        self.epoch_sums += values.double()
        self.epoch_steps += 1
        self.bar.update(1)
        if step % self.recipe.run.log_every_steps == 0:
            step_loss, step_z_std = values.tolist()
            self.state["steps"].append({"step": step, "loss": step_loss, "z_std": step_z_std, "lr": lr})
            self.bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.4g}")
            if self.writer is not None:
                self.writer.add_scalar("train/loss", step_loss, step)
                self.writer.add_scalar("train/lr", lr, step)
        if step % self.steps_per_epoch == 0:
            self._end_epoch(lr)
            self.checkpoint()
        elif step % self.recipe.run.checkpoint_every_steps == 0:
            self.checkpoint()

    def _end_epoch(self, lr: float) -> None:
        (loss_sum, std_sum), count = self.epoch_sums.tolist(), self.epoch_steps
        split = self.monitor_split
        row = {
            "epoch": self.step // self.steps_per_epoch,
            "step": self.step,
            "loss": loss_sum / count,
            "z_std": std_sum / count,
            "z_std_reference": 1 / math.sqrt(self.recipe.model.dim),
            "knn_top1": knn_monitor_accuracy(self.core.backbone, split, self.device) if split else float("nan"),
            "lr": lr,
            "seconds": time.monotonic() - self.started,
        }
        self.state["epochs"] = [*self.state["epochs"], row]
        self.epoch_sums.zero_()
        self.epoch_steps = 0
        if self.writer is not None:
            for key in ("loss", "z_std", "knn_top1"):
                self.writer.add_scalar(f"epoch/{key}", row[key], row["epoch"])

    def checkpoint(self) -> None:
        # By rank 0, its failure raised on every rank (a full disk: the others died in gloo's traceback).
        main_only(self.context, self._save_checkpoint)

    def _save_checkpoint(self) -> None:
        records = {
            **self.state,
            "epoch_sums": [*self.epoch_sums.tolist(), self.epoch_steps],
            "horizon": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "seconds": time.monotonic() - self.started,
        }
        TrainingCheckpoint(
            "pretraining",
            self.recipe.to_dict(),
            self.step,
            self.core.state_dict(),
            self.optimizer.state_dict(),
            records,
        ).save(self.checkpoint_path)
        self._write_tables()

    def _write_tables(self) -> None:
        """metrics.csv and steps.csv, from the records the checkpoint holds."""
        _write_csv(self.output_dir / "metrics.csv", self.state["epochs"], EPOCH_FIELDS)
        _write_csv(self.output_dir / "steps.csv", self.state["steps"], STEP_FIELDS)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def _check_limits(*, max_minutes: float | None, max_steps: int | None, fit_to_deadline: bool, progress: bool) -> None:
    """The arguments a notebook gets wrong, said as the CLI says them (NaN minutes ran the whole schedule, -1 one
    step; 1.5 steps ran two)."""
    if max_minutes is not None and not (is_real(max_minutes) and max_minutes >= 0):
        raise ValueError(f"max_minutes must be a number of minutes >= 0, got {max_minutes!r}")
    if max_steps is not None and not (is_int(max_steps) and max_steps >= 1):
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    check_bool("progress", progress)  # "no" showed the bars
    if fit_to_deadline and max_minutes is None:
        raise ValueError("fit_to_deadline needs max_minutes, the deadline to fit the schedule to")


def _resume(
    path: Path,
    recipe: Recipe,
    model: SimSiam,
    optimizer: torch.optim.Optimizer,
    *,
    dataset: Dataset,
    data: dict[str, Any],
    ranks: bool,
) -> tuple[int, dict[str, Any]]:
    """The step and records of the run's checkpoint, its model and optimizer state loaded (step 0 and empty records
    without one), `data` (`dataset`'s `_data_records`) and where data.path leads (`_data_place`) among them; a
    RecipeError naming it when it cannot continue this run on `dataset`."""
    # Under torchrun (`ranks`) each node may read its own copy at the path: every rank compares the path as given.
    place = None if ranks else _data_place(recipe.data.path)
    place_record = {"data_place": place} if place is not None else {}
    if not path.exists():
        return 0, {"epochs": [], "steps": [], "epoch_sums": [0.0, 0.0, 0], **data, **place_record}
    try:
        saved = read_training_checkpoint(path, kind="pretraining")
    except ConversionError as error:  # a truncated or foreign file, named: say so and stop, keep it for inspection
        raise RecipeError(f"{error} (cannot resume from it)") from None
    _check_same_recipe(path, saved, recipe, place=place)
    _check_records(path, saved.step, saved.records, data=data, dataset=dataset)
    not_finite = non_finite_keys(saved.model)
    if not_finite:  # a checkpoint of an earlier version, which saved such weights (only the loss was checked)
        raise RecipeError(
            f"{path}: its weights are not finite (NaN or inf) in {not_finite}; the run diverged "
            "before this checkpoint: cannot resume from it (train again into a new output folder)"
        )
    try:
        model.load_state_dict(saved.model)
    except RuntimeError as error:  # an edited file: keys or shapes that are not the recipe's model
        raise RecipeError(f"{path}: cannot resume: its model is not the recipe's ({squeezed(error)})") from None
    try:
        optimizer.load_state_dict(saved.optimizer)
    except (ValueError, KeyError, TypeError, RuntimeError) as error:  # LARS before BN and biases had own groups
        raise RecipeError(
            f"{path}: the optimizer state does not fit this version's parameter groups ({squeezed(error)}); "
            "use a new output folder"
        ) from None
    # An earlier version's digest of the data, which `images_sha256` replaces.
    records = {key: value for key, value in saved.records.items() if key != "data_sha256"}
    return saved.step, {**records, **data, **place_record}


def _check_same_recipe(path: Path, saved: Any, recipe: Recipe, *, place: str | None) -> None:
    """A RecipeError naming the keys where `recipe` is not the checkpoint's; data.path compared as the place it led
    to when the run began (`place` against the checkpoint's record, where both are known)."""
    saved_recipe = recipe_from_dict(saved.run, where=str(path))
    recorded = saved.records.get("data_place")
    if isinstance(recorded, str) and place is not None and saved_recipe.data.path is not None:
        saved_recipe = saved_recipe.replace({"data.path": recorded})
        recipe = recipe.replace({"data.path": place})
    if differences := recipe_differences(saved_recipe, recipe):
        changed = listed(differences, limit=3, separator="; ")
        raise RecipeError(
            f"{path}: the checkpoint was trained with a different recipe ({changed}); "
            "use a new output folder or the same recipe"
        )


def _data_place(path: str | None) -> str | None:
    """Where data.path leads from this working folder, as a resume compares it: the real path of a folder, file or
    shard pattern (`data/` typed in another folder is other data), a named dataset as named (a folder of its name
    here is not what it reads)."""
    return path if path is None or is_named_source(path) else os.path.realpath(path)


def _data_records(dataset: Dataset) -> dict[str, Any]:
    """What a checkpoint records of the data it trained on: the number of images, and a digest of their names and
    labels (not file times: data copied anew to the same place, as to a node's disk for each job, is the same; nor
    files beside them that are no image, which training leaves out)."""
    return {"num_images": len(dataset), "images_sha256": images_fingerprint(dataset)}


def _trained_on_other_images(records: dict[str, Any], data: dict[str, Any], dataset: Dataset) -> bool:
    """Whether the checkpoint's digest of its images differs from `data`'s. A checkpoint of an earlier version
    holds the digest of the whole listing (`data_sha256`, non-image entries included), so it is compared with that;
    one older still holds none."""
    if "images_sha256" in records:
        return records["images_sha256"] != data["images_sha256"]
    if "data_sha256" in records:
        return records["data_sha256"] != dataset_fingerprint(dataset, file_stats=False)
    return False


def _check_records(path: Path, step: int, records: dict[str, Any], *, data: dict[str, Any], dataset: Dataset) -> None:
    """The loop's records as it writes them, and the data the run trained on: images added since made the epochs
    longer under the old schedule, others in their place trained on what the run never saw, a resume that was no
    continuation of the run. Checkpoints written before a record existed do not check it."""
    sums, horizon = records.get("epoch_sums"), records.get("horizon", step)
    epochs = rows_whole(records.get("epochs"), EPOCH_FIELDS, optional={"knn_top1_standard_init"})
    # z_std joined the step rows later: an earlier version's rows resume, their z_std empty in steps.csv.
    steps = rows_whole(records.get("steps"), STEP_FIELDS, optional={"z_std"})
    if not (epochs and steps and _sums_whole(sums)):
        raise RecipeError(f"{path}: cannot resume: corrupt checkpoint (its epochs, steps or epoch sums)")
    if not is_int(horizon) or not 0 <= step <= horizon:
        raise RecipeError(f"{path}: cannot resume: corrupt checkpoint (step {step} of a horizon of {horizon!r})")
    trained_on = records.get("num_images", data["num_images"])
    if not is_int(trained_on):
        raise RecipeError(f"{path}: cannot resume: corrupt checkpoint (a count of {trained_on!r} images)")
    if trained_on != data["num_images"]:
        raise RecipeError(
            f"{path}: the run trained on {trained_on} images and the data now has {data['num_images']}; resume it "
            "with the same data, or use a new output folder"
        )
    if _trained_on_other_images(records, data, dataset):
        raise RecipeError(
            f"{path}: the run trained on other images (their names or labels differ from the data's now); resume "
            "it with the same data, or use a new output folder"
        )


def _sums_whole(sums: Any) -> bool:
    """The epoch's running sums as the loop writes them: the loss's and z-std's, then its count of steps."""
    return isinstance(sums, list) and len(sums) == 3 and all(map(is_real, sums[:2])) and is_int(sums[2])


def _optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for param_state in optimizer.state.values():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                param_state[key] = value.to(device)


def _run_outputs(recipe: Recipe, output_dir: Path, *, steps_left: bool) -> Any:
    """The run's recipe.yaml written, and its TensorBoard writer where this invocation has steps to take: each writer
    makes an event file, and every rerun of a finished run (or one at its `max_steps`) left an empty one. Opened
    here, not at the first scalar, so that a failure to open it is every rank's error before any step
    (`main_only`)."""
    recipe.save(output_dir / RECIPE_NAME)
    return _tensorboard(output_dir) if steps_left else None


def _check_epoch_length(path: Path, saved: Any, steps_per_epoch: int) -> None:
    """A resume's epochs are as long as the checkpoint's (which records it from this version on): under
    `data.shuffle: local` the length depends on the number of processes, and a resume on another number mixed
    two lengths in one schedule (an epoch's row missing, steps past the last recorded)."""
    if saved is not None and saved != steps_per_epoch:
        raise RecipeError(
            f"{path}: the run's epochs are {saved} steps, this launch's {steps_per_epoch} (data.shuffle: local "
            "splits the data by process): resume it with the number of processes it was trained with"
        )


def _tensorboard(output_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(output_dir / "tensorboard"))
