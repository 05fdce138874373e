"""Hub folders exactly as timm, the Hugging Face Hub and transformers read them: config.json is what timm's own
`save_for_hf` writes but for what this project adds, and the folders load in transformers with timm's features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import timm
import torch

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.errors import EXIT_BAD_INPUT, HubFolderError, OutputRefused
from simsiam_zoo.hub.cards import render_card
from simsiam_zoo.hub.folder import CONFIG_NAME, read_config, timm_config, write_hub_folder
from tests.builders import card_fields, error_message, run_cli, script_module

diff_timm_export = script_module("diff_timm_export")


# What an export adds to or leaves out of timm's own `save_for_hf` folder, and why (scripts/diff_timm_export.py).
EXPECTED = {
    "+file .simsiam-zoo.json",  # the marker that lets a re-export replace this folder and nothing else
    "+file README.md",  # the model card
    "config.json -model_args",  # timm's repeat num_classes, which transformers' TimmWrapperModel cannot take
    "config.json ~pretrained_cfg.tag",  # these weights' tag and licence, not timm's default weights'
    "config.json ~pretrained_cfg.license",
}


TIMM_WEIGHTS_PROVENANCE = {"config.json -pretrained_cfg.origin_url", "config.json -pretrained_cfg.paper_ids"}


@pytest.mark.parametrize(
    ("arch", "image_size"), [("resnet18", 224), ("resnet50", 224), ("convnext_tiny", 224), ("resnet18", 32)]
)
def test_config_json_is_what_timm_writes_but_for_what_we_add(arch: str, image_size: int) -> None:
    if "data_config" not in diff_timm_export.timm.models.save_for_hf.__code__.co_varnames:
        pytest.skip(f"timm {timm.__version__} cannot write another preprocessing into its config to compare")
    lines = set(diff_timm_export.differences(arch, Preprocessing(input_size=(3, image_size, image_size))))
    # timm's resnets name their default weights' repo and paper; a folder of other weights must not inherit them.
    assert lines - TIMM_WEIGHTS_PROVENANCE == EXPECTED, sorted(lines)


def test_config_takes_first_conv_classifier_and_pool_size_from_timm() -> None:
    model = timm.create_model("convnext_tiny", num_classes=0)
    cfg = timm_config(model, preprocessing=Preprocessing(), tag="x", license="mit")["pretrained_cfg"]
    assert (cfg["first_conv"], cfg["classifier"], cfg["pool_size"]) == ("stem.0", "head.fc", [7, 7])
    small = timm_config(
        timm.create_model("resnet18", num_classes=0),
        preprocessing=Preprocessing(input_size=(3, 32, 32)),
        tag="x",
        license="mit",
    )["pretrained_cfg"]
    assert small["pool_size"] is None and "test_input_size" not in small  # timm's 7x7 is for 224 px


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=0).eval()
    preprocessing = Preprocessing(input_size=(3, 64, 64), crop_pct=0.95)
    folder = write_hub_folder(
        tmp_path_factory.mktemp("export") / "resnet18.x",
        backbone_state=model.state_dict(),
        config=timm_config(model, preprocessing=preprocessing, tag="x", license="mit"),
        card=render_card(card_fields(preprocessing=preprocessing)),
    )
    return folder, model


def test_exported_folder_loads_in_transformers_with_timms_features(exported: tuple[Path, torch.nn.Module]) -> None:
    transformers = pytest.importorskip("transformers")
    from PIL import Image

    folder, model = exported
    wrapped = transformers.AutoModel.from_pretrained(folder).eval()
    assert type(wrapped).__name__ == "TimmWrapperModel"
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(pixel_values=pixels).pooler_output, model(pixels), rtol=0, atol=0)
    # The pipeline's preprocessing comes from config.json, as timm's does.
    image = Image.fromarray(torch.randint(0, 256, (50, 70, 3), dtype=torch.uint8).numpy())
    features = transformers.pipeline("image-feature-extraction", model=str(folder), pool=True)(image)
    transform = timm.data.create_transform(
        **timm.data.resolve_data_config({}, model=timm.create_model(f"local-dir:{folder}", pretrained=True))
    )
    with torch.no_grad():
        expected = model(transform(image).unsqueeze(0))
    torch.testing.assert_close(torch.tensor(features).reshape(expected.shape), expected, rtol=1e-4, atol=1e-4)


def test_timms_own_model_args_are_what_transformers_cannot_load(tmp_path: Path) -> None:
    """Why exports leave out `model_args`: with timm's, transformers refuses the folder."""
    transformers = pytest.importorskip("transformers")
    model = timm.create_model("resnet18", num_classes=0)
    timm.models.save_for_hf(model, str(tmp_path), safe_serialization=True)
    if "model_args" not in json.loads((tmp_path / "config.json").read_text()):
        pytest.skip(f"timm {timm.__version__} writes no model_args")
    with pytest.raises(TypeError, match="num_classes"):
        transformers.AutoModel.from_pretrained(tmp_path)


