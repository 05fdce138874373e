"""Evaluations that train networks: the paper's linear protocol, semi-supervised fine-tuning, transfer.

Data (`DataArg`): `"fashion_mnist"` (train split to train, test split to evaluate), `"digits"` (sklearn's 8x8
digits, upsampled, see `digits_datasets`), an image-folder root with `train/` and `val/` (or `test/`) class
sub-folders, a `(train, test)` pair of such class folders, or a `(train, test)` pair of datasets yielding
`(uint8 (3, H, W), label)` with a `labels` tensor.
`train_limit` / `test_limit` cap each split: the first N of Fashion-MNIST (stored in random order, and what
`extract --limit` takes), a seeded random N of anything else (folders are ordered by class).

Each protocol takes what it trains as `schedule=` (a `Schedule`; the linear protocol a `LinearProtocolSchedule`)
and how it runs as `run=` (`RunOptions`: the caps above, where the model is loaded from, device, seed, workers).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from simsiam_zoo._io import check_output
from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.data import FashionMNIST, LabelledSubset, Transformed, labelled_images
from simsiam_zoo.digests import weights_sha256
from simsiam_zoo.distributed import init_distributed, main_first
from simsiam_zoo.errors import DataError, OutputRefused
from simsiam_zoo.evaluate.linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe_sweep
from simsiam_zoo.evaluate.subsets import balanced_label_subset, read_subset_file
from simsiam_zoo.finetune import (
    EVAL_BATCH_SIZE,
    FinetuneResult,
    classifier_license,
    finetune,
    save_classifier,
)
from simsiam_zoo.hub.folder import HUB_FOLDER_KIND
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions, Schedule

DataArg = str | Path | tuple[Dataset, Dataset] | tuple[str | Path, str | Path]
ModelArg = str | Path | LoadedBackbone
MODES = ("linear", "finetune")
# The protocols' default schedules: the paper's linear protocol (90 epochs, batch 4096, LARS, base_lr 0.02) and
# fine-tuning for the others (30 epochs, batch 256 or less on small sets, SGD, lr 0.1).
LINEAR_PROTOCOL_SCHEDULE = LinearProtocolSchedule()
FINETUNE_SCHEDULE = Schedule()


class TensorImages(Dataset):
    """In-memory uint8 (N, 3, H, W) images with their labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, classes: Sequence[str], paths: Sequence[str]):
        self.images, self.labels, self.classes, self.paths = images, labels, list(classes), list(paths)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def digits_datasets(*, image_size: int = 32, seed: int = 0) -> tuple[TensorImages, TensorImages]:
    """sklearn's 8x8 digits as (train, test): bilinear-upsampled 3-channel uint8, stratified seeded 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = torch.from_numpy(digits.images).float()[:, None]  # (N, 1, 8, 8), values 0..16
    upsampled = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = (upsampled * (255 / 16)).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(digits.target).long()
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    is_test[balanced_label_subset(labels, fraction=0.2, seed=seed)] = True
    classes = [str(d) for d in range(10)]

    def split(mask: torch.Tensor) -> TensorImages:
        indices = mask.nonzero().squeeze(1)
        # Paths keep the index into load_digits(), so a subset file can name digits images.
        return TensorImages(
            images[indices], labels[indices], classes=classes, paths=[f"digits/{i}" for i in indices.tolist()]
        )

    return split(~is_test), split(is_test)


@dataclass(frozen=True)
class Splits:
    name: str
    train: Dataset
    test: Dataset
    classes: list[str]
    # (location, limit) that `extract_features` reads for each split; None: only available in memory.
    train_source: tuple[str, int | None] | None = None
    test_source: tuple[str, int | None] | None = None


def _labels(dataset: Dataset, role: str) -> torch.Tensor:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise DataError(f"the {role} dataset ({type(dataset).__name__}) has no `labels` tensor")
    labels = torch.as_tensor(labels)
    if len(labels) == 0:
        raise DataError(f"the {role} dataset is empty")
    if int(labels.min()) < 0:
        paths = getattr(dataset, "paths", None)
        first = f" ({paths[int((labels < 0).nonzero()[0])]}: outside the class folders)" if paths is not None else ""
        raise DataError(f"the {role} dataset has unlabelled images{first}; evaluations need class labels")
    return labels


def _paths(dataset: Dataset) -> list[str]:
    if isinstance(dataset, LabelledSubset):
        inner = _paths(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    paths = getattr(dataset, "paths", None)
    if paths is None:
        raise DataError(f"{type(dataset).__name__} has no `paths`, so a subset file cannot name its images")
    return [str(p) for p in paths]


def _cap(dataset: Dataset, limit: int | None, *, seed: int) -> Dataset:
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise ValueError(f"a limit must be >= 1, got {limit}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return LabelledSubset(dataset, order[:limit].sort().values.tolist())


def _head(dataset: Dataset, limit: int | None) -> Dataset:
    return LabelledSubset(dataset, range(limit)) if limit is not None and limit < len(dataset) else dataset


def _folders(
    name: str, train_dir: Path, test_dir: Path, *, train_limit: int | None, test_limit: int | None, seed: int
) -> Splits:
    train, test = labelled_images(train_dir), labelled_images(test_dir)
    if train.classes != test.classes:
        raise DataError(f"{train_dir} and {test_dir} have different classes")
    capped_train, capped_test = _cap(train, train_limit, seed=seed), _cap(test, test_limit, seed=seed)
    # Whole folders go through extract_features (cached, resumable); sampled ones are embedded in memory.
    return Splits(
        name,
        capped_train,
        capped_test,
        train.classes,
        (str(train_dir), None) if capped_train is train else None,
        (str(test_dir), None) if capped_test is test else None,
    )


def resolve_data(
    data: DataArg, *, train_limit: int | None = None, test_limit: int | None = None, seed: int = 0
) -> Splits:
    """Train and test datasets (and, when on disk, their extraction sources) for a `DataArg`.

    A pair of folders (train, test) is accepted as well as a pair of datasets.
    """
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"expected a (train, test) pair, got {len(data)} items")
        if all(isinstance(d, (str, Path)) for d in data):
            return _folders(
                f"{data[0]}+{data[1]}",
                Path(data[0]),
                Path(data[1]),
                train_limit=train_limit,
                test_limit=test_limit,
                seed=seed,
            )
        train, test = _cap(data[0], train_limit, seed=seed), _cap(data[1], test_limit, seed=seed)
        num_classes = int(max(_labels(train, "train").max(), _labels(test, "test").max())) + 1
        classes = getattr(data[0], "classes", None) or [str(i) for i in range(num_classes)]
        return Splits("datasets", train, test, list(classes))
    if data == "fashion_mnist":
        train, test = FashionMNIST(split="train"), FashionMNIST(split="test")
        return Splits(
            "fashion_mnist",
            _head(train, train_limit),
            _head(test, test_limit),
            list(FashionMNIST.classes),
            ("fashion_mnist", train_limit),
            ("fashion_mnist:test", test_limit),
        )
    if data == "digits":
        train, test = digits_datasets(seed=seed)
        return Splits("digits", _cap(train, train_limit, seed=seed), _cap(test, test_limit, seed=seed), train.classes)
    root = Path(data)
    test_dir = next((root / name for name in ("val", "test") if (root / name).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(
            f"{root}: expected train/ and val/ (or test/) class sub-folders, or a named dataset (fashion_mnist, digits)"
        )
    return _folders(str(root), root / "train", test_dir, train_limit=train_limit, test_limit=test_limit, seed=seed)


def _load(model: ModelArg, run: RunOptions) -> LoadedBackbone:
    if isinstance(model, LoadedBackbone):
        return model
    with main_first(init_distributed(torch.device(run.device))):  # under torchrun rank 0 fills the cache first
        return load_backbone(model, hub_dir=run.hub_dir)


def _labelled_splits(data: DataArg, run: RunOptions) -> Splits:
    """`resolve_data` with the run's caps, checked to have a class name for every label."""
    splits = resolve_data(data, train_limit=run.train_limit, test_limit=run.test_limit, seed=run.seed)
    for dataset, role in ((splits.train, "train"), (splits.test, "test")):
        top = int(_labels(dataset, role).max())
        if top >= len(splits.classes):
            raise DataError(f"{splits.name}: {role} label {top} but only {len(splits.classes)} classes")
    present = torch.unique(_labels(splits.train, "train")).tolist()
    if len(present) < 2:
        names = ", ".join(splits.classes[i] for i in present if i >= 0) or "none"
        raise DataError(
            f"{splits.name}: training images of {len(present)} class ({names}); a classifier needs at least two"
        )
    return splits


