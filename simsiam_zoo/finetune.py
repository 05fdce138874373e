"""Train a linear head on a backbone, frozen (the paper's linear protocol) or with it (fine-tuning).

The result is one timm model: the backbone with a new `fc` (`reset_classifier`), which `save_classifier`
writes as a hub folder that `timm.create_model("local-dir:OUT", pretrained=True)` loads as a classifier.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from simsiam_zoo.arguments import check_bool
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.checkpoint import TrainingCheckpoint, read_training_checkpoint
from simsiam_zoo.data import EpochSampler, Transformed, dataset_fingerprint, dataset_stretches
from simsiam_zoo.digests import weights_sha256
from simsiam_zoo.distributed import (
    DistributedContext,
    all_outcomes,
    all_reduce_mean,
    check_same_on_every_rank,
    check_same_resume,
    convert_sync_batchnorm,
    device_named,
    init_distributed,
    job_options,
    local_device,
    main_only,
    on_every_rank,
)
from simsiam_zoo.engine import Augmented, build_optimizer, cosine_lr, rows_whole, run_steps
from simsiam_zoo.errors import DataError, HubFolderError, SimsiamZooError, squeezed
from simsiam_zoo.hub.cards import PROJECT_URL, CardFields, license_metadata, render_card, shown_on_a_card
from simsiam_zoo.hub.folder import timm_config, write_hub_folder
from simsiam_zoo.model import pooled_width, seeded
from simsiam_zoo.options import RunOptions, Schedule, check_class_count
from simsiam_zoo.zoo import Result

# Frozen-backbone evaluation is inference only, but 4096 full-size images at once would not fit most devices.
EVAL_BATCH_SIZE = 256
# The progress bar's loss is read (a host sync) every this many steps, not every step.
BAR_EVERY_STEPS = 10
# A row of `FinetuneResult.history`, an epoch of fine-tuning.
HISTORY_FIELDS = ("epoch", "loss", "lr", "val_top1", "seconds")


@dataclass
class FinetuneResult:
    model: nn.Module  # the timm model with its trained `fc`, in eval mode
    top1: float | None  # val top-1 (%) after the last epoch; None when `max_steps` stopped the run in its first
    history: list[dict[str, float]]  # per epoch: loss, lr, val_top1, seconds
    num_train: int
    num_val: int
    batch_size: int  # the batch trained with (`Schedule.batch_for`)
    frozen_backbone: bool = False  # a linear head on the frozen backbone, else fine-tuned end to end


def train_transform(preprocessing: Preprocessing) -> v2.Compose:
    """RandomResizedCrop to the input size + flip (the linear / fine-tune protocol), then normalise."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(preprocessing.input_size[-1], antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(preprocessing.mean), std=list(preprocessing.std)),
        ]
    )


def classifier_prefix(model: nn.Module) -> str:
    """State-dict prefix of the model's classifier (`fc.` for ResNets)."""
    head = model.get_classifier()
    return next(name for name, module in model.named_modules() if module is head) + "."


@torch.no_grad()
def evaluate_top1(
    model: nn.Module,
    dataset: Dataset,
    transform: Callable[[torch.Tensor], torch.Tensor],
    *,
    device: torch.device,
    batch_size: int = EVAL_BATCH_SIZE,
    num_workers: int = 0,
    context: DistributedContext = DistributedContext(),
) -> float:
    """Top-1 (%) of `model` on (uint8 image, label) pairs through the eval `transform`; leaves `model` in eval mode.
    With several ranks each scores every world_size-th image and the counts (not the means) are summed."""
    model.eval()
    mine = Subset(dataset, range(context.rank, len(dataset), context.world_size))
    loader = DataLoader(
        Transformed(mine, transform),
        batch_size=batch_size,
        num_workers=num_workers,
        generator=torch.Generator(),  # the workers' base seed: drawn from its own, not the caller's generator
    )
    num_classes = model.num_classes  # timm's

    def counted() -> tuple[int, int]:  # (correct, total) of this rank's share
        correct = total = 0
        for images, labels in loader:
            check_label_range(labels, num_classes, "the validation set")  # one out of range scored 0%, in silence
            logits = model(images.to(device))
            correct += int((logits.argmax(dim=1).cpu() == torch.as_tensor(labels)).sum())
            total += len(labels)
        return correct, total

    # Gathered as outcomes: an image that fails on one rank is its error on every rank (the others died in the
    # all-reduce with gloo's traceback).
    correct, total = (sum(column) for column in zip(*all_outcomes(context, counted), strict=True))
    return 100.0 * correct / total


