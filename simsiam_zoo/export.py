"""Turn a training checkpoint, or another project's checkpoint, into a hub folder; publish it locally; a zoo
entry's verified original converted into its cache folder (`fetch_entry`), checked again on every load."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from simsiam_zoo._io import atomic_directory, atomic_write_text, read_marker
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.backbone import (
    backbone_from_state,
    backbone_from_training_checkpoint,
    infer_resnet_arch,
    preprocessing_from_recipe,
    weight_problems,
)
from simsiam_zoo.checkpoint import (
    CHECKPOINT_NAME,
    TrainingCheckpoint,
    non_finite_keys,
    read_training_checkpoint,
)
from simsiam_zoo.convert import checkpoint_tensors, convert_state_dict, load_checkpoint_file
from simsiam_zoo.digests import file_digests, sha256_file
from simsiam_zoo.errors import ChecksumMismatch, ConversionError, HubFolderError, OutputRefused
from simsiam_zoo.hub.cards import PROJECT_URL, CardFields, paper_id, render_card
from simsiam_zoo.hub.folder import (
    CONFIG_NAME,
    HUB_FOLDER_FILES,
    HUB_FOLDER_KIND,
    WEIGHTS_NAME,
    check_hub_output,
    timm_config,
    validate_hub_folder,
    write_hub_folder,
)
from simsiam_zoo.hub.publish import check_repo_id
from simsiam_zoo.model import pooled_width
from simsiam_zoo.pretrain import build_model, trained_dataset
from simsiam_zoo.recipe import Recipe, load_recipe, recipe_from_dict
from simsiam_zoo.zoo import ZOO, Result, ZooEntry, find_entry
from simsiam_zoo.zoo.download import cache_root, cached_folder, check_digests, discard_download, fetch_original

DEFAULT_ORG = "simsiam-zoo"


def recipe_summary(recipe: Recipe) -> str:
    model, optim, loss = recipe.model, recipe.optim, recipe.loss
    variant = "BYOL-style momentum target" if model.momentum_target is not None else "SimSiam"
    return (
        f"{variant} recipe `{recipe.name}` ({recipe.description}): {model.arch}, {model.projector_layers}-layer "
        f"{model.dim}-d projector, predictor {model.predictor} ({model.dim}->{model.pred_dim}->{model.dim}), "
        f"BN {model.bn_placement}; loss {'symmetric' if loss.symmetric else 'asymmetric'} {loss.similarity}, "
        f"stop-gradient {'on' if loss.stop_gradient else 'off'}; {optim.optimizer.upper()} batch "
        f"{optim.batch_size}, lr {optim.base_lr} x bs/256 = {optim.lr:g}, momentum {optim.momentum}, wd "
        f"{optim.weight_decay}, {optim.epochs} epochs cosine, {optim.warmup_epochs} warm-up, predictor lr "
        f"{'constant' if optim.fix_predictor_lr else 'decayed'}; {recipe.data.image_size} px "
        f"{recipe.data.augmentation} augmentation. The full recipe is `recipe.yaml` in this repository."
    )


def check_model_name(name: str, repo_id: str | None = None) -> None:
    """The Hub repo the card names: `repo_id`, or the default organisation's repo of `name`, which must then make
    one (it was refused as a repo id the user never gave)."""
    if repo_id is not None:
        check_repo_id(repo_id)
        return
    try:
        check_repo_id(f"{DEFAULT_ORG}/{name}")
    except HubFolderError as error:
        raise HubFolderError(f"{name!r} is not usable as the name of a Hub model ({error})") from None


def _card_repo(name: str, repo_id: str | None, entry: ZooEntry | None) -> dict[str, Any]:
    """The repo a card names (the one given, the entry's, or the default organisation's `name`), and whether its
    simsiam-zoo usage may load it by the entry's name: only where it is the entry's own repo."""
    repo = repo_id or (entry.hub_id if entry else f"{DEFAULT_ORG}/{name}")
    return {"repo_id": repo, "zoo_entry": entry is not None and repo == entry.hub_id}


def check_name_names_arch(name: str, arch: str) -> None:
    """timm's `arch.tag`: a name whose first part is a timm architecture is one of that architecture (a card
    titled resnet18.mine over resnet50 weights told its readers to load it as a resnet18). Any other name is free."""
    named, dot, tag = name.partition(".")
    built = arch.partition(".")[0]  # an architecture given with a pretrained tag, as timm takes it
    registered = set(timm.list_models())  # not timm's deprecated aliases, which name another architecture's weights
    if dot and named != built and named in registered and built in registered:
        raise HubFolderError(
            f"--name {name}: names a {named}, and the weights are a {built}; name it {built}.{tag} or a name of your "
            "own"
        )


def _claimed_by_training_run(name: str, *, arch: str) -> ZooEntry | None:
    """The zoo entry a training run is exported as, if `name` is one: only this project's own entries (no source
    URL) of the same architecture may be; a released checkpoint's name would lend the run its results."""
    entry = find_entry(name)
    if entry is None:
        return None
    if entry.source is not None:
        raise HubFolderError(
            f"--name {name}: that zoo entry is a released checkpoint ({entry.source.url}), not this "
            "run; pass a name of your own"
        )
    if entry.arch != arch:
        raise HubFolderError(
            f"--name {name}: that zoo entry is a {entry.arch}, this run trains a {arch}; pass a name of your own"
        )
    return entry


