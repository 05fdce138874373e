"""Hub folders: `model.safetensors` (timm backbone keys, fp32), timm `config.json`, `README.md` card,
`recipe.yaml`, and optionally `simsiam.safetensors` (backbone + projector + predictor) to keep training.

Folders are built in a temp sibling and renamed into place, so a reader sees the old folder or the new
one, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from simsiam_zoo._io import atomic_directory, check_output, read_document
from simsiam_zoo.arguments import is_int
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.checkpoint import RECIPE_NAME, is_integer_tensor, non_finite_keys, read_safetensors
from simsiam_zoo.digests import sha256_file
from simsiam_zoo.errors import HubFolderError, RecipeError, first_line, listed, shown_value, squeezed
from simsiam_zoo.model import pooled_width
from simsiam_zoo.options import MAX_CLASSES
from simsiam_zoo.recipe import load_recipe

HUB_FOLDER_KIND = "hub-folder"

WEIGHTS_NAME = "model.safetensors"
FULL_MODEL_NAME = "simsiam.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
# The model's files, those `push` uploads.
HUB_FILES = (WEIGHTS_NAME, FULL_MODEL_NAME, CONFIG_NAME, CARD_NAME, RECIPE_NAME)
# A fine-tune's result, a file of its classifier folder: written with it, replaced with it, not pushed.
FINETUNE_RESULT_NAME = "finetune.json"
# Every file a hub folder of this project holds: any other in one is a user's, never deleted with the folder.
HUB_FOLDER_FILES = (*HUB_FILES, FINETUNE_RESULT_NAME)
_FLOAT_SUFFIXES = (".weight", ".bias", ".running_mean", ".running_var")


# timm's pretrained cfg of an architecture describes timm's default weights too: where they come from, their
# test-time size, labels and paper. A folder of other weights keeps only what describes the architecture.
_SOURCE_KEYS = {"url", "file", "state_dict", "hf_hub_id", "hf_hub_filename", "source"}
_TIMM_WEIGHTS_KEYS = {
    "test_input_size",
    "test_crop_pct",
    "test_pool_size",
    "label_names",
    "label_descriptions",
    "label_offset",
    "origin_url",
    "paper_ids",
    "paper_name",
    "notes",
    "description",
}
_KEEP_NULL = {"pool_size", "first_conv", "classifier"}  # timm writes these even when null


def timm_config(
    model: torch.nn.Module,
    *,
    preprocessing: Preprocessing,
    tag: str,
    license: str,
    label_names: Sequence[str] = (),
    origin_url: str | None = None,
    paper_ids: str | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `config.json` timm's `save_config_for_hf` writes for `model` (same keys, same order), with these
    weights' tag, preprocessing, licence, origin and labels in place of those of timm's default weights.

    `model_args` only as given: the arguments `model` was built with beyond its architecture's defaults (MoCo v3's
    ViT-Small has 12 heads where timm's has 6), which timm passes to the architecture when it loads the folder. Not
    timm's own: `transformers`' TimmWrapperModel cannot load a config whose `model_args` repeat `num_classes`, as
    timm's writes them."""
    default = model.pretrained_cfg
    ours = {
        "tag": tag,
        "custom_load": False,
        "input_size": list(preprocessing.input_size),
        "interpolation": preprocessing.interpolation,
        "crop_pct": preprocessing.crop_pct,
        "crop_mode": preprocessing.crop_mode,
        "mean": list(preprocessing.mean),
        "std": list(preprocessing.std),
        "num_classes": model.num_classes,
        "license": license,
        "origin_url": origin_url,
        "paper_ids": paper_ids,
    }
    if tuple(preprocessing.input_size[1:]) != tuple(default["input_size"][1:]):
        ours["pool_size"] = None  # timm's pool size is for its default input size
    merged = {
        key: ours.get(key, value)
        for key, value in default.items()
        if key in ours or key not in _SOURCE_KEYS | _TIMM_WEIGHTS_KEYS
    }
    pretrained_cfg = {
        key: value
        for key, value in merged.items()
        if key != "architecture" and (value is not None or key in _KEEP_NULL)
    }
    config: dict[str, Any] = {
        "architecture": default["architecture"],
        "num_classes": model.num_classes,
        "num_features": model.num_features,
    }
    pool = _global_pool(model)
    if pool:
        config["global_pool"] = pool
    if label_names:
        config["label_names"] = list(label_names)
    if model_args:
        config["model_args"] = dict(model_args)
    config["pretrained_cfg"] = pretrained_cfg
    return json.loads(json.dumps(config))  # tuples as the lists config.json holds


