"""`load_backbone`: a timm backbone in eval mode plus its preprocessing, from whatever a user has.

Accepted: a zoo name (`resnet50.mocov3_in1k_ep1000`: from its Hub mirror once pinned, else from the original URL,
converted once into the cache, see simsiam_zoo.export.fetch_entry; from timm's own Hub repo where timm publishes the
same weights, `vit_small_patch16_224.dino_in1k`; a file or folder of the same name is reached as `./NAME`), an
`hf-hub:ORG/NAME` id, a hub folder, a `.safetensors` file, a training run folder or checkpoint, or another
project's checkpoint (converted). Loading is strict: a missing, unexpected or mis-shaped key is an error that
lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from simsiam_zoo.arguments import check_bool
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.backbone import (
    LoadedBackbone,
    backbone_from_state,
    backbone_from_training_checkpoint,
    infer_resnet_arch,
    preprocessing_from_recipe,
)
from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_torch_checkpoint, training_checkpoint_from
from simsiam_zoo.digests import sha256_file
from simsiam_zoo.errors import HubFolderError, UnknownModelError
from simsiam_zoo.export import converted_backbone, converted_cache_status, fetch_entry
from simsiam_zoo.hub.folder import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_config, read_weights, shape_args
from simsiam_zoo.hub.publish import check_repo_id, download_hub_repo
from simsiam_zoo.model import untrained_backbone
from simsiam_zoo.recipe import recipe_from_dict
from simsiam_zoo.zoo import ZooEntry, find_entry, get_entry


def _from_folder(
    folder: Path,
    *,
    expected_sha256: str | None,
    source: str,
    hub_id: str | None = None,
    preprocessing: Preprocessing | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> LoadedBackbone:
    """The backbone of a hub folder, with its config's preprocessing unless `preprocessing` (a zoo entry's: another
    publisher's config, as timm's, states its own evaluation transform, not the one the weights' source used), built
    with its config's model_args and `model_args` (a zoo entry's, which that transform may need: DINOv2's 224 px on
    timm's 518-px architectures)."""
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if expected_sha256 is not None:
        actual = sha256_file(weights) if weights.exists() else "missing"
        if actual != expected_sha256:
            raise HubFolderError(
                f"{weights}: sha256 {actual} does not match the zoo entry's {expected_sha256}; "
                "the download is corrupt or the repo changed (delete it from the cache)"
            )
    preprocessing = preprocessing or Preprocessing.from_pretrained_cfg(config["pretrained_cfg"])
    model_args = shape_args({**config.get("model_args", {}), **(model_args or {})})
    state = read_weights(weights, upcast_half=True)
    model = backbone_from_state(
        config["architecture"], state, where=str(weights), model_args=model_args, num_classes=config["num_classes"]
    )
    return LoadedBackbone(
        model,
        preprocessing.transform(),
        preprocessing,
        config["architecture"],
        source,
        hub_id=hub_id,
        license=_card_license(folder),
        model_args=model_args,
    )


def _card_data(folder: Path) -> Any:
    """The metadata of the folder's card, or None without a card or with one the Hub would not parse (which states
    nothing we could pass on: no licence, no model name)."""
    from simsiam_zoo.hub.cards import read_card

    path = folder / CARD_NAME
    if not path.is_file():
        return None
    try:
        return read_card(path).data
    except Exception:
        return None


def _card_license(folder: Path) -> dict[str, str] | None:
    """The licence fields of the folder's card, or None without a card or licence."""
    data = _card_data(folder)
    if data is None:
        return None
    fields = {key: getattr(data, key, None) for key in ("license", "license_name", "license_link")}
    return {key: value for key, value in fields.items() if isinstance(value, str)} if fields["license"] else None