def check_label_range(labels: torch.Tensor, num_classes: int, where: str) -> None:
    """A batch's labels are class indices below `num_classes`, checked on the host before they travel (torch's
    error came mid-run: on CUDA a device-side assert)."""
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise DataError(f"{where}: labels must be whole numbers (class indices), got {labels.dtype}")
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        low, high = int(labels.min()), int(labels.max())
        raise DataError(f"{where}: a label of {low if low < 0 else high}; the classes are 0 to {num_classes - 1}")


# Gradients whatever the caller's mode: under a notebook's `no_grad` or `inference_mode` (whose tensors autograd
# cannot save) the first step failed in torch, after the run had claimed its folder.
@torch.inference_mode(False)
@torch.enable_grad()
def finetune(
    backbone: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    *,
    num_classes: int,
    preprocessing: Preprocessing,
    schedule: Schedule,
    frozen_backbone: bool,
    run: RunOptions = RunOptions(),
    checkpoint: str | Path | None = None,
    max_steps: int | None = None,
) -> FinetuneResult:
    """Train `backbone` (a timm model, left untouched: a copy is trained) plus a new linear `fc`.

    `frozen_backbone=True` is the paper's linear protocol: the backbone stays in eval mode (BN uses its
    running statistics) without gradients, only `fc` is trained, and a RuntimeError is raised if any
    backbone weight or buffer changed anyway. Otherwise the whole network is fine-tuned (BN in train mode).
    `fc` starts at N(0, 0.01) with zero bias (official main_lincls.py); the lr follows a per-step cosine from
    `schedule.lr` to 0. Batches are `schedule.batch_for(len(train_set))` images, the remainder of each
    shuffled epoch dropped (a 1-image batch breaks BN); augmentation and order are seeded, so a CPU run is
    reproducible. `run` gives the device, seed, decoding workers, progress bar, `strict` decoding and the batch
    order under several ranks (its limits, hub and checkpoint folders are the protocols', not used here).

    `checkpoint`: a file the run is saved to after each epoch and when `max_steps` (a global step count) ends
    it early; the same call again resumes from it and ends with the parameters of a run never stopped (a finished
    run returns at once). A checkpoint of another run (data sizes, schedule, seed, shuffling, backbone weights) is
    refused. Under torchrun (or in a process group) the ranks share each batch, as pretraining's do; with
    `run.shuffle="local"` each rank draws its share from its own stretch of `train_set` instead (`data.EpochSampler`).
    """
    _check_arguments(train_set, val_set, num_classes=num_classes, frozen_backbone=frozen_backbone)
    context = init_distributed(device_named(run.device))
    sizes = (num_classes, len(train_set), len(val_set), frozen_backbone)
    _check_ranks_alike(context, backbone, schedule=schedule, run=run, sizes=sizes)
    device = local_device(run.device, context)
    model = _with_new_head(backbone, num_classes, seed=run.seed).to(device)
    reference = _set_trainable(model, frozen_backbone=frozen_backbone)
    training = _Finetuning(
        model,
        train_set,
        val_set,
        preprocessing=preprocessing,
        schedule=schedule,
        frozen_backbone=frozen_backbone,
        run=run,
        device=device,
        context=context,
        checkpoint=None if checkpoint is None else Path(checkpoint),
    )
    training.run(max_steps=max_steps)
    if training.model is not model:  # trained with synchronised BatchNorm: the result keeps the backbone's modules
        model.load_state_dict(training.model.state_dict())
    _check_unchanged(model, reference)
    model.eval()
    top1 = training.history[-1]["val_top1"] if training.history else None
    return FinetuneResult(
        model, top1, training.history, len(train_set), len(val_set), training.batch, frozen_backbone=frozen_backbone
    )