def _global_pool(model: torch.nn.Module) -> str | None:
    """The pooling type timm records for `model`: on the model (ResNet, ViT) or on its head (ConvNeXt)."""
    pool = getattr(model, "global_pool", None)
    if pool is None:
        pool = getattr(getattr(model, "head", None), "global_pool", None)
    pool = getattr(pool, "pool_type", pool)
    return pool if isinstance(pool, str) else None


def check_hub_output(
    out_dir: str | Path,
    *,
    inputs: Sequence[str | Path | None] = (),
    models: Sequence[str | Path | None] = (),
    overwrite: bool | None = None,
) -> Path:
    """`check_output` for a hub folder, whose own files are HUB_FOLDER_FILES: one that holds any other file is
    replaced only with `overwrite`."""
    return check_output(
        out_dir, kind=HUB_FOLDER_KIND, inputs=inputs, models=models, overwrite=overwrite, own_names=HUB_FOLDER_FILES
    )


def write_hub_folder(
    out_dir: str | Path,
    *,
    backbone_state: Mapping[str, torch.Tensor],
    config: dict[str, Any],
    card: str,
    recipe_yaml: str | None = None,
    full_model_state: Mapping[str, torch.Tensor] | None = None,
    finetune_result: str | None = None,
    inputs: Sequence[str | Path | None] = (),
    overwrite: bool = False,
) -> Path:
    """Write a complete hub folder atomically; an existing folder is replaced only once the new one is whole
    and passes `validate_hub_folder`, so a folder users cannot load never replaces one they can. `finetune_result`:
    a fine-tune's result (JSON), written as FINETUNE_RESULT_NAME.

    `out_dir` may be replaced only when this project wrote it as a hub folder (`overwrite`: or any folder), and
    never when it is or holds one of `inputs` (see `check_output`)."""
    out_dir = Path(out_dir)
    with atomic_directory(
        out_dir, kind=HUB_FOLDER_KIND, inputs=inputs, overwrite=overwrite, own_names=HUB_FOLDER_FILES
    ) as staging:
        # Serialised in memory, written by Python: a full disk is then an OSError (errno, file) like any other write,
        # where safetensors' own file writer raises a SafetensorError that only quotes the OS message.
        (staging / WEIGHTS_NAME).write_bytes(safetensors_bytes(_storable(backbone_state), {"format": "pt"}))
        if full_model_state is not None:
            (staging / FULL_MODEL_NAME).write_bytes(safetensors_bytes(_storable(full_model_state), {"format": "pt"}))
        (staging / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        (staging / CARD_NAME).write_text(card.replace("{{weights_sha256}}", sha256_file(staging / WEIGHTS_NAME)))
        if recipe_yaml is not None:
            (staging / RECIPE_NAME).write_text(recipe_yaml)
        if finetune_result is not None:
            (staging / FINETUNE_RESULT_NAME).write_text(finetune_result)
        validate_hub_folder(staging)
    return out_dir


def _storable(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tensor contiguous on the CPU, float ones fp32 and integer ones (BatchNorm's counters) int64, as timm
    has them, and each in memory of its own: safetensors refuses tensors that share memory (tied weights, a key
    saved as another's very tensor), and none of these calls copies a tensor that already is what it asks for."""
    stored: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, value in state.items():
        tensor = value.detach().to(device="cpu", dtype=_stored_dtype(value)).contiguous()
        storage = tensor.untyped_storage().data_ptr()
        stored[key] = tensor.clone() if storage in storages else tensor
        storages.add(storage)
    return stored


def _stored_dtype(tensor: torch.Tensor) -> torch.dtype:
    if tensor.is_floating_point():
        return torch.float32
    # The dtypes that are neither are refused before a folder is written.
    return torch.int64 if is_integer_tensor(tensor) else tensor.dtype


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_NAME
    config = read_document(
        path,
        json.loads,
        HubFolderError,
        kind="JSON",
        parse_errors=json.JSONDecodeError,
        missing=f"missing (a hub folder needs {CONFIG_NAME} and {WEIGHTS_NAME})",
    )
    if not isinstance(config, dict) or not isinstance(config.get("pretrained_cfg", {}), dict):
        raise HubFolderError(f"{path}: expected a JSON object with a pretrained_cfg object, as timm writes")
    missing = [key for key in ("architecture", "num_classes", "pretrained_cfg") if key not in config]
    missing += [
        f"pretrained_cfg.{key}" for key in ("input_size", "mean", "std") if key not in config.get("pretrained_cfg", {})
    ]
    if missing:
        raise HubFolderError(f"{path}: missing fields {', '.join(missing)}")
    check_model_args(config.get("model_args", {}), where=str(path))
    check_architecture(config["architecture"], where=f"{path}: architecture")
    num_classes = config["num_classes"]
    if not (is_int(num_classes) and 0 <= num_classes <= MAX_CLASSES):  # -5 loaded; 10**12 is a head no memory holds
        raise HubFolderError(
            f"{path}: num_classes must be a whole number from 0 (a backbone) to {MAX_CLASSES:_}, got "
            f"{shown_value(num_classes, limit=40)}"
        )
    if config.get("model_args", {}).get("num_classes", num_classes) != num_classes:
        raise HubFolderError(
            f"{path}: model_args num_classes={config['model_args']['num_classes']!r} is not the config's "
            f"num_classes={num_classes}"
        )
    try:
        Preprocessing.from_pretrained_cfg(config["pretrained_cfg"])
    except (TypeError, ValueError, OverflowError) as error:
        raise HubFolderError(f"{path}: pretrained_cfg: {error}") from None
    return config


def check_architecture(arch: Any, *, where: str) -> None:
    """A plain timm architecture name: `local-dir:` / `hf-hub:` names would make timm load other weights."""
    import difflib

    import timm

    if not isinstance(arch, str) or ":" in arch or not timm.is_model(arch):
        close = difflib.get_close_matches(str(arch), timm.list_models(), n=3) if isinstance(arch, str) else []
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise HubFolderError(f"{where} {arch!r} is not a timm architecture name{hint}")


# The timm arguments a config's `model_args` may set: the network's shape only. Others make timm read or fetch
# files when it builds the model (`checkpoint_path` unpickles one with torch.load, `pretrained_cfg_overlay` names
# a URL), which a folder from elsewhere must not choose.
MODEL_ARGS = frozenset(
    {"num_heads", "embed_dim", "depth", "mlp_ratio", "qkv_bias", "qk_norm", "class_token", "global_pool", "fc_norm"}
    | {"no_embed_class", "reg_tokens", "img_size", "patch_size", "init_values", "depths", "dims", "layers"}
    | {"head_norm_first"}  # ConvNeXt's: its final norm before the pool (timm's default: after it)
    | {"window_size", "always_partition"}  # Swin's windows, and keeping them (and shifts) on maps of one or less
    | {"dynamic_img_size"}  # a ViT's position embedding resampled to each input's grid (DINOv2's, made for 518 px)
)


# What timm's own `save_for_hf` writes beside the shape: the classifier's size (the config's `num_classes`, which
# loading builds and then drops) and the input channels, 3 for the RGB images every reader here makes.
BUILD_ARGS = frozenset({"num_classes", "in_chans"})


def shape_args(model_args: Mapping[str, Any]) -> dict[str, Any]:
    """A config's `model_args` without `BUILD_ARGS`: what the backbone is built with."""
    return {key: value for key, value in model_args.items() if key not in BUILD_ARGS}


def check_model_args(model_args: Any, *, where: str) -> None:
    """A JSON object of `MODEL_ARGS` with plain values (numbers, booleans, strings, lists of numbers), and
    `BUILD_ARGS` as timm writes them."""
    if not isinstance(model_args, Mapping):
        raise HubFolderError(f"{where}: model_args must be a JSON object of timm arguments, as timm writes")
    if model_args.get("in_chans", 3) != 3:
        raise HubFolderError(f"{where}: model_args in_chans={model_args['in_chans']!r}; images are read as RGB (3)")
    if not is_int(model_args.get("num_classes", 0)):
        raise HubFolderError(f"{where}: model_args num_classes={model_args['num_classes']!r} is not a whole number")
    for key, value in shape_args(model_args).items():
        plain = isinstance(value, (bool, int, float, str, type(None))) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
        )
        if key not in MODEL_ARGS or not plain:
            raise HubFolderError(
                f"{where}: model_args {key!r}={value!r} is not a shape argument this project builds with "
                f"({', '.join(sorted(MODEL_ARGS))})"
            )


_HALF_DTYPES = (torch.float16, torch.bfloat16)


def read_weights(path: Path, *, upcast_half: bool = False) -> dict[str, torch.Tensor]:
    """A safetensors file of float32 weights; a clear error for a missing, truncated or non-safetensors file, and
    for weights of another dtype (which loading would silently cast).

    `upcast_half` accepts float16 / bfloat16 weights (third-party repos often publish them) and returns them as
    float32, which is exact; the zoo's own folders stay float32 (validate_hub_folder keeps the default).
    """
    state = read_safetensors(path, error=HubFolderError)
    if upcast_half:
        state = {key: value.float() if value.dtype in _HALF_DTYPES else value for key, value in state.items()}
    # Integer tensors are fine as counters and index tables (num_batches_tracked), never as weights or statistics.
    wrong = [
        f"{key} ({str(value.dtype).removeprefix('torch.')})"
        for key, value in state.items()
        if value.dtype != torch.float32 and (value.is_floating_point() or key.endswith(_FLOAT_SUFFIXES))
    ]
    if wrong:
        raise HubFolderError(
            f"{path}: tensors are not float32: {listed(wrong, limit=5)}; hub folders hold "
            "float32 weights (`simsiam-zoo convert` casts half-precision ones)"
        )
    return state


@dataclass(frozen=True)
class HubFolderInfo:
    folder: str
    arch: str
    num_features: int
    weights_sha256: str
    preprocessing: Preprocessing


def _check_full_model(path: Path, backbone: Mapping[str, torch.Tensor]) -> None:
    """A folder's training checkpoint, when it has one, must hold the very backbone its weights file holds, a
    projector (every recipe has one; the predictor may be the identity) and finite weights only."""
    if not path.exists():
        return
    full = read_weights(path)
    not_finite = non_finite_keys(full)
    if not_finite or not any(key.startswith("projector.") for key in full):
        problem = f"weights are not finite (NaN or inf) in {not_finite}" if not_finite else "no projector.* weights"
        raise HubFolderError(f"{path}: not a usable SimSiam model: {problem}")
    differ = [
        key
        for key, value in backbone.items()
        if f"backbone.{key}" not in full or not torch.equal(full[f"backbone.{key}"], value)
    ]
    if differ:
        raise HubFolderError(
            f"{path}: its backbone is not the one in {WEIGHTS_NAME} ({len(differ)} tensors differ or "
            f"are missing, e.g. {', '.join(differ[:3])})"
        )


def validate_hub_folder(folder: str | Path) -> HubFolderInfo:
    """Check what a user of the published repo relies on; raise HubFolderError naming each problem.

    timm loads it by itself (`local-dir:`), strictly; the weights are fp32 safetensors; the card carries
    valid metadata and the sha256 of the weights; a recipe.yaml is a recipe.
    """
    import timm

    from simsiam_zoo.hub.cards import read_card

    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    state = read_weights(weights)
    not_finite = non_finite_keys(state)
    if not_finite:
        raise HubFolderError(f"{weights}: weights are not finite (NaN or inf) in {not_finite}")
    try:
        model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    except Exception as error:  # timm raises several types for a bad folder; all mean "users cannot load it"
        raise HubFolderError(f"{folder}: timm cannot load this folder: {squeezed(error)}") from None
    digest = sha256_file(weights)
    card_path = folder / CARD_NAME
    if not card_path.is_file():
        raise HubFolderError(f"{card_path}: missing model card")
    try:
        card = read_card(card_path)
    except Exception as error:  # YAML, encoding and huggingface_hub's own errors: the Hub would not read it either
        reason = f"{type(error).__name__}: {first_line(error)}"
        raise HubFolderError(f"{card_path}: not a model card the Hub can read ({reason})") from None
    problems = []
    if card.data.library_name != "timm":
        problems.append("library_name must be 'timm'")
    if not card.data.license:
        problems.append("license is missing")
    if digest not in card.text:
        problems.append(f"the card does not state the weights' sha256 {digest}")
    licence = config["pretrained_cfg"].get("license")
    if licence and card.data.license and licence != card.data.license:
        problems.append(f"the card's licence {card.data.license!r} is not config.json's {licence!r}")
    if problems:
        raise HubFolderError(f"{card_path}: {'; '.join(problems)}")
    _check_full_model(folder / FULL_MODEL_NAME, state)
    _check_recipe(folder / RECIPE_NAME)
    return HubFolderInfo(
        folder=str(folder),
        arch=config["architecture"],
        num_features=pooled_width(model),
        weights_sha256=digest,
        preprocessing=Preprocessing.from_pretrained_cfg(config["pretrained_cfg"]),
    )


# A recipe is a few kilobytes: a larger file under its name is no recipe, and is not read whole to find out.
_MAX_RECIPE_BYTES = 1 << 20


def _check_recipe(path: Path) -> None:
    """The folder's recipe.yaml, where it has one, reads as a recipe (push uploaded any file of that name)."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file() or path.stat().st_size > _MAX_RECIPE_BYTES:
        raise HubFolderError(f"{path}: not a recipe (a folder's recipe.yaml is a YAML file of at most 1 MiB)")
    try:
        load_recipe(path)
    except RecipeError as error:
        raise HubFolderError(str(error)) from None
