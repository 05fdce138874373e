"""What every protocol that trains shares: the model loaded as the run says, a head trained by `finetune`
(checkpointed under the run's folder), and the result record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.distributed import init_distributed, main_first
from simsiam_zoo.errors import DataError
from simsiam_zoo.finetune import (
    FinetuneResult,
    finetune,
)
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions, Schedule
from simsiam_zoo.protocols.splits import Splits

ModelArg = str | Path | LoadedBackbone


# The protocols' default schedules: the paper's linear protocol (90 epochs, batch 4096, LARS, base_lr 0.02) and
# fine-tuning for the others (30 epochs, batch 256 or less on small sets, SGD, lr 0.1).
LINEAR_PROTOCOL_SCHEDULE = LinearProtocolSchedule()


FINETUNE_SCHEDULE = Schedule()


def load_model(model: ModelArg, run: RunOptions) -> LoadedBackbone:
    if isinstance(model, LoadedBackbone):
        return model
    with main_first(init_distributed(torch.device(run.device))):  # under torchrun rank 0 fills the cache first
        return load_backbone(model, hub_dir=run.hub_dir)


def checkpoint_path(run: RunOptions, name: str) -> Path | None:
    """`run.checkpoint_dir`/NAME.pt, or None; a checkpoint folder that is a file is refused (DataError)."""
    if run.checkpoint_dir is None:
        return None
    folder = Path(run.checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: --checkpoint-dir is a file, not a folder")
    return folder / f"{name}.pt"


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