def _check_ranks_alike(
    context: DistributedContext, backbone: nn.Module, *, schedule: Schedule, run: RunOptions, sizes: tuple
) -> None:
    """Every rank launched with rank 0's options, data sizes and backbone weights: another rank's weights were
    trained as rank 0's copy by DDP, and a frozen backbone then "changed"."""
    weights = weights_sha256(backbone) if context.enabled else None
    options = job_options(schedule, prefix="schedule.") | job_options(run, prefix="run.")
    check_same_on_every_rank(context, **options, **{"data (its images or classes)": sizes}, weights=weights)


def _check_arguments(train_set: Dataset, val_set: Dataset, *, num_classes: int, frozen_backbone: bool) -> None:
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty dataset: {len(train_set)} train and {len(val_set)} val images")
    check_class_count(num_classes)
    check_bool("frozen_backbone", frozen_backbone)


def _set_trainable(model: nn.Module, *, frozen_backbone: bool) -> dict[str, torch.Tensor]:
    """Every parameter trains, or with `frozen_backbone` only the classifier's; then a copy of every other tensor is
    returned for `_check_unchanged` (else nothing)."""
    head_ids = {id(p) for p in model.get_classifier().parameters()}
    for param in model.parameters():
        param.requires_grad_(not frozen_backbone or id(param) in head_ids)
    if not frozen_backbone:
        return {}
    prefix = classifier_prefix(model)
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith(prefix)}


def _check_unchanged(model: nn.Module, reference: dict[str, torch.Tensor]) -> None:
    """The linear protocol's promise: no backbone tensor of `reference` changed while the head trained."""
    state = model.state_dict()
    changed = next((k for k, v in reference.items() if not torch.equal(state[k], v)), None)
    if changed is not None:
        raise RuntimeError(
            f"linear protocol broken: backbone tensor {changed!r} changed during training "
            "(a BN layer in train mode, or a backbone parameter in the optimiser)"
        )


def _with_new_head(backbone: nn.Module, num_classes: int, *, seed: int) -> nn.Module:
    """A copy of `backbone` with a new `num_classes` classifier: N(0, 0.01) weights, zero bias (main_lincls.py)."""
    model = copy.deepcopy(backbone)
    with torch.random.fork_rng(devices=[]):  # timm's own init of the new head draws, not from the caller's
        model.reset_classifier(num_classes)
    head = model.get_classifier()
    with seeded(seed):
        nn.init.normal_(head.weight, mean=0.0, std=0.01)
    nn.init.zeros_(head.bias)
    return model