def _describing(entry: ZooEntry | None, recipe: Recipe) -> ZooEntry | None:
    """The entry, if it describes the run (its card's summary and data): when the run trained on the data of the
    entry's recipe. Otherwise the run describes itself."""
    if entry and entry.recipe and trained_dataset(load_recipe(entry.recipe)) == trained_dataset(recipe):
        return entry
    return None


def export_checkpoint(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    repo_id: str | None = None,
    results: Sequence[Result] = (),
    include_full_model: bool = True,
    overwrite: bool = False,
) -> Path:
    """A training checkpoint (or run folder) -> a validated hub folder named `name` (one of this project's zoo
    entries, or new). The card's results are `results`, the run's own: never a registry entry's.

    `out_dir` is checked before anything is read (`check_hub_output`): never the run or a folder inside it (a resume
    or the next export would take it for the run's), nor a folder of the user's own files unless `overwrite`."""
    check_model_name(name, repo_id)
    run = Path(checkpoint_path).parent if read_marker(Path(checkpoint_path).parent) == "run" else checkpoint_path
    check_hub_output(out_dir, inputs=(checkpoint_path,), models=(run,), overwrite=overwrite)
    checkpoint_path = _run_checkpoint(Path(checkpoint_path))
    checkpoint = read_training_checkpoint(checkpoint_path, kind="pretraining")
    recipe = recipe_from_dict(checkpoint.run, where=str(checkpoint_path))
    entry = _claimed_by_training_run(name, arch=recipe.model.arch)
    check_name_names_arch(name, recipe.model.arch)
    state = backbone_from_training_checkpoint(checkpoint)
    model = backbone_from_state(recipe.model.arch, state, where=str(checkpoint_path))
    described = _describing(entry, recipe)
    preprocessing = preprocessing_from_recipe(recipe)
    license = entry.license if entry else "apache-2.0"
    method = "byol" if recipe.model.momentum_target is not None else "simsiam"
    card = CardFields(
        name=name,
        **_card_repo(name, repo_id, entry),
        arch=recipe.model.arch,
        num_features=pooled_width(model),
        summary=described.summary if described else f"{recipe.model.arch} pretrained with recipe `{recipe.name}`.",
        license=license,
        datasets=[described.pretrain_dataset if described else trained_dataset(recipe)],
        preprocessing=preprocessing,
        recipe_summary=recipe_summary(recipe),
        results=tuple(results),
        method=method,
    )
    full_state = _checked_full_model(checkpoint, recipe, where=str(checkpoint_path)) if include_full_model else None
    return write_hub_folder(
        out_dir,
        backbone_state=state,
        config=timm_config(
            model,
            preprocessing=preprocessing,
            tag=name.partition(".")[2] or name,
            license=license,
            origin_url=PROJECT_URL,
            paper_ids=paper_id(method),
        ),
        card=render_card(card),
        recipe_yaml=recipe.to_yaml(),
        full_model_state=full_state,
        inputs=(checkpoint_path,),
        overwrite=overwrite,
    )