def test_classifier_folder_loads_in_transformers_with_its_labels(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=3).eval()
    preprocessing = Preprocessing(input_size=(3, 32, 32))
    folder = write_hub_folder(
        tmp_path / "classifier",
        backbone_state=model.state_dict(),
        config=timm_config(model, preprocessing=preprocessing, tag="x", license="mit", label_names=["a", "b", "c"]),
        card=render_card(card_fields(repo_id=None, preprocessing=preprocessing, class_names=["a", "b", "c"])),
    )
    wrapped = transformers.AutoModelForImageClassification.from_pretrained(folder).eval()
    assert wrapped.config.id2label == {0: "a", 1: "b", 2: "c"}
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(pixel_values=pixels).logits, model(pixels), rtol=0, atol=0)


def test_cifar_recipe_runs_the_papers_stage_resolutions_in_a_timm_loadable_model() -> None:
    """The paper's CIFAR ResNet-18 (3x3/1 stem, no max-pool) at 32 px has stages at 32, 16, 8 and 4 px; the recipe
    gets them from timm's own resnet18 by a 4x upsampling, where at 32 px timm's stem would leave a 1x1 map."""
    from simsiam_zoo.backbone import preprocessing_from_recipe
    from simsiam_zoo.model import untrained_backbone
    from simsiam_zoo.recipe import load_recipe

    recipe = load_recipe("simsiam_r18_cifar")
    model = untrained_backbone(recipe.model.arch).eval()
    with torch.no_grad():
        maps = model.forward_intermediates(
            torch.zeros(1, 3, recipe.data.image_size, recipe.data.image_size), indices=4, intermediates_only=True
        )
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 4]
    # A 32 px CIFAR image goes through timm's own transform, from the exported config, to the recipe's input size.
    preprocessing = preprocessing_from_recipe(recipe)
    config = timm_config(model, preprocessing=preprocessing, tag="x", license="mit")
    transform = timm.data.create_transform(**timm.data.resolve_data_config(config["pretrained_cfg"]))
    from PIL import Image

    assert transform(Image.new("RGB", (32, 32))).shape == (3, 128, 128)


def config_text(exported: Path, cfg: str = "", *, num_classes: str = "0") -> str:
    """The folder's config.json with `cfg` (JSON text, as a hostile file may hold: `Infinity`, `NaN`) added at the
    end of its pretrained_cfg (the last field), where JSON's last-wins keys make it override the field."""
    config = json.loads((exported / CONFIG_NAME).read_text())
    assert list(config)[-1] == "pretrained_cfg" and config["num_classes"] == 0
    text = json.dumps(config).replace('"num_classes": 0', f'"num_classes": {num_classes}', 1)
    return f"{text[:-2]}, {cfg}}}}}" if cfg else text


