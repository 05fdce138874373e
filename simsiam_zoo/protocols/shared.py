"""What every protocol that trains shares: the model loaded as the run says, a head trained by `finetune`
(checkpointed under the run's folder), and the result record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from simsiam_zoo._io import check_work_folder
from simsiam_zoo.arguments import check_instance
from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.distributed import device_named, init_distributed, main_first
from simsiam_zoo.finetune import (
    FinetuneResult,
    finetune,
)
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions, Schedule
from simsiam_zoo.protocols.splits import Splits, check_data_arg

ModelArg = str | Path | LoadedBackbone


# The protocols' default schedules: the paper's linear protocol (90 epochs, batch 4096, LARS, base_lr 0.02) and
# fine-tuning for the others (30 epochs, batch 256 or less on small sets, SGD, lr 0.1).
LINEAR_PROTOCOL_SCHEDULE = LinearProtocolSchedule()


FINETUNE_SCHEDULE = Schedule()


def check_arguments(*data: object, schedule: object, run: object, schedule_kind: type = Schedule) -> None:
    """The data arguments and typed options by their types, before any work: None or a dict as options failed
    after loading the model, naming a field; None as data in Path()."""
    check_instance("schedule", schedule, schedule_kind)
    check_instance("run", run, RunOptions)
    for each in data:
        check_data_arg(each)


def load_model(model: ModelArg, run: RunOptions) -> LoadedBackbone:
    if isinstance(model, LoadedBackbone):
        return model
    context = init_distributed(device_named(run.device))  # under torchrun rank 0 fills the cache first
    return main_first(context, lambda: load_backbone(model, hub_dir=run.hub_dir))


def local_paths(*args: Any) -> list[str | Path]:
    """The arguments (or pair members) that name files or folders, for the output checks."""
    items = [item for arg in args for item in (arg if isinstance(arg, (tuple, list)) else (arg,))]
    return [item for item in items if isinstance(item, (str, Path))]


def check_checkpoint_dir(run: RunOptions, *inputs: Any) -> None:
    """`run.checkpoint_dir`, checked before anything trains: a folder (or a path for one), outside the model and
    the data (`inputs`, the protocol's arguments) -> OutputRefused."""
    if run.checkpoint_dir is not None:
        check_work_folder(run.checkpoint_dir, option="--checkpoint-dir", inputs=local_paths(*inputs))


def checkpoint_path(run: RunOptions, name: str) -> Path | None:
    """`run.checkpoint_dir`/NAME.pt, or None (the folder checked by `check_checkpoint_dir`)."""
    return None if run.checkpoint_dir is None else Path(run.checkpoint_dir) / f"{name}.pt"


def train_head(
    loaded: LoadedBackbone,
    splits: Splits,
    train: Dataset,
    *,
    schedule: Schedule,
    frozen_backbone: bool,
    run: RunOptions,
    name: str,
) -> FinetuneResult:
    """`finetune` on `train` (all or part of `splits.train`), tested on `splits.test`; checkpointed to
    `run.checkpoint_dir`/NAME.pt when there is one, so that the same call resumes."""
    checkpoint = checkpoint_path(run, name)
    return finetune(
        loaded.model,
        train,
        splits.test,
        num_classes=len(splits.classes),
        preprocessing=loaded.preprocessing,
        schedule=schedule,
        frozen_backbone=frozen_backbone,
        run=run,
        checkpoint=checkpoint,
    )


def result_record(
    evaluation: str, loaded: LoadedBackbone, splits: Splits, schedule: Schedule, run: RunOptions, **fields: Any
) -> dict[str, Any]:
    """A protocol's result: what it trained (model, data and its sizes), how (the schedule, seed and batch order),
    then `fields`, its own (the batch size actually used, top-1, history, ...)."""
    return {
        "evaluation": evaluation,
        "model": loaded.source,
        "arch": loaded.arch,
        "data": splits.name,
        "num_train": len(splits.train),
        "num_test": len(splits.test),
        "num_classes": len(splits.classes),
        "epochs": schedule.epochs,
        "lr": schedule.lr,
        "weight_decay": schedule.weight_decay,
        "optimizer": schedule.optimizer,
        "seed": run.seed,
        "shuffle": run.shuffle,
        **fields,
    }