def _from_file(path: Path, *, arch: str | None) -> LoadedBackbone:
    model_args, num_classes = {}, 0
    if path.suffix == ".safetensors":
        state = read_weights(path, upcast_half=True)
        if (path.parent / CONFIG_NAME).exists():
            config = read_config(path.parent)
            arch, model_args = arch or config["architecture"], shape_args(config.get("model_args", {}))
            num_classes = config["num_classes"]
            preprocessing = Preprocessing.from_pretrained_cfg(config["pretrained_cfg"])
        else:
            preprocessing = Preprocessing()
    else:
        saved = read_torch_checkpoint(path)
        ours = training_checkpoint_from(saved, kind="pretraining", where=str(path))
        if ours is not None:
            recipe = recipe_from_dict(ours.run, where=str(path))
            state, arch = backbone_from_training_checkpoint(ours), arch or recipe.model.arch
            preprocessing = preprocessing_from_recipe(recipe)
        else:  # another project's: as `convert` writes it, whose folder then loads as the same model
            built = converted_backbone(saved, path, arch=arch)
            return LoadedBackbone(
                built.model,
                built.preprocessing.transform(),
                built.preprocessing,
                built.arch,
                str(path),
                model_args=built.model_args,
            )
    arch = arch or infer_resnet_arch(state, where=str(path))
    model = backbone_from_state(arch, state, where=str(path), model_args=model_args, num_classes=num_classes)
    return LoadedBackbone(model, preprocessing.transform(), preprocessing, arch, str(path), model_args=model_args)