def _checkpoint_path(run: RunOptions, name: str) -> Path | None:
    """`run.checkpoint_dir`/NAME.pt, or None; a checkpoint folder that is a file is refused (DataError)."""
    if run.checkpoint_dir is None:
        return None
    folder = Path(run.checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: --checkpoint-dir is a file, not a folder")
    return folder / f"{name}.pt"


def _train(
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
    checkpoint = _checkpoint_path(run, name)
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


def _record(
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
    loaded = _load(model_name_or_path, run)
    splits = _labelled_splits(data, run)
    used = schedule.at_batch(min(schedule.batch_size, len(splits.train)))
    result = _train(loaded, splits, splits.train, schedule=used, frozen_backbone=True, run=run, name="linear_protocol")
    return _record(
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


def semi_supervised_subsets(
    train: Dataset,
    *,
    fractions: Sequence[float],
    subset_files: Mapping[float, str | Path] | None = None,
    seed: int = 0,
) -> dict[float, torch.Tensor]:
    """Indices into `train` per fraction: from its subset file when given, else class-balanced and seeded.

    The fractions are `fractions` plus those of `subset_files`.
    """
    subset_files = dict(subset_files or {})
    labels = _labels(train, "train")
    subsets = {}
    for fraction in sorted({*map(float, fractions), *map(float, subset_files)}):
        if fraction in subset_files:
            try:
                subsets[fraction] = read_subset_file(subset_files[fraction], _paths(train))
            except (ValueError, OSError) as error:
                raise DataError(f"subset file for {fraction:g}: {error}") from None
        else:
            subsets[fraction] = balanced_label_subset(labels, fraction=fraction, seed=seed)
    return subsets


def semi_supervised(
    model: ModelArg,
    data: DataArg,
    *,
    fractions: Sequence[float] = (0.01, 0.1),
    subset_files: Mapping[float, str | Path] | None = None,
    schedule: Schedule = FINETUNE_SCHEDULE,
    run: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """Fine-tune the whole network on each fraction of the train labels; test top-1 per fraction.

    Subsets are class-balanced and seeded (`balanced_label_subset`), or read from SimCLR subset files
    (`{0.01: "1percent.txt"}`, image basenames) where given.
    """
    loaded = _load(model, run)
    splits = _labelled_splits(data, run)
    subsets = semi_supervised_subsets(splits.train, fractions=fractions, subset_files=subset_files, seed=run.seed)
    labels = _labels(splits.train, "train")
    rows = []
    for fraction, indices in subsets.items():
        result = _train(
            loaded,
            splits,
            LabelledSubset(splits.train, indices.tolist()),
            schedule=schedule,
            frozen_backbone=False,
            run=run,
            name=f"semi-{fraction:g}",
        )
        per_class = torch.bincount(labels[indices], minlength=len(splits.classes))
        source = subset_files.get(fraction) if subset_files else None
        rows.append(
            {
                "fraction": fraction,
                "subset": str(source) if source is not None else f"class-balanced, seed {run.seed}",
                "num_labelled": len(indices),
                "per_class": per_class.tolist(),
                "batch_size": result.batch_size,
                "top1": result.top1,
                "history": result.history,
            }
        )
    top1 = {f"{row['fraction']:g}": row["top1"] for row in rows}
    return _record(
        "semi_supervised", loaded, splits, schedule, run, batch_size=schedule.batch_size, fractions=rows, top1=top1
    )


def _fingerprint(loaded: LoadedBackbone) -> str:
    """sha256 of the weights and preprocessing, so cached features never outlive the model they came from."""
    return hashlib.sha256(f"{loaded.preprocessing!r};{weights_sha256(loaded.model)}".encode()).hexdigest()


def _features(
    loaded: LoadedBackbone,
    splits: Splits,
    split: str,
    *,
    name: str,
    cache: Path,
    fingerprint: str,
    batch_size: int,
    run: RunOptions,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings, labels) of a split: cached by `extract_features` when on disk, else embedded in memory."""
    from simsiam_zoo.features import embed_dataset, extract_features, load_features

    source = splits.train_source if split == "train" else splits.test_source
    if source is None:
        loaded.model.to(run.device)
        dataset = splits.train if split == "train" else splits.test
        return embed_dataset(
            loaded.model,
            Transformed(dataset, loaded.transform),
            batch_size=batch_size,
            device=run.device,
            num_workers=run.num_workers,
        )
    location, limit = source
    safe_name = re.sub(r"[^\w.-]", "_", name)
    out = cache / f"{safe_name}-{split}-{fingerprint}"
    extract_features(
        loaded.model,
        loaded.transform,
        location,
        out=out,
        batch_size=batch_size,
        limit=limit,
        device=run.device,
        num_workers=run.num_workers,
        progress=run.progress,
        strict=run.strict,
        model_name=f"{loaded.source} sha256:{fingerprint}",
    )
    features = load_features(out)
    # Images at the top of a class-folder split have no label; they are not part of the evaluation.
    keep = features.labels >= 0
    return features.embeddings[keep], features.labels[keep]


def transfer(
    model: ModelArg,
    datasets: Mapping[str, DataArg],
    *,
    modes: Sequence[str] = MODES,
    schedule: Schedule = FINETUNE_SCHEDULE,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    cache_dir: str | Path | None = None,
    run: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """Per downstream dataset: `linear` (L-BFGS probe on cached features, weight decay chosen among
    `weight_decays` on a split of train) and `finetune` (the whole network, trained by `schedule`) -> `rows` of
    {dataset, mode, top1, ...}.

    Features of on-disk splits are extracted (in batches of `schedule.batch_size`, default 256) into
    `cache_dir` (a temporary folder when None) and reused by later calls with the same model weights.
    """
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {tuple(modes)}")
    if not datasets:
        raise ValueError("no datasets to transfer to")
    loaded = _load(model, run)
    fingerprint = _fingerprint(loaded)[:16]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="simsiam-zoo-features-") as scratch:
        cache = Path(cache_dir) if cache_dir is not None else Path(scratch)
        for name, data in datasets.items():
            splits = _labelled_splits(data, run)
            sizes = {"num_train": len(splits.train), "num_test": len(splits.test)}
            if "linear" in modes:
                cached = _FeatureCache(cache, fingerprint, batch_size=schedule.batch_size or EVAL_BATCH_SIZE)
                rows.append(
                    {**_linear_row(loaded, splits, name, cached, weight_decays=weight_decays, run=run), **sizes}
                )
            if "finetune" in modes:
                rows.append({**_finetune_row(loaded, splits, name, schedule=schedule, run=run), **sizes})
    return {
        "evaluation": "transfer",
        "model": loaded.source,
        "arch": loaded.arch,
        "seed": run.seed,
        "shuffle": run.shuffle,
        "rows": rows,
    }


@dataclass(frozen=True)
class _FeatureCache:
    """Where transfer's features live (`cache`/NAME-SPLIT-FINGERPRINT), and the batch they are extracted in."""

    folder: Path
    fingerprint: str
    batch_size: int


def _linear_row(
    loaded: LoadedBackbone,
    splits: Splits,
    name: str,
    cache: _FeatureCache,
    *,
    weight_decays: Sequence[float],
    run: RunOptions,
) -> dict[str, Any]:
    """The L-BFGS probe on the split's cached features, its weight decay chosen on a part of train."""
    features = {"name": name, "cache": cache.folder, "fingerprint": cache.fingerprint, "batch_size": cache.batch_size}
    sweep = linear_probe_sweep(
        *_features(loaded, splits, "train", run=run, **features),
        *_features(loaded, splits, "test", run=run, **features),
        weight_decays=tuple(weight_decays),
        seed=run.seed,
    )
    return {"dataset": name, "mode": "linear", "top1": sweep["test_accuracy"], "weight_decay": sweep["weight_decay"]}


def _finetune_row(
    loaded: LoadedBackbone, splits: Splits, name: str, *, schedule: Schedule, run: RunOptions
) -> dict[str, Any]:
    """The whole network fine-tuned on the split by `schedule`."""
    result = _train(
        loaded, splits, splits.train, schedule=schedule, frozen_backbone=False, run=run, name=f"transfer-{name}"
    )
    return {
        "dataset": name,
        "mode": "finetune",
        "top1": result.top1,
        "epochs": schedule.epochs,
        "batch_size": result.batch_size,
        "lr": schedule.lr,
    }


def _local_paths(*args: Any) -> list[str | Path]:
    """The arguments (or pair members) that name files or folders, for the output checks."""
    items = [item for arg in args for item in (arg if isinstance(arg, (tuple, list)) else (arg,))]
    return [item for item in items if isinstance(item, (str, Path))]


def _check_classifier_output(
    out_dir: str | Path, *, inputs: Sequence[str | Path], run: RunOptions, overwrite: bool
) -> None:
    """The classifier folder may be written (never over the model or data), and holds no checkpoint folder."""
    check_output(out_dir, kind=HUB_FOLDER_KIND, inputs=inputs, overwrite=overwrite)
    _checkpoint_path(run, "finetune")
    if run.checkpoint_dir is not None:
        folder, checkpoints = Path(out_dir).resolve(), Path(run.checkpoint_dir).resolve()
        if checkpoints == folder or folder in checkpoints.parents:
            raise OutputRefused(
                f"{out_dir}: --checkpoint-dir {run.checkpoint_dir} lies in the classifier folder, "
                "which holds only the classifier; choose a checkpoint folder outside it"
            )


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
    folder `out_dir`; the result dict holds the test top-1 and the per-epoch history.

    The card's licence is `license`, its fields as `hub.cards.license_metadata` makes them, by default the
    backbone's. `out_dir` and the licence are checked first: never the model or the data, nor a folder of the
    user's own files unless `overwrite`."""
    inputs = _local_paths(model, data)
    _check_classifier_output(out_dir, inputs=inputs, run=run, overwrite=overwrite)
    loaded = _load(model, run)
    fields = classifier_license(loaded, license)  # the backbone's, when inherited, checked before any training
    splits = _labelled_splits(data, run)
    result = _train(
        loaded, splits, splits.train, schedule=schedule, frozen_backbone=frozen_backbone, run=run, name="finetune"
    )
    how = "linear head on the frozen backbone" if frozen_backbone else "fine-tuned end to end"
    summary = f"{how}, {schedule.epochs} epochs, batch {result.batch_size}, {_schedule_text(schedule)}, seed {run.seed}"
    folder = Path(out_dir)
    if init_distributed(torch.device(run.device)).is_main:  # under torchrun every rank holds the same model
        save_classifier(
            result,
            out_dir,
            backbone=loaded,
            class_names=splits.classes,
            data_name=splits.name,
            card_name=card_name or f"{loaded.arch}.finetuned",
            license=fields,
            inputs=inputs,
            overwrite=overwrite,
            schedule_summary=summary,
        )
    return _record(
        "finetune",
        loaded,
        splits,
        schedule,
        run,
        batch_size=result.batch_size,
        out=str(folder),
        frozen_backbone=frozen_backbone,
        top1=result.top1,
        history=result.history,
    )
