"""The paper's linear protocol: a linear classifier on the frozen backbone."""

from __future__ import annotations

from typing import Any

from simsiam_zoo.distributed import launched_world_size
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions
from simsiam_zoo.protocols.shared import (
    LINEAR_PROTOCOL_SCHEDULE,
    ModelArg,
    check_arguments,
    check_checkpoint_dir,
    load_model,
    result_record,
    train_head,
)
from simsiam_zoo.protocols.splits import DataArg, labelled_splits


def linear_protocol(
    model_name_or_path: ModelArg,
    data: DataArg,
    *,
    schedule: LinearProtocolSchedule = LINEAR_PROTOCOL_SCHEDULE,
    run: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """The paper's linear evaluation: a linear `fc` on the frozen backbone (BN in eval mode), by default LARS,
    lr = `schedule.base_lr` x batch / 256, cosine, RandomResizedCrop + flip.

    Raises RuntimeError if any backbone weight or buffer changed. The batch is capped at the train set size
    and the lr scaled with the batch actually used.
    """
    check_arguments(data, schedule=schedule, run=run, schedule_kind=LinearProtocolSchedule)
    check_checkpoint_dir(run, model_name_or_path, data)
    loaded = load_model(model_name_or_path, run)
    splits = labelled_splits(data, run)
    used = schedule.at_batch(_capped_batch(schedule.batch_size, len(splits.train)))
    result = train_head(
        loaded, splits, splits.train, schedule=used, frozen_backbone=True, run=run, name="linear_protocol"
    )
    return result_record(
        "linear_protocol",
        loaded,
        splits,
        used,
        run,
        batch_size=used.batch_size,
        base_lr=schedule.base_lr,
        top1=result.top1,
        history=result.history,
    )


def _capped_batch(batch_size: int, num_train: int) -> int:
    """The batch, capped at the train set size; a capped one a multiple of the ranks, as fine-tuning's (the default
    4096 capped at 23 images was refused under 2 ranks as a --batch-size not divisible by them)."""
    if num_train >= batch_size:
        return batch_size
    ranks = launched_world_size()
    return num_train // ranks * ranks or num_train