# What a hostile config.json can hold, and the start of the one-line error after the file's path: an infinite or
# 400-digit input size raised OverflowError (a traceback), a NaN mean was pushed (and written back as the invalid
# JSON token NaN), a 100000 px side asked for 30 GB an image, a num_classes of -5 loaded, and JSON nested 100000
# deep raised RecursionError.
HOSTILE_CONFIGS = {
    "input_size Infinity": ('"input_size": [3, Infinity, Infinity]', "pretrained_cfg: input_size must be whole"),
    "input_size 10**400": (f'"input_size": [3, {10**400}, {10**400}]', "pretrained_cfg: input_size must be whole"),
    "input_size 100000 px": ('"input_size": [3, 100000, 100000]', "pretrained_cfg: input_size [3, 100000, 100000]"),
    "input_size 4 channels": ('"input_size": [4, 64, 64]', "pretrained_cfg: input_size must have 3 channels"),
    "input_size 1e30 channels": ('"input_size": [1e30, 64, 64]', "pretrained_cfg: input_size must have 3 channels"),
    "mean NaN": ('"mean": [NaN, 0.5, 0.5]', "pretrained_cfg: mean must be finite numbers, got [nan, 0.5, 0.5]"),
    "mean 10**400": (f'"mean": [{10**400}, 0.5, 0.5]', "pretrained_cfg: mean must be finite numbers"),
    "std Infinity": ('"std": [Infinity, 1, 1]', "pretrained_cfg: std must be finite numbers above 0"),
    "std -1": ('"std": [-1, 1, 1]', "pretrained_cfg: input_size must be positive and std above 0"),
    "crop_pct NaN": ('"crop_pct": NaN', "pretrained_cfg: crop_pct must be in (0, 1], got nan"),
}


@pytest.mark.parametrize(("cfg", "message"), HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS.keys())
def test_a_config_with_values_that_cannot_work_is_one_line_naming_file_and_field(
    exported: tuple[Path, torch.nn.Module], tmp_path: Path, cfg: str, message: str
) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_text(config_text(exported[0], cfg))
    with pytest.raises(HubFolderError) as raised:
        read_config(tmp_path)
    assert str(raised.value).startswith(f"{config}: {message}"), str(raised.value)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 400


@pytest.mark.parametrize("num_classes", ["-5", "2.5", "true", "null", "1e400", str(10**400), "10000000000"])
def test_a_num_classes_that_is_no_class_count_is_refused(
    exported: tuple[Path, torch.nn.Module], tmp_path: Path, num_classes: str
) -> None:
    """-5 loaded in load_backbone; 10**10 classes is a head no memory holds."""
    config = tmp_path / CONFIG_NAME
    config.write_text(config_text(exported[0], num_classes=num_classes))
    with pytest.raises(HubFolderError, match="num_classes must be a whole number from 0") as raised:
        read_config(tmp_path)
    assert str(raised.value).startswith(f"{config}: num_classes") and len(str(raised.value)) < 200


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a": ' * 100_000, "1" * 5000])
def test_a_config_nested_too_deep_or_with_a_number_too_long_is_one_line(tmp_path: Path, text: str) -> None:
    """JSON nested 100000 deep raised RecursionError, and an integer of 5000 digits Python's ValueError."""
    (tmp_path / CONFIG_NAME).write_text(text)
    with pytest.raises(HubFolderError, match=r"not valid JSON: (nested too deep|Exceeds the limit)") as raised:
        read_config(tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / CONFIG_NAME}: not valid JSON: ")
    assert "\n" not in str(raised.value)


def test_push_of_a_folder_with_an_infinite_input_size_is_exit_3(
    exported: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    """Was an OverflowError traceback (exit 1) from `push --dry-run`."""
    folder = tmp_path / "model"
    shutil.copytree(exported[0], folder)
    (folder / CONFIG_NAME).write_text(config_text(exported[0], '"input_size": [3, Infinity, Infinity]'))
    done = run_cli("push", folder, "--repo-id", "org/x", "--dry-run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {folder / CONFIG_NAME}: pretrained_cfg: input_size must be whole")


def test_a_marker_nested_too_deep_is_no_marker_of_ours(tmp_path: Path) -> None:
    """A folder's `.simsiam-zoo.json` of '[' * 100000 raised RecursionError; it is someone else's folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".simsiam-zoo.json").write_text("[" * 100_000)
    with pytest.raises(OutputRefused, match="exists and was not written by simsiam-zoo"):
        write_hub_folder(out, backbone_state={}, config={}, card="")
