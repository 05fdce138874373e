"""Hugging Face datasets as an `ImageSource`: `save_to_disk` folders, parquet and arrow files."""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from simsiam_zoo.data.decode import decode_image
from simsiam_zoo.data.source import ImageSource
from simsiam_zoo.data.suite import HubDataset
from simsiam_zoo.data.tar import MAX_CLASS_LABEL, expand_braces
from simsiam_zoo.errors import DataError, DatasetUnavailable, http_client_errors, listed


def is_saved_hf_dataset(folder: Path) -> bool:
    """A folder `save_to_disk` wrote: a Dataset's `state.json` beside its `dataset_info.json`, or a DatasetDict's
    `dataset_dict.json` (an image folder holding a `state.json` of its own was refused as a broken dataset)."""
    if (folder / "dataset_dict.json").is_file():
        return True
    return (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()


def _hf_datasets() -> Any:
    """The `datasets` module, an optional dependency imported when a Hugging Face source is read."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            "reading a Hugging Face dataset needs the datasets library: pip install 'simsiam-zoo[hf]'"
        ) from None
    return datasets


def read_saved_hf_dataset(folder: Path) -> ImageSource:
    """A `Dataset.save_to_disk` folder; a `DatasetDict`'s folder is refused, naming its splits' folders."""
    datasets = _hf_datasets()
    if (folder / "dataset_dict.json").is_file():
        splits = ", ".join(str(folder / name) for name in sorted(p.name for p in folder.iterdir() if p.is_dir()))
        raise DataError(f"{folder}: a Hugging Face dataset with several splits; give one split's folder ({splits})")
    if _saved_rows_files(folder) == []:  # datasets cannot load a dataset saved with no rows (an IndexError)
        raise DataError(f"{folder}: no images found (a Hugging Face dataset saved with 0 rows)")
    try:
        dataset = datasets.load_from_disk(str(folder))
    except Exception as error:  # as for the Hub's: a folder it cannot read fails in many types
        raise DataError(
            f"{folder}: not a readable Hugging Face dataset folder ({type(error).__name__}: {error})"
        ) from None
    return _hf_source(dataset, str(folder), name=folder.name)


def _saved_rows_files(folder: Path) -> list[Any] | None:
    """The Arrow files that `save_to_disk` listed in the folder's state.json, or None where it cannot say."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    files = state.get("_data_files") if isinstance(state, dict) else None
    return files if isinstance(files, list) else None


def read_hf_files(pattern: str) -> ImageSource:
    """Parquet or arrow files (brace and glob patterns), one dataset in the files' sorted order."""
    datasets = _hf_datasets()
    names = [name for expanded in expand_braces(pattern) for name in (sorted(glob.glob(expanded)) or [expanded])]
    missing = next((name for name in names if not Path(name).is_file()), None)
    if missing is not None:
        raise DataError(f"{missing}: no such file")
    builder = "parquet" if pattern.endswith(".parquet") else "arrow"
    _check_one_dataset(names, builder)
    try:
        with _quiet("datasets"):
            dataset = datasets.load_dataset(builder, data_files=names, split="train")
    except Exception as error:  # the builders raise many types (pyarrow's, datasets') for a file they cannot read
        cause = _root_cause(error)
        if isinstance(cause, OSError):  # the cache datasets prepares could not be written (a full disk)
            cache = cause.filename or f"the datasets cache ({datasets.config.HF_DATASETS_CACHE})"
            raise type(cause)(cause.errno, cause.strerror, cache) from None
        raise DataError(f"{pattern}: not readable as {builder} files ({type(cause).__name__}: {cause})") from None
    # The pattern made absolute (braces and globs kept): the same files from any working directory are one source.
    location = os.path.abspath(pattern)
    files = [Path(name).absolute() for name in names]  # not datasets' cache of them, which another cache moves
    return _hf_source(dataset, location, name=files[0].parent.name, files=files)  # "x.parquet": its folder


def _check_one_dataset(names: list[str], builder: str) -> None:
    """Refuse a file that pyarrow cannot read, or whose recorded class names (ClassLabel columns) are not the first
    file's: datasets reads every file with the first one's features, so another file's labels were numbered by the
    first one's names. Other columns are datasets' to cast or refuse."""
    first: tuple[str, dict[str, Any]] | None = None
    for name in names:
        features = _hf_features(name, builder)
        if features is None:
            continue
        classes = {column: feature.get("names") for column, feature in features.items() if _is_class_label(feature)}
        if first is None:
            first = name, classes
        elif classes != first[1]:
            columns = sorted(c for c in {*classes, *first[1]} if classes.get(c) != first[1].get(c))
            raise DataError(
                f"{name}: other class names than {first[0]} (column(s) {', '.join(columns)}); the files of one source "
                "must be one dataset's"
            )


def _is_class_label(feature: Any) -> bool:
    return isinstance(feature, dict) and feature.get("_type") == "ClassLabel"


def _hf_features(name: str, builder: str) -> dict[str, Any] | None:
    """The features datasets recorded in a parquet or arrow file's schema, None where it recorded none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if builder == "parquet":
            schema = pq.read_schema(name)
        else:
            with pa.memory_map(name) as mapped:
                schema = _arrow_schema(pa, mapped)
        recorded = json.loads((schema.metadata or {}).get(b"huggingface", b"null"))
    except pa.ArrowInvalid as error:
        raise DataError(f"{name}: not readable as a {builder} file ({error})") from None
    except ValueError:  # metadata that is not JSON: datasets infers the features, as for a file without any
        return None
    info = recorded.get("info") if isinstance(recorded, dict) else None
    features = info.get("features") if isinstance(info, dict) else None
    return features if isinstance(features, dict) else None


def _arrow_schema(pa: Any, mapped: Any) -> Any:
    """An arrow file's schema: the stream format datasets writes, else the file format (both are read)."""
    try:
        return pa.ipc.open_stream(mapped).schema
    except pa.ArrowInvalid:
        mapped.seek(0)
        return pa.ipc.open_file(mapped).schema


def _root_cause(error: BaseException) -> BaseException:
    """The error a library's wrapper was raised from (datasets' DatasetGenerationError names no file)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Without a library's log lines (datasets logs a failed file in ten lines before raising)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_hub_dataset(entry: HubDataset, role: str) -> ImageSource:
    """The train or test split (`role`) of a transfer-suite dataset, read with `datasets.load_dataset` from the Hub
    (HF_ENDPOINT) or, offline, from its cache; refused when its label column does not have the suite's classes."""
    datasets = _hf_datasets()
    split = entry.train_split if role == "train" else entry.test_split
    location = f"{entry.name}:{role}"
    try:
        with _quiet_retries():
            dataset = datasets.load_dataset(entry.repo_id, split=split)
    except Exception as error:  # network, cache and format errors come as many types
        # datasets says "Couldn't reach" as a ConnectionError (offline mode's too); httpx's errors, or httpx2's from
        # huggingface_hub 2 on, are the Hub client's.
        unreachable = isinstance(error, (ConnectionError, *http_client_errors("TransportError")))
        raise (DatasetUnavailable if unreachable else DataError)(
            f"{location}: cannot read {entry.repo_id} (split {split}) from the Hugging Face Hub or the datasets "
            f"cache ({type(error).__name__}: {error})"
        ) from None
    source = _hf_source(dataset, location, name=entry.name, image=entry.image_column, label=entry.label_column)
    if len(source.classes) != entry.num_classes:
        raise DataError(
            f"{location}: column {entry.label_column!r} of {entry.repo_id} has {len(source.classes)} classes; "
            f"the suite expects {entry.num_classes}"
        )
    return source


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    """Without huggingface_hub's two lines a retried request (ten over 30 s when the Hub cannot be reached, before
    the one-line error), as the zoo's own downloads retry; a wait the Hub's rate limit asks for is still said."""
    logger = logging.getLogger("huggingface_hub.utils._http")
    retries = _RetryLines()
    logger.addFilter(retries)
    try:
        yield
    finally:
        logger.removeFilter(retries)


class _RetryLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Retrying in ") or " thrown while requesting " in message)


def _hf_source(
    dataset: Any,
    location: str,
    *,
    name: str,
    image: str | None = None,
    label: str | None = None,
    files: list[Path] | None = None,
) -> ImageSource:
    """The entries of a Hugging Face dataset, named `name/row`: its image column (undecoded, so that a bad image is
    this project's listed skip) and its ClassLabel (or integer `label`) column, or the columns named; a row without
    an image is a skip. `files`: the files the rows were read from (else the dataset's Arrow files)."""
    datasets = _hf_datasets()
    dataset = dataset.with_format(None)  # a format saved with it (torch, pandas; columns hidden) gave other values
    features = dataset.features
    missing = [column for column in (image, label) if column is not None and column not in features]
    if missing:
        raise DataError(f"{location}: no column {missing[0]!r} (columns: {', '.join(features)})")
    image = image or _image_column(features, location)
    label = _label_column(features, label, location)
    labels, classes = _hf_labels(
        dataset[label] if label is not None else [None] * len(dataset),
        features[label].names if isinstance(features.get(label), datasets.ClassLabel) else None,
        location,
        label,
    )
    empty, linked = _image_rows(dataset.with_format("arrow")[image])
    cache_files = [Path(cache["filename"]) for cache in dataset.cache_files]
    files = files or cache_files
    return ImageSource(
        "hf",
        location,
        [f"{name}/{i}" for i in range(len(dataset))],
        labels,
        classes,
        data_files=files,
        data_rows=_rows_in(files, total=len(dataset)),
        linked_files=linked,
        cache_files=cache_files,
        dataset=_HFImages(dataset.cast_column(image, datasets.Image(decode=False)), image, labels, name, linked),
        skipped={i: f"no image in the row (column {image!r} is empty)" for i in empty},
    )


def _label_column(features: Any, label: str | None, location: str) -> str | None:
    """The column named, else the ClassLabel one (`label` among several), else an integer or string `label`."""
    datasets = _hf_datasets()
    class_labels = [column for column, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    if label is None and class_labels:
        label = "label" if "label" in class_labels else class_labels[0]
    elif label is None:
        label = "label" if "label" in features else None
    if label is not None and not isinstance(features[label], (datasets.ClassLabel, datasets.Value)):
        raise DataError(
            f"{location}: label column {label!r} holds {type(features[label]).__name__} values; expected class "
            "names or integers"
        )
    return label


def _image_column(features: Any, location: str) -> str:
    """The one Image column, or the one named `image` among several."""
    datasets = _hf_datasets()
    images = [column for column, feature in features.items() if isinstance(feature, datasets.Image)]
    if not images:
        raise DataError(f"{location}: no image column (columns: {', '.join(features)})")
    if len(images) > 1 and "image" not in images:  # the first of a mask and a photo was read in silence
        warnings.warn(
            f"{location}: several image columns ({', '.join(images)}), none named 'image': reading {images[0]!r}, "
            "the first; rename the one to read to 'image'",
            stacklevel=2,
        )
    return "image" if "image" in images else images[0]


def _hf_labels(
    values: list[Any], names: list[str] | None, location: str, column: str | None
) -> tuple[list[int], list[str]]:
    """Labels and class names of a label column: a ClassLabel's names, integers numbered as they are, or strings
    (classes in sorted order, as an image folder's); an empty row is unlabelled (-1)."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, str) for value in present) and present and names is None:
        classes = sorted(set(present))
        index = {name: i for i, name in enumerate(classes)}
        return [-1 if value is None else index[value] for value in values], classes
    wrong = next(
        (
            value
            for value in present
            if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_CLASS_LABEL
        ),
        None,
    )
    if wrong is not None:
        raise DataError(
            f"{location}: label column {column!r} holds {wrong!r}; expected class names or integers from "
            f"0 to {MAX_CLASS_LABEL:,}"
        )
    labels = [-1 if value is None else value for value in values]
    if names is not None and max(labels, default=-1) >= len(names):
        raise DataError(
            f"{location}: label column {column!r} holds {max(labels)}, beyond its {len(names)} class names "
            f"({listed(names, limit=5)})"
        )
    return labels, list(names) if names is not None else [str(i) for i in range(max(labels, default=-1) + 1)]


def _image_rows(column: Any) -> tuple[list[int], dict[int, Path]]:
    """The rows of an image column (memory-mapped arrow chunks) with no image (no struct, or neither bytes nor a
    path), and those that refer to an image file by its path: made absolute as datasets opens it, from the working
    folder. Only the validity bitmaps and the paths are read, not the image bytes."""
    import pyarrow.compute as pc

    empty: list[int] = []
    linked: dict[int, Path] = {}
    start = 0
    for chunk in column.chunks:
        no_bytes = pc.or_(pc.is_null(chunk), pc.is_null(chunk.field("bytes")))
        no_path = pc.or_(pc.is_null(chunk), pc.is_null(chunk.field("path")))
        empty += [start + i for i, gone in enumerate(pc.and_(no_bytes, no_path).to_pylist()) if gone]
        by_path = pc.and_(no_bytes, pc.invert(no_path)).to_pylist()
        paths = chunk.field("path")
        for i in (i for i, yes in enumerate(by_path) if yes):
            path = paths[i].as_py()
            if "://" not in path:  # a remote file (hf://) is datasets' to fetch: a listed skip here
                linked[start + i] = Path(os.path.abspath(path))
        start += len(chunk)
    return empty, linked


def _rows_in(files: list[Path], *, total: int) -> list[int]:
    """The rows of each parquet or Arrow file; none where one cannot be counted or they are not the dataset's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = [
            pq.read_metadata(path).num_rows if path.suffix == ".parquet" else _arrow_rows(pa, path) for path in files
        ]
    except (OSError, pa.ArrowException):
        return []
    return rows if sum(rows) == total else []


def _arrow_rows(pa: Any, path: Path) -> int:
    with pa.memory_map(str(path)) as mapped:
        try:
            return sum(batch.num_rows for batch in pa.ipc.open_stream(mapped))
        except pa.ArrowInvalid:
            mapped.seek(0)
            reader = pa.ipc.open_file(mapped)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))


class _HFImages(Dataset):
    """(uint8 (3, H, W), label) of a Hugging Face dataset's undecoded image column, decoded by `decode_image`."""

    def __init__(self, dataset: Any, column: str, labels: list[int], name: str, linked: dict[int, Path]):
        self.dataset, self.column, self.labels, self.name, self.linked = dataset, column, labels, name, linked

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        value = self.dataset[index][self.column] or {}
        where = Path(f"{self.name}/{index}")
        if value.get("bytes") is not None:
            return decode_image(where, value["bytes"]), self.labels[index]
        if index in self.linked:  # an image the dataset refers to by its file
            return decode_image(self.linked[index]), self.labels[index]
        if value.get("path") is not None:  # a remote one
            return decode_image(Path(value["path"])), self.labels[index]
        raise DataError(f"{where}: no image in the row")
