"""A fine-tuned classifier (or a linear head on the frozen backbone) saved as a timm folder."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simsiam_zoo.arguments import check_bool
from simsiam_zoo.checkpoint import RECIPE_NAME
from simsiam_zoo.distributed import device_named, init_distributed, main_only
from simsiam_zoo.errors import OutputRefused
from simsiam_zoo.export import check_model_name
from simsiam_zoo.finetune import ClassifierCard, classifier_license, save_classifier
from simsiam_zoo.hub.folder import FULL_MODEL_NAME, check_hub_output
from simsiam_zoo.options import RunOptions, Schedule
from simsiam_zoo.protocols.shared import (
    FINETUNE_SCHEDULE,
    ModelArg,
    check_arguments,
    check_checkpoint_dir,
    load_model,
    local_paths,
    result_record,
    train_head,
)
from simsiam_zoo.protocols.splits import DataArg, labelled_splits


def _check_classifier_output(
    out_dir: str | Path,
    *,
    model: ModelArg,
    inputs: Sequence[str | Path],
    run: RunOptions,
    overwrite: bool,
    card_name: str | None,
) -> None:
    """The classifier folder may be written (never over the model or data, nor inside the model's folder), holds
    no checkpoint folder, and `card_name` is a name to give it."""
    if card_name is not None:  # as export checks its --name: the card and config name the model by it
        check_model_name(card_name)
    check_hub_output(out_dir, inputs=inputs, models=local_paths(model), overwrite=overwrite)
    # An export's or convert's folder is a hub folder too: replaced by a classifier, its backbone (and an
    # export's projector and predictor) were gone.
    if not overwrite and (backbone := _backbone_in(Path(out_dir))):
        raise OutputRefused(
            f"{out_dir}: holds a pretrained backbone ({backbone}), which the classifier folder would replace; "
            "choose another folder (or pass --overwrite to replace it)"
        )
    check_checkpoint_dir(run, *inputs)
    if run.checkpoint_dir is not None:
        folder, checkpoints = Path(out_dir).resolve(), Path(run.checkpoint_dir).resolve()
        if checkpoints == folder or folder in checkpoints.parents:
            raise OutputRefused(
                f"{out_dir}: --checkpoint-dir {run.checkpoint_dir} lies in the classifier folder, "
                "which holds only the classifier; choose a checkpoint folder outside it"
            )


def _backbone_in(folder: Path) -> str:
    """What names `folder` as a pretrained backbone's (an export's files, or a config of no classes), or ''."""
    exported = [name for name in (FULL_MODEL_NAME, RECIPE_NAME) if (folder / name).exists()]
    if exported:
        return ", ".join(exported)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return ""
    return "config.json: num_classes 0" if isinstance(config, dict) and config.get("num_classes") == 0 else ""


def _summary(schedule: Schedule, batch_size: int, run: RunOptions, *, frozen_backbone: bool) -> str:
    how = "linear head on the frozen backbone" if frozen_backbone else "fine-tuned end to end"
    return f"{how}, {schedule.epochs} epochs, batch {batch_size}, {_schedule_text(schedule)}, seed {run.seed}"


def _schedule_text(schedule: Schedule) -> str:
    return f"{schedule.optimizer.upper()} lr {schedule.lr:g} cosine, weight decay {schedule.weight_decay:g}"


def finetune_classifier(
    model: ModelArg,
    data: DataArg,
    out_dir: str | Path,
    *,
    schedule: Schedule = FINETUNE_SCHEDULE,
    frozen_backbone: bool = False,
    card_name: str | None = None,
    license: Mapping[str, str] | None = None,
    run: RunOptions = RunOptions(),
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fine-tune `model` on `data` (or train a linear head, `frozen_backbone`) and save it as a timm classifier
    folder `out_dir`, with the result (the test top-1 and the per-epoch history) in it as finetune.json.

    The card's licence is `license`, its fields as `hub.cards.license_metadata` makes them, by default the
    backbone's. `out_dir` and the licence are checked first: never the model or the data, nor a folder of the
    user's own files unless `overwrite`."""
    check_arguments(data, schedule=schedule, run=run)
    check_bool("frozen_backbone", frozen_backbone)
    inputs = local_paths(model, data)
    _check_classifier_output(out_dir, model=model, inputs=inputs, run=run, overwrite=overwrite, card_name=card_name)
    loaded = load_model(model, run)
    fields = classifier_license(loaded, license)  # the backbone's, when inherited, checked before any training
    splits = labelled_splits(data, run)
    result = train_head(
        loaded, splits, splits.train, schedule=schedule, frozen_backbone=frozen_backbone, run=run, name="finetune"
    )
    record = result_record(
        "finetune",
        loaded,
        splits,
        schedule,
        run,
        batch_size=result.batch_size,
        out=str(Path(out_dir)),
        frozen_backbone=frozen_backbone,
        top1=result.top1,
        history=result.history,
    )
    # Under torchrun every rank holds the same model: rank 0 writes it, its failure raised on every rank (a full
    # disk was rank 0's exit 6 beside the others' exit 0).
    card = ClassifierCard(
        name=card_name or f"{loaded.arch}.finetuned",
        data_name=splits.name,
        class_names=splits.classes,
        schedule_summary=_summary(schedule, result.batch_size, run, frozen_backbone=frozen_backbone),
        license=fields,
    )
    result_json = json.dumps(record, indent=2) + "\n"
    main_only(
        init_distributed(device_named(run.device)),
        lambda: save_classifier(
            result, out_dir, backbone=loaded, card=card, result_json=result_json, inputs=inputs, overwrite=overwrite
        ),
    )
    return record
