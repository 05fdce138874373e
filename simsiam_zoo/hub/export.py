"""Turn a training checkpoint, or another project's checkpoint, into a hub folder; publish it locally."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from simsiam_zoo._io import atomic_directory
from simsiam_zoo.hub.cards import render_card
from simsiam_zoo.hub.folder import Preprocessing, timm_config, validate_hub_folder, write_hub_folder
from simsiam_zoo.hub.loader import (
    backbone_from_training_checkpoint,
    infer_resnet_arch,
    load_backbone_strict,
    preprocessing_from_recipe,
)
from simsiam_zoo.hub.publish import check_repo_id
from simsiam_zoo.hub.registry import ZOO, Result
from simsiam_zoo.recipe import Recipe, recipe_from_dict

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


def export_checkpoint(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    repo_id: str | None = None,
    results: Sequence[Result] = (),
    include_full_model: bool = True,
) -> Path:
    """A training checkpoint (or run folder) -> a validated hub folder named `name` (a zoo name or new)."""
    from simsiam_zoo.train import CHECKPOINT_NAME, load_checkpoint

    checkpoint_path = Path(checkpoint_path)
    if checkpoint_path.is_dir():
        checkpoint_path = checkpoint_path / CHECKPOINT_NAME
    checkpoint = load_checkpoint(checkpoint_path)
    recipe = recipe_from_dict(checkpoint["recipe"], source=str(checkpoint_path))
    state = backbone_from_training_checkpoint(checkpoint)
    model = load_backbone_strict(recipe.model.arch, state, source=str(checkpoint_path))
    entry = ZOO.get(name)
    preprocessing = preprocessing_from_recipe(recipe)
    license = entry.license if entry else "apache-2.0"
    dataset = entry.pretrain_dataset if entry else recipe.data.dataset
    repo_id = repo_id or (entry.hub_id if entry else f"{DEFAULT_ORG}/{name}")
    card = render_card(
        name=name, repo_id=repo_id, arch=recipe.model.arch, num_features=model.num_features,
        summary=entry.summary if entry else f"{recipe.model.arch} pretrained with recipe `{recipe.name}`.",
        license=license, datasets=[dataset], preprocessing=preprocessing, recipe_summary=recipe_summary(recipe),
        results=tuple(results) or (entry.results if entry else ()),
    )
    full_state = {k: v for k, v in checkpoint["model"].items() if not k.startswith("target.")}
    folder = write_hub_folder(
        out_dir,
        backbone_state=state,
        config=timm_config(arch=recipe.model.arch, num_features=model.num_features, preprocessing=preprocessing,
                           tag=name.partition(".")[2] or name, license=license),
        card=card,
        recipe_yaml=recipe.to_yaml(),
        full_model_state=full_state if include_full_model else None,
    )
    return folder


def convert_to_hub(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    source: str | None = None,
    arch: str | None = None,
    repo_id: str | None = None,
) -> tuple[str, Path]:
    """Another project's checkpoint -> (detected format, validated hub folder)."""
    from simsiam_zoo.convert import convert_state_dict, load_checkpoint_file

    checkpoint_path = Path(checkpoint_path)
    detected, state = convert_state_dict(load_checkpoint_file(checkpoint_path), source=source)
    entry = ZOO.get(name)
    arch = arch or (entry.arch if entry else infer_resnet_arch(state, source=str(checkpoint_path)))
    model = load_backbone_strict(arch, state, source=str(checkpoint_path))
    preprocessing = entry.preprocessing if entry else Preprocessing()
    license = entry.license if entry else "other"
    repo_id = repo_id or (entry.hub_id if entry else f"{DEFAULT_ORG}/{name}")
    card = render_card(
        name=name, repo_id=repo_id, arch=arch, num_features=model.num_features,
        summary=entry.summary if entry else f"{arch} backbone converted from a {detected} checkpoint.",
        license=license, datasets=[entry.pretrain_dataset if entry else "imagenet-1k"], preprocessing=preprocessing,
        recipe_summary=f"Converted with `simsiam-zoo convert --from {detected}` from `{checkpoint_path.name}`.",
        results=entry.results if entry else (),
    )
    config = timm_config(arch=arch, num_features=model.num_features, preprocessing=preprocessing,
                         tag=name.partition(".")[2] or name, license=license)
    return detected, write_hub_folder(out_dir, backbone_state=state, config=config, card=card)


def publish_local(folder: str | Path, *, hub_dir: str | Path, repo_id: str) -> Path:
    """Copy a validated hub folder to `hub_dir/ORG/NAME`, replacing any previous copy atomically."""
    validate_hub_folder(folder)
    target = Path(hub_dir) / check_repo_id(repo_id)
    with atomic_directory(target) as staging:
        for path in Path(folder).iterdir():
            if path.is_file():
                shutil.copy2(path, staging / path.name)
    return target