def _checked_full_model(checkpoint: TrainingCheckpoint, recipe: Recipe, *, where: str) -> dict[str, torch.Tensor]:
    """The run's SimSiam model (backbone, projector, predictor; not a momentum target) as the recipe builds it, every
    key, float32 weights all finite, or an error naming the checkpoint before anything is staged: the folder's
    validation would name the staged copy, deleted by then, and sees nothing of a projector left out."""
    with torch.device("meta"):  # the network's keys, shapes and dtypes, without memory or initialisation
        expected = {k: v for k, v in build_model(recipe).state_dict().items() if not k.startswith("target.")}
    state = {k: v for k, v in checkpoint.model.items() if not k.startswith("target.")}
    problems = weight_problems(expected, state, reference="the recipe's model")
    if problems:
        raise ConversionError(f"{where}: the model does not fit recipe {recipe.name!r}: {'; '.join(problems)}")
    not_finite = non_finite_keys(state)
    if not_finite:
        raise ConversionError(f"{where}: weights are not finite (NaN or inf) in {not_finite}")
    return state


def _run_checkpoint(path: Path) -> Path:
    """The checkpoint file of a run folder (or the file itself); a hub folder is refused."""
    if (path / CONFIG_NAME).is_file() and not (path / CHECKPOINT_NAME).exists():
        raise HubFolderError(
            f"{path}: a hub folder, not a training run; export takes a run folder or its "
            f"{CHECKPOINT_NAME} (a hub folder is pushed or loaded as it is)"
        )
    if path.is_dir() and not (path / CHECKPOINT_NAME).exists():
        raise ConversionError(
            f"{path}: no {CHECKPOINT_NAME}: not a training run, or one stopped before its first checkpoint"
        )
    return path / CHECKPOINT_NAME if path.is_dir() else path