def load_backbone(
    name_or_path: str | Path, *, pretrained: bool = True, hub_dir: str | Path | None = None, arch: str | None = None
) -> LoadedBackbone:
    """Resolve and load a backbone; see the module docstring for what is accepted.

    `hub_dir` is a local hub mirror (`HUB_DIR/ORG/NAME/` folders, as `publish_local` writes them) used
    instead of the Hugging Face Hub for zoo names and `hf-hub:` ids. `pretrained=False` gives the same
    architecture and preprocessing with random weights, as `_random_init` makes them (a zoo name then downloads
    nothing).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):  # None or a number read as an unknown zoo model
        raise TypeError(f"name_or_path must be a zoo name, an hf-hub: id or a path, got {name_or_path!r}")
    if not os.fspath(name_or_path).strip():  # "" loaded the working directory
        raise UnknownModelError(
            f"{os.fspath(name_or_path)!r}: an empty model name; give a zoo name, an hf-hub: id or a path"
        )
    check_bool("pretrained", pretrained)
    text = str(name_or_path)
    entry = zoo_entry(name_or_path)
    if entry is not None and not pretrained:
        return _check_arch(_random_init(entry.arch, entry.preprocessing, entry.model_args), arch, text)
    loaded = _check_arch(_load_pretrained(text, entry, hub_dir=hub_dir, arch=arch), arch, text)
    return loaded if pretrained else _random_init(loaded.arch, loaded.preprocessing, loaded.model_args)


def _check_arch(loaded: LoadedBackbone, arch: str | None, name: str) -> LoadedBackbone:
    """`loaded`, when it is the `arch` asked for: a zoo entry or a hub folder names its own architecture, and an
    `arch` that differs was ignored in silence (a resnet18 came back for "resnet50")."""
    if arch is not None and loaded.arch != arch:
        raise ValueError(f"arch={arch!r}, but {name} is a {loaded.arch}; leave arch out for it")
    return loaded


def zoo_entry(name_or_path: str | Path) -> ZooEntry | None:
    """The zoo entry a name means, or None for an `hf-hub:` id or a path. A zoo name is never shadowed by a file
    or folder of that name in the working directory (write `./NAME` for that one); a name that is neither a zoo
    name nor an existing path is an error naming the closest zoo names."""
    text = str(name_or_path)
    if text.startswith("hf-hub:") or isinstance(name_or_path, Path):
        return None
    is_path = "/" in text or os.sep in text  # a zoo name has no separator
    entry = None if is_path else find_entry(text)
    if entry is not None or Path(text).exists():
        return entry
    if is_path:
        raise HubFolderError(f"{text}: no such file or folder (a Hugging Face Hub model is hf-hub:ORG/NAME)")
    return get_entry(text)


def _random_init(arch: str, preprocessing: Preprocessing, model_args: Mapping[str, Any]) -> LoadedBackbone:
    """`arch` with the standard random init (every residual branch live) as a baseline; see untrained_backbone."""
    with torch.random.fork_rng(devices=[]):  # the init's draws are not the caller's
        model = untrained_backbone(arch, zero_init_last=False, model_args=model_args).eval()
    return LoadedBackbone(
        model, preprocessing.transform(), preprocessing, arch, "random init", model_args=dict(model_args)
    )


def _load_pretrained(
    text: str, entry: ZooEntry | None, *, hub_dir: str | Path | None, arch: str | None
) -> LoadedBackbone:
    if text.startswith("hf-hub:"):
        # `hf-hub:ORG/NAME@REVISION`, as timm reads it: a branch, tag or commit.
        repo_id, at, revision = text.removeprefix("hf-hub:").partition("@")
        if at and not revision.strip():  # it loaded main in silence
            raise UnknownModelError(
                f"{text}: an empty revision after '@'; name a branch, tag or commit, or drop the '@'"
            )
        return _from_folder(
            _fetch(repo_id, hub_dir=hub_dir, revision=revision or None),
            expected_sha256=None,
            source=text,
            hub_id=repo_id,
        )
    if entry is None:
        path = Path(text)
        if path.is_dir():
            if (path / CONFIG_NAME).exists():
                return _from_folder(path, expected_sha256=None, source=str(path))
            if (path / CHECKPOINT_NAME).exists():
                return _from_file(path / CHECKPOINT_NAME, arch=arch)
            raise HubFolderError(f"{path}: neither a hub folder ({CONFIG_NAME}) nor a training run ({CHECKPOINT_NAME})")
        return _from_file(path, arch=arch)
    if entry.converted_from_source and hub_dir is None:
        # Not mirrored to the Hub (or not pinned yet): the original file, converted once into the cache.
        return _from_folder(fetch_entry(entry), expected_sha256=None, source=entry.name)
    # The zoo's mirror, or timm's own repo of the same weights, whose config states timm's evaluation transform:
    # the entry's is the one the weights' source evaluated with.
    folder = _fetch(entry.hub_id, hub_dir=hub_dir, revision=entry.revision)
    if entry.sha256 is None:
        _check_unpinned_entry(folder, entry)
    loaded = _from_folder(
        folder,
        expected_sha256=entry.sha256,
        source=entry.name,
        hub_id=entry.hub_id,
        preprocessing=entry.preprocessing if entry.published_by_timm else None,
        model_args=entry.model_args if entry.published_by_timm else None,
    )
    # The zoo's mirror of converted weights states the preprocessing the entry records (the conversion wrote it):
    # another one there (a config edited on the Hub, a wrong pin) would be used in silence.
    if entry.source is not None and not entry.published_by_timm and loaded.preprocessing != entry.preprocessing:
        raise HubFolderError(
            f"{entry.name}: {entry.hub_id}'s {CONFIG_NAME} gives the preprocessing "
            f"{loaded.preprocessing.differences(entry.preprocessing, 'the entry')}; the repo changed, or the entry "
            "points at another one"
        )
    return loaded


def _check_unpinned_entry(folder: Path, entry: ZooEntry) -> None:
    """A zoo entry's repo without a pinned sha256 holds at least that entry: its architecture, and a card in its
    name unless timm publishes it (timm's cards name timm's model); anything the repo held was loaded as the entry."""
    arch = read_config(folder)["architecture"]
    card_name = entry.name if entry.published_by_timm else getattr(_card_data(folder), "model_name", None)
    if arch != entry.arch or card_name != entry.name:
        card = "" if entry.published_by_timm else f" whose card names {card_name!r}"
        raise HubFolderError(
            f"{entry.name}: {entry.hub_id} holds a {arch}{card}, not this zoo entry (a {entry.arch}); the repo "
            "changed, or the entry points at another one"
        )


def _fetch(repo_id: str, *, hub_dir: str | Path | None, revision: str | None) -> Path:
    if hub_dir is not None:
        # The same id rules as the Hub, so an `hf-hub:` id cannot climb out of the local hub directory.
        folder = Path(hub_dir) / check_repo_id(repo_id)
        if not (folder / CONFIG_NAME).exists():
            raise HubFolderError(f"{folder}: {repo_id} is not in the local hub directory {hub_dir}")
        return folder
    return download_hub_repo(repo_id, revision=revision)


def cache_status(entry: ZooEntry) -> str:
    """`yes` when loading `entry` needs no download (its converted folder is in the cache as made, or its Hub
    mirror is), `unverified` when its converted folder's files are not as last verified (the next load hashes
    them), else `no`. Only the place a load reads counts: a converted folder left from before the entry was
    mirrored is not."""
    from huggingface_hub import try_to_load_from_cache

    if entry.converted_from_source:
        return converted_cache_status(entry)
    try:
        # A load reads both (a weights file alone was "yes", then "the repo has no config.json").
        found = [
            try_to_load_from_cache(entry.hub_id, name, revision=entry.revision)
            for name in (entry.filename, CONFIG_NAME)
        ]
    except (OSError, ValueError):  # a cache someone edited: a `refs/main` of other bytes than a commit's name
        return "no"
    return "yes" if all(isinstance(path, str) and Path(path).is_file() for path in found) else "no"