def _resume_settings(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    schedule: Schedule,
    run: RunOptions,
    *,
    frozen_backbone: bool,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the data, schedule, seed, batch order and starting weights."""
    return {
        "num_train": len(train_set),
        "num_val": len(val_set),
        "schedule": dataclasses.asdict(schedule),
        "data": [dataset_fingerprint(train_set), dataset_fingerprint(val_set)],
        "frozen_backbone": frozen_backbone,
        "seed": run.seed,
        "shuffle": run.shuffle,
        "weights_sha256": weights_sha256(model),
    }


class _Finetuning:
    """One classifier run on the engine: seeded augmented batches, cross-entropy, the val top-1 after each epoch."""

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        val_set: Dataset,
        *,
        preprocessing: Preprocessing,
        schedule: Schedule,
        frozen_backbone: bool,
        run: RunOptions,
        device: torch.device,
        context: DistributedContext,
        checkpoint: Path | None,
    ):
        self.train_set, self.val_set, self.schedule, self.context = train_set, val_set, schedule, context
        self.checkpoint = checkpoint
        # What a checkpoint must match to be resumed; the weights are hashed only when there is one to match.
        self.settings = (
            None
            if checkpoint is None
            else _resume_settings(model, train_set, val_set, schedule, run, frozen_backbone=frozen_backbone)
        )
        self.frozen_backbone, self.device = frozen_backbone, device
        self.seed, self.num_workers = run.seed, run.num_workers
        self.num_classes = model.num_classes  # timm's: a Conv2d classifier (dla, dpn) has no out_features
        if context.enabled and not frozen_backbone:  # a frozen backbone's BN keeps its running statistics
            model = convert_sync_batchnorm(copy.deepcopy(model), device)
        self.model = model
        self.forward = DistributedDataParallel(model) if context.enabled else model
        self.optimizer = build_optimizer(
            [{"params": [p for p in model.parameters() if p.requires_grad]}],
            kind=schedule.optimizer,
            lr=schedule.lr,
            momentum=schedule.momentum,
            weight_decay=schedule.weight_decay,
        )
        self.batch = _global_batch(schedule, len(train_set), context.world_size)
        self.stretches = dataset_stretches(train_set, context.world_size) if run.shuffle == "local" else None
        self.steps_per_epoch = EpochSampler(
            len(train_set),
            batch_size=self.batch // context.world_size,
            seed=0,
            epoch=0,
            world_size=context.world_size,
            stretches=self.stretches,
        ).batches_per_epoch
        self.total_steps = schedule.epochs * self.steps_per_epoch
        self.augmented = Augmented(train_set, train_transform(preprocessing), seed=run.seed, strict=run.strict)
        self.eval_transform = preprocessing.transform()
        self.history: list[dict[str, float]] = []
        # The epoch's running loss sum, on the device; the checkpoint holds it as a float.
        self.started, self.loss_sum = time.monotonic(), torch.zeros((), dtype=torch.float64, device=device)
        self.bar = tqdm(
            total=self.total_steps,
            disable=not (run.progress and context.is_main),
            unit="step",
            desc="linear" if frozen_backbone else "finetune",
        )

    def run(self, *, max_steps: int | None) -> None:
        # A refusal on one rank is every rank's; so is a checkpoint that only some ranks see (a node's own disk).
        start = on_every_rank(self.context, self.resume)
        check_same_resume(self.context, start, where=self.checkpoint, folder="a --checkpoint-dir")
        stop = self.total_steps if max_steps is None else min(self.total_steps, max_steps)
        self.bar.update(start)
        self.model.train(not self.frozen_backbone)  # eval() keeps BN on its running statistics: a frozen backbone
        try:
            if start and start % self.steps_per_epoch == 0 and len(self.history) < start // self.steps_per_epoch:
                self.end_epoch(start, self.lr_at(start - 1))  # the epoch's validation failed before it was recorded
            step = run_steps(self, start_step=start, stop_step=stop)
            if step > start and step % self.steps_per_epoch:  # stopped inside an epoch (an epoch's end is saved)
                self.save(step)
        finally:
            self.bar.close()

    def advice(self) -> str:
        return "lower the lr"

    def resume(self) -> int:
        """The step the checkpoint holds (0 without one), its state loaded."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return 0
        saved = read_training_checkpoint(self.checkpoint, kind="finetune")
        if saved.run != self.settings:
            raise DataError(
                f"{self.checkpoint}: the checkpoint of another run (other data, schedule, seed, shuffling "
                "or backbone); choose another checkpoint folder or delete it"
            )
        try:  # an edited file: keys or shapes that are not this model's, records missing
            self.model.load_state_dict(saved.model)
            self.optimizer.load_state_dict(saved.optimizer)
            self.history, loss_sum = list(saved.records["history"]), float(saved.records["loss_sum"])
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"{self.checkpoint}: cannot resume: corrupt checkpoint ({squeezed(error)})") from None
        if not rows_whole(self.history, HISTORY_FIELDS) or len(self.history) > saved.step // self.steps_per_epoch:
            raise DataError(f"{self.checkpoint}: cannot resume: corrupt checkpoint (its history of epochs)")
        self.loss_sum.fill_(loss_sum)
        return saved.step

    def save(self, step: int) -> None:
        if self.checkpoint is not None:  # by rank 0, its failure raised on every rank (a full disk)
            main_only(self.context, lambda: self._save(step))

    def _save(self, step: int) -> None:
        records = {"history": self.history, "loss_sum": self.loss_sum.item()}
        TrainingCheckpoint(
            "finetune", self.settings, step, self.model.state_dict(), self.optimizer.state_dict(), records
        ).save(self.checkpoint)

    def batches(self, epoch: int, start_batch: int) -> Iterator[Any]:
        # Global shuffling: global batch b of the one-process order, each rank its slice, the same steps on any
        # number of ranks; local: each rank's batches from its own stretch of the data.
        per_rank, context = self.batch // self.context.world_size, self.context
        sampler = EpochSampler(
            len(self.train_set),
            batch_size=per_rank,
            seed=self.seed,
            epoch=epoch,
            rank=context.rank,
            world_size=context.world_size,
            start_batch=start_batch,
            stretches=self.stretches,
        )
        return self.augmented.batches(
            sampler, batch_size=per_rank, num_workers=self.num_workers, pin_memory=self.device.type == "cuda"
        )

    def lr_at(self, step: int) -> float:
        return cosine_lr(self.schedule.lr, step, self.total_steps)

    def loss_of(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, None]:
        images, labels = batch
        check_label_range(labels, self.num_classes, "the training set")
        images, labels = (t.to(self.device, non_blocking=True) for t in (images, labels))
        return F.cross_entropy(self.forward(images), labels), None

    def syncs_at(self, step: int) -> bool:
        """The steps whose values the host reads: the bar's loss, an epoch's end."""
        return step % BAR_EVERY_STEPS == 0 or step % self.steps_per_epoch == 0

    def after_step(self, step: int, loss: torch.Tensor, _: None, lr: float) -> None:
        # Each rank's mean over an equal share of the batch; summed on the device until a synced step reads it.
        loss = all_reduce_mean(loss, self.context)
        self.loss_sum += loss.double()
        self.bar.update(1)
        if step % BAR_EVERY_STEPS == 0:
            self.bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.4g}")
        if step % self.steps_per_epoch == 0:
            self.save(step)  # the epoch's training, kept should its validation fail (an image that does not decode)
            self.end_epoch(step, lr)

    def end_epoch(self, step: int, lr: float) -> None:
        """Validate the epoch that ends at `step`, record it and save; also on a resume from an epoch whose
        validation failed."""
        top1 = evaluate_top1(
            self.model,
            self.val_set,
            self.eval_transform,
            device=self.device,
            num_workers=self.num_workers,
            batch_size=min(self.batch, EVAL_BATCH_SIZE),
            context=self.context,
        )
        mean_loss = self.loss_sum.item() / self.steps_per_epoch
        row = (step // self.steps_per_epoch, mean_loss, lr, top1, time.monotonic() - self.started)
        self.history.append(dict(zip(HISTORY_FIELDS, row, strict=True)))
        self.loss_sum.zero_()
        self.save(step)
        self.model.train(not self.frozen_backbone)


def _global_batch(schedule: Schedule, num_train: int, world_size: int) -> int:
    """`schedule.batch_for(num_train)`, split evenly between the ranks: the schedule's batch must divide; one
    capped at a small train set is rounded down to a multiple of the ranks."""
    if schedule.batch_size is not None and schedule.batch_size % world_size:  # bad input: one line, not a traceback
        raise SimsiamZooError(
            f"batch size {schedule.batch_size} (--batch-size) is not divisible by the {world_size} ranks; "
            f"give a multiple of {world_size}"
        )
    batch = schedule.batch_for(num_train) // world_size * world_size
    if batch == 0:
        raise DataError(f"{num_train} training images are fewer than the {world_size} ranks")
    return batch


def classifier_license(backbone: LoadedBackbone, license: Mapping[str, str] | None = None) -> dict[str, str]:
    """The card licence fields of a classifier made from `backbone`: `license`, else the backbone's card's, else
    Apache-2.0 (this project's); checked as the card will be (a HubFolderError names a backbone's unusable one)."""
    fields = dict(license or backbone.license or {"license": "apache-2.0"})
    try:
        return license_metadata(fields["license"], name=fields.get("license_name"), link=fields.get("license_link"))
    except HubFolderError as error:
        if license:
            raise
        raise HubFolderError(
            f"{backbone.source}: the licence on its card cannot be passed on ({error}); give the "
            "classifier's licence explicitly (--license)"
        ) from None


def _validation_results(result: FinetuneResult, data_name: str) -> tuple[Result, ...]:
    """The card's Results row: the validation top-1 its summary states (the table said none were recorded)."""
    task = "linear" if result.frozen_backbone else "finetune"
    metric = f"top-1 accuracy (validation, {result.num_val} images)"
    return (Result(task, data_name, metric, round(result.top1, 2), "simsiam-zoo finetune"),)


@dataclass(frozen=True)
class ClassifierCard:
    """What a classifier folder's card says besides its weights: its name (`ARCH.TAG`), the data and classes it
    was trained on, how (`schedule_summary`, a phrase), and its licence (the Hub's fields; None: the backbone's,
    else Apache-2.0, this project's)."""

    name: str
    data_name: str
    class_names: Sequence[str]
    schedule_summary: str
    license: Mapping[str, str] | None = None


def save_classifier(
    result: FinetuneResult,
    out_dir: str | Path,
    *,
    backbone: LoadedBackbone,
    card: ClassifierCard,
    result_json: str | None = None,
    inputs: Sequence[str | Path | None] = (),
    overwrite: bool = False,
) -> Path:
    """Write the fine-tuned model as a timm hub folder (weights with `fc`, config with labels, the `card`, and
    `result_json` as FINETUNE_RESULT_NAME), atomically; `out_dir` is replaced only as `write_hub_folder` allows. A
    backbone published on the Hub becomes the card's `base_model`."""
    model = result.model
    num_classes = model.get_classifier().out_features
    if len(card.class_names) != num_classes:
        raise ValueError(f"{len(card.class_names)} class names for a {num_classes}-class head")
    fields = classifier_license(backbone, card.license)
    config = timm_config(
        model,
        preprocessing=backbone.preprocessing,
        tag=card.name.partition(".")[2] or card.name,
        license=fields["license"],
        label_names=card.class_names,
        origin_url=PROJECT_URL,
        model_args=backbone.model_args,
    )
    return write_hub_folder(
        out_dir,
        backbone_state=model.state_dict(),
        config=config,
        card=_render_classifier_card(result, backbone, card, fields),
        finetune_result=result_json,
        inputs=inputs,
        overwrite=overwrite,
    )


def _render_classifier_card(
    result: FinetuneResult, backbone: LoadedBackbone, card: ClassifierCard, fields: Mapping[str, str]
) -> str:
    """The card's Markdown, its licence `fields` as `classifier_license` made them."""
    data_name = shown_on_a_card(card.data_name)
    return render_card(
        CardFields(
            name=card.name,
            repo_id=None,
            arch=backbone.arch,
            num_features=pooled_width(result.model),
            summary=f"Validation top-1 {result.top1:.2f}% on {result.num_val} images of {data_name}, after "
            f"{len(result.history)} epochs on {result.num_train} images.",
            license=fields["license"],
            license_name=fields.get("license_name"),
            license_link=fields.get("license_link"),
            datasets=[data_name],
            preprocessing=backbone.preprocessing,
            method=None,
            class_names=card.class_names,
            results=_validation_results(result, data_name),
            base_model=backbone.hub_id,
            recipe_summary=f"Trained with simsiam-zoo from the backbone `{shown_on_a_card(backbone.source)}`: "
            f"{card.schedule_summary}.",
        )
    )