def convert_to_hub(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    source: str | None = None,
    arch: str | None = None,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> tuple[str, Path]:
    """Another project's checkpoint -> (detected format, validated hub folder); `out_dir` as in export_checkpoint.

    A zoo `name` brings that entry's card (licence, published results, preprocessing) and converter, and is taken
    only for the entry's own file: one whose digests agree with the hash the entry pins or its source publishes."""
    checkpoint_path = Path(checkpoint_path)
    check_model_name(name, repo_id)
    check_hub_output(out_dir, inputs=(checkpoint_path,), overwrite=overwrite)
    entry = find_entry(name)
    original_sha256 = _check_entry_file(entry, checkpoint_path, name=name) if entry else None
    converter = source if source is not None else (entry.source.converter if entry and entry.source else None)
    detected, state = _converted(load_checkpoint_file(checkpoint_path), checkpoint_path, converter=converter)
    arch = arch or (
        entry.arch if entry else _inferred_arch(state, checkpoint_path, hint="name its timm architecture (--arch)")
    )
    check_name_names_arch(name, arch)
    origin = f"`{checkpoint_path.name}`" + (f" (sha256 `{original_sha256}`)" if original_sha256 else "")
    folder = _write_converted(
        _built(state, arch=arch, entry=entry, converter=detected, where=str(checkpoint_path)),
        out_dir,
        name=name,
        entry=entry,
        repo_id=repo_id,
        provenance=f"Converted with `simsiam-zoo convert --from {detected}` from {origin}.",
        inputs=(checkpoint_path,),
        overwrite=overwrite,
    )
    return detected, folder


def convert_source_file(entry: ZooEntry, original: Path, *, original_sha256: str, out_dir: Path) -> Path:
    """The entry's verified original file -> its hub folder (the cache's copy, or one to mirror)."""
    assert entry.source is not None
    _, state = convert_state_dict(load_checkpoint_file(original), source=entry.source.converter)
    return _write_converted(
        _built(state, arch=entry.arch, entry=entry, converter=entry.source.converter, where=entry.source.url),
        out_dir,
        name=entry.name,
        entry=entry,
        repo_id=None,
        provenance=f"Converted by simsiam-zoo's `{entry.source.converter}` converter from the original file "
        f"{entry.source.url} (sha256 `{original_sha256}`).",
    )


def fetch_entry(entry: ZooEntry, *, progress: bool = True) -> Path:
    """The entry's hub folder in the cache: downloaded, verified, converted and validated on first use; checked on
    every later use against the digests recorded when it was made (a folder without them is made again)."""
    folder = cached_folder(entry)
    if _cached_and_unchanged(entry, folder):
        return folder
    _check_cache_writable(entry, folder)
    original, digests = fetch_original(entry, progress=progress)
    try:
        convert_source_file(entry, original, original_sha256=digests.sha256, out_dir=folder)
    except Exception as error:  # a file that cannot be used is not kept, or every later call would fail on it again
        discard_download(original)
        if isinstance(error, (ConversionError, HubFolderError)):
            raise type(error)(f"{entry.name}: {error} (the downloaded file was deleted)") from None
        raise
    # The hub folder holds the weights and its card the original's sha256: the original is not kept.
    discard_download(original)
    with contextlib.suppress(OSError):
        original.parent.rmdir()
    stat = _stats(folder)  # before hashing, as in _cached_and_unchanged
    record = {"original_sha256": digests.sha256, "files": _digests(folder), "stat": stat}
    atomic_write_text(_record_path(entry), json.dumps(record, indent=1) + "\n")
    return folder


def _check_cache_writable(entry: ZooEntry, folder: Path) -> None:
    """Where the converted folder and its record go must be free before the download: a folder of someone's files
    there (or a folder where the record goes) was found after the whole transfer and conversion, which the next
    try repeated, and the refusal advised an --overwrite that `download` has not."""
    check_hub_output(folder)
    if _record_path(entry).is_dir():
        raise OutputRefused(f"{_record_path(entry)}: a folder, where the cache keeps {entry.name}'s digests; move it")


# The files a cached folder must hold; every file it holds (its card too: a load reads the licence there, and a
# mirror pushes it) is recorded when the folder is made and checked on every load.
_CHECKED = (WEIGHTS_NAME, CONFIG_NAME)


def _served(folder: Path) -> list[str]:
    """The files of a cached folder that a load reads or a mirror pushes: all but hidden ones (its marker, a
    `.DS_Store`) and folders, which neither reads."""
    return sorted(path.name for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


def _digests(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in _served(folder)}


def _record_path(entry: ZooEntry) -> Path:
    return cache_root() / "models" / f"{entry.name}.sha256.json"


def _stats(folder: Path) -> dict[str, list[int]]:
    """Each checked file's size and modification time, which a listing compares instead of hashing."""
    stats = {name: (folder / name).stat() for name in _served(folder)}
    return {name: [stat.st_size, stat.st_mtime_ns] for name, stat in stats.items()}


def converted_cache_status(entry: ZooEntry) -> str:
    """`yes` when each file of the entry's converted folder has the size and modification time it had when last
    verified, `unverified` when one differs or an older version made the record without them (the next load hashes
    the files: it refuses changed bytes and renews the record for the same), `no` otherwise (a file or a readable
    record missing: the load makes the folder again). Cheap enough for a listing: it compares what the file system
    says, where a load hashes the files."""
    folder, record_path = cached_folder(entry), _record_path(entry)
    if not record_path.is_file():  # a FIFO's read waited for a writer, for good
        return "no"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        now = _stats(folder)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return "no"
    if not isinstance(record, dict):
        return "no"
    return "yes" if record.get("stat") == now else "unverified"


def _cached_and_unchanged(entry: ZooEntry, folder: Path) -> bool:
    """True when the cached folder holds what this project converted from the verified original; False when it
    is not there or not whole, or has no record (made by an older version): then it is made again. ChecksumMismatch
    when a file differs from its record, or was added or removed: a folder changed since is never served as the
    entry."""
    record_path = _record_path(entry)
    if not all((folder / name).is_file() for name in _CHECKED) or not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(record, dict):  # no record this project writes: made again, as an unreadable one
        return False
    stat = _stats(folder)  # before hashing: a file changed while it is hashed no longer matches what is recorded
    # A record of the version before holds the weights' and config's digests alone: the card is recorded as it is.
    whole = isinstance(record.get("files"), dict)
    recorded = record["files"] if whole else {name: record.get(name) for name in _CHECKED}
    digests = _digests(folder) if whole else {name: sha256_file(folder / name) for name in _CHECKED}
    for name in sorted({*recorded, *digests}):
        if digests.get(name) != recorded.get(name):
            raise ChecksumMismatch(
                f"{entry.name}: {folder / name} in the cache is not the file converted from the verified original "
                f"({_found(digests.get(name))}, recorded {_found(recorded.get(name))}); delete {folder} to fetch the "
                "entry again"
            )
    if record.get("stat") != stat or not whole:  # touched, or recorded by an older version
        # The digests just checked (hashing again would record a file changed since as good); an older record's
        # others (the card) as they are now.
        files = digests if whole else {**_digests(folder), **digests}
        renewed = {"original_sha256": record.get("original_sha256"), "files": files, "stat": stat}
        with contextlib.suppress(OSError):  # a cache this user cannot write still loads; it lists as unverified
            atomic_write_text(record_path, json.dumps(renewed, indent=1) + "\n")
    return True


def _found(digest: str | None) -> str:
    return f"sha256 {digest}" if digest else "no such file"


def _check_entry_file(entry: ZooEntry, path: Path, *, name: str) -> str:
    """sha256 of `path` when it is the zoo entry's own file, else a HubFolderError saying why the name is refused."""
    advice = f"pass a --name of your own, or let `simsiam-zoo download {entry.name}` fetch and verify it"
    if entry.source is None:
        raise HubFolderError(f"--name {name}: that zoo entry is trained by this project, not converted; {advice}")
    if entry.source.sha256 is None and entry.source.hash_kind == "none":
        raise HubFolderError(
            f"--name {name}: {path} cannot be checked against that zoo entry (its source publishes "
            f"no hash and none is pinned yet); {advice}"
        )
    digests = file_digests(path)
    mismatch = check_digests(entry.source, digests)
    if mismatch:
        raise HubFolderError(f"--name {name}: {path} is not that zoo entry's file: {mismatch}; {advice}")
    return digests.sha256


@dataclass(frozen=True)
class ConvertedBackbone:
    """A converted state dict in the timm network it loads into strictly, with the arguments and preprocessing its
    folder will say."""

    state: dict[str, torch.Tensor]
    model: nn.Module
    arch: str
    model_args: dict[str, Any]
    preprocessing: Preprocessing


def _built(
    state: dict[str, torch.Tensor], *, arch: str, entry: ZooEntry | None, converter: str, where: str
) -> ConvertedBackbone:
    if entry:
        model_args = dict(entry.model_args) if entry.arch == arch else {}
        model = backbone_from_state(arch, state, where=where, model_args=model_args)
        return ConvertedBackbone(state, model, arch, model_args, entry.preprocessing)
    # The zoo's entries read by the same converter, into this architecture if there are any.
    alike = [e for e in ZOO.values() if e.source and e.source.converter == converter]
    same_arch = [e for e in alike if e.arch == arch]
    model_args = dict(_agreed([e.model_args for e in same_arch or alike], default={}))
    model = backbone_from_state(arch, state, where=where, model_args=model_args)
    native = Preprocessing(input_size=tuple(model.pretrained_cfg["input_size"]))
    return ConvertedBackbone(
        state, model, arch, model_args, _agreed([e.preprocessing for e in same_arch], default=native)
    )


def _inferred_arch(state: dict[str, Any], checkpoint_path: Path, *, hint: str) -> str:
    try:
        return infer_resnet_arch(state, where=str(checkpoint_path))
    except HubFolderError as error:  # a ViT, say: only ResNets are told by their keys
        raise HubFolderError(f"{error}; {hint}") from None


def _converted(tensors: dict[str, torch.Tensor], path: Path, *, converter: str | None) -> tuple[str, dict[str, Any]]:
    """(the format, timm's backbone state) of a checkpoint's tensors, its errors naming the file."""
    try:
        return convert_state_dict(tensors, source=converter)
    except ConversionError as error:
        message = str(error)
        raise ConversionError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def converted_backbone(checkpoint: Any, path: str | Path, *, arch: str | None = None) -> ConvertedBackbone:
    """Another project's checkpoint (read from `path`) as `convert` would write it: its format detected, its
    architecture told by its keys unless given, and the model_args and preprocessing that the zoo's entries of that
    format agree on. `load_backbone` of the file and of its converted folder then give one model."""
    path = Path(path)
    detected, state = _converted(checkpoint_tensors(checkpoint, path), path, converter=None)
    hint = "convert it naming its timm architecture (`simsiam-zoo convert --arch`), and use the folder"
    arch = arch or _inferred_arch(state, path, hint=hint)
    return _built(state, arch=arch, entry=None, converter=detected, where=str(path))


def _write_converted(
    built: ConvertedBackbone,
    out_dir: str | Path,
    *,
    name: str,
    entry: ZooEntry | None,
    repo_id: str | None,
    provenance: str,
    inputs: Sequence[str | Path] = (),
    overwrite: bool = False,
) -> Path:
    license = entry.license if entry else "unknown"
    card = render_card(
        CardFields(
            name=name,
            **_card_repo(name, repo_id, entry),
            arch=built.arch,
            num_features=pooled_width(built.model),
            summary=entry.summary if entry else f"{built.arch} backbone converted from another project's checkpoint.",
            license=license,
            datasets=[entry.pretrain_dataset if entry else "imagenet-1k"],
            preprocessing=built.preprocessing,
            recipe_summary=provenance,
            results=entry.results if entry else (),
            method=entry.method if entry else None,
            license_name=entry.license_name if entry else None,
            license_link=entry.license_link if entry else None,
            license_note=(
                f"The licence of the original weights ({entry.source.url}): {entry.license_origin}. "
                f"{entry.note or ''}".strip()
                if entry and entry.source
                else None
            ),
        )
    )
    config = timm_config(
        built.model,
        preprocessing=built.preprocessing,
        tag=name.partition(".")[2] or name,
        license=license,
        origin_url=entry.source.url if entry and entry.source else None,
        paper_ids=paper_id(entry.method) if entry else None,
        model_args=built.model_args,
    )
    return write_hub_folder(
        out_dir, backbone_state=built.state, config=config, card=card, inputs=inputs, overwrite=overwrite
    )


def _agreed(values: list[Any], *, default: Any) -> Any:
    """For a checkpoint converted under a name of the user's own: what the zoo's entries alike all use (the layout
    fixes it: MoCo v3's ViT-S has 12 heads, every VICRegL ConvNeXt normalises before pooling, DINOv2's entries
    evaluate at 224 px), else `default` (no model_args; the standard evaluation transform at the input size timm
    builds the architecture for)."""
    distinct = [value for index, value in enumerate(values) if value not in values[:index]]
    return distinct[0] if len(distinct) == 1 else default


def publish_local(folder: str | Path, *, hub_dir: str | Path, repo_id: str) -> Path:
    """Copy a validated hub folder to `hub_dir/ORG/NAME`, replacing any previous copy atomically."""
    validate_hub_folder(folder)
    target = Path(hub_dir) / check_repo_id(repo_id)
    # The copy is this function's alone: what an earlier version copied into it (a user's notes beside the
    # model) is replaced with it, as its marker lists.
    with atomic_directory(target, kind=HUB_FOLDER_KIND, inputs=(folder,)) as staging:
        for name in HUB_FOLDER_FILES:  # the hub folder's own files: one put beside them is not the model's
            if (Path(folder) / name).is_file():
                shutil.copy2(Path(folder) / name, staging / name)
    return target
