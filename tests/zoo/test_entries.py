"""The zoo's records: what every entry must hold (in timm naming, hashes as in the file names, entries timm publishes
as timm's pretrained cfgs name them, recipes that exist), published results, and the README's table."""

from __future__ import annotations

import re
import subprocess
import sys

import timm

from simsiam_zoo.convert import CONVERTERS
from simsiam_zoo.hub.publish import check_repo_id
from simsiam_zoo.zoo import METHODS, ZOO
from tests.builders import REPO_ROOT

HUB_LICENCES = {"apache-2.0", "mit", "bsd-3-clause", "cc-by-nc-4.0", "gpl-3.0", "other", "unknown"}


def test_every_entry_is_a_complete_record_in_timm_naming() -> None:
    assert len([e for e in ZOO.values() if e.arch == "resnet50" and e.source]) >= 40
    for name, entry in ZOO.items():
        arch, _, tag = name.partition(".")
        assert entry.name == name and arch == entry.arch and tag and timm.is_model(arch), name
        assert check_repo_id(entry.hub_id) and entry.license in HUB_LICENCES and entry.method in METHODS, name
        assert entry.epochs is None or entry.epochs > 0, name
        # README's licence rule: the weights' source's statement, else the repository's licence, else unknown.
        assert (entry.license == "unknown") == (entry.license_basis == "none"), name
        # A licence with no Hub id is `other`, named and linked as the Hub asks.
        assert (entry.license == "other") == bool(entry.license_name and entry.license_link), name
        if entry.source is None:
            continue
        assert entry.source.url.startswith("https://"), name
        assert entry.source.converter in CONVERTERS or (entry.unsupported and entry.source.converter is None), name
        assert (entry.source.hash_kind == "none") == (entry.source.published_hash is None), name
        # Where the number of epochs is in the name, it is the entry's.
        match = re.search(r"_ep(\d+)", tag)
        assert match is None or int(match.group(1)) == entry.epochs, name
        for result in entry.results:
            assert result.source_url and result.source_url.startswith("https://"), name


def test_published_hash_prefixes_are_those_in_the_file_names() -> None:
    """OpenMMLab and torchvision names end in -<sha256[:8]>.pth; the registry must not have retyped them."""
    for entry in ZOO.values():
        if entry.source and entry.source.hash_kind == "sha256-prefix":
            assert entry.source.filename.removesuffix(".pth").endswith(f"-{entry.source.published_hash}"), entry.name


def test_entries_on_timms_hub_are_the_files_timms_pretrained_cfgs_name() -> None:
    """An entry that loads from timm's repo instead of its source must be the file timm's cfg made that repo from,
    for that architecture; its own preprocessing (its source's) is kept."""
    on_timm = [entry for entry in ZOO.values() if entry.published_by_timm]
    assert {entry.method for entry in on_timm} == {"dino", "dinov2", "mae", "swav"} and len(on_timm) == 18
    # timm's crops: 0.9 for the ViTs, its torchvision-v2 0.965 for SEER's RegNets, none of DINOv2's 518 px; the
    # sources' own is 0.875.
    timm_crops = {".seer": 0.965, ".lvd142m": 1.0}
    for entry in on_timm:
        cfg = timm.models.get_pretrained_cfg(entry.hub_id.removeprefix("timm/"))
        assert entry.hub_id.removeprefix("timm/").partition(".")[0] == entry.arch, entry.name
        assert cfg.hf_hub_id in ("timm/", entry.hub_id) and cfg.url == entry.source.url, entry.name
        timm_crop = timm_crops.get(entry.hub_id[entry.hub_id.rindex(".") :], 0.9)
        assert (cfg.crop_pct, entry.preprocessing.crop_pct) == (timm_crop, 0.875), entry.name


def test_mae_entries_pool_as_maes_linear_probe() -> None:
    """MAE's linear probe reads the class token after the final norm (models_vit.py with global_pool=False), which
    must be what timm builds for the architecture by default: timm's repo config sets no pooling of its own."""
    import torch

    mae = [entry for entry in ZOO.values() if entry.method == "mae" and entry.published_by_timm]
    assert [entry.arch for entry in mae] == ["vit_base_patch16_224", "vit_large_patch16_224", "vit_huge_patch14_224"]
    for entry in mae:
        with torch.device("meta"):
            model = timm.create_model(entry.arch, num_classes=0)
        assert (model.global_pool, type(model.fc_norm).__name__, entry.model_args) == ("token", "Identity", {})
        assert (entry.preprocessing.interpolation, entry.preprocessing.crop_pct) == ("bicubic", 0.875), entry.name


def test_dinov2_entries_pool_as_dinov2s_knn_and_take_its_224_px_on_timms_518_px_architectures() -> None:
    """DINOv2's k-NN reads the class token after the final norm (eval/knn.py:258), timm's default for these
    architectures; timm builds them for 518 px, the grid of the files' position embedding, and the entries'
    224 px (data/transforms.py:77-91) passes only with dynamic_img_size."""
    import torch

    dinov2 = [entry for entry in ZOO.values() if entry.method == "dinov2"]
    assert len(dinov2) == 8 and {entry.source.converter for entry in dinov2} == {"dinov2"}
    image = torch.zeros(1, 3, 224, 224)
    for entry in dinov2:
        with torch.device("meta"):
            model = timm.create_model(entry.arch, num_classes=0)
            assert (model.global_pool, type(model.fc_norm).__name__) == ("token", "Identity"), entry.name
            assert model.patch_embed.img_size == (518, 518) and entry.preprocessing.input_size == (3, 224, 224)
            assert entry.model_args == {"dynamic_img_size": True}, entry.name
        if entry.arch.startswith("vit_small"):
            model = timm.create_model(entry.arch, num_classes=0, **entry.model_args).eval()
            with torch.no_grad():
                assert model(image).shape == (1, 384), entry.name


# I-JEPA's encoders (src/models/vision_transformer.py:479-490@52c1ae9, vit_huge / vit_giant): embed dim, depth,
# heads and MLP width (int(dim * mlp_ratio), :162), with each release's patch size and resolution (README.md:49-88).
_IJEPA_ENCODERS = {
    "vit_huge_patch14_gap_224": (1280, 32, 16, int(1280 * 4), 14, 224),
    "vit_huge_patch16_gap_448": (1280, 32, 16, int(1280 * 4), 16, 448),
    "vit_giant_patch16_gap_224": (1408, 40, 16, int(1408 * (48 / 11)), 16, 224),
}


def test_ijepa_entries_are_timms_gap_vits_of_ijepas_encoder_shapes() -> None:
    """The tests' small stand-in cannot check the real sizes: timm's architecture of each entry, as it builds it by
    default, must be I-JEPA's encoder, without class token, pooling the mean of the normed patch tokens."""
    import torch

    ijepa = [entry for entry in ZOO.values() if entry.method == "ijepa"]
    assert sorted({entry.arch for entry in ijepa}) == sorted(_IJEPA_ENCODERS) and len(ijepa) == 4
    for entry in ijepa:
        with torch.device("meta"):
            model = timm.create_model(entry.arch, num_classes=0)
        dim, depth, heads, hidden, patch, size = _IJEPA_ENCODERS[entry.arch]
        shape = (model.embed_dim, len(model.blocks), model.blocks[0].attn.num_heads)
        assert shape + (model.blocks[0].mlp.fc1.out_features, model.patch_embed.patch_size[0]) == (
            dim,
            depth,
            heads,
            hidden,
            patch,
        ), entry.name
        assert model.cls_token is None and model.pos_embed.shape[1] == (size // patch) ** 2, entry.name
        pooling = (model.global_pool, type(model.norm).__name__, type(model.fc_norm).__name__)
        assert pooling == ("avg", "LayerNorm", "Identity") and entry.model_args == {}, entry.name
        assert entry.preprocessing.input_size == (3, size, size) and not entry.published_by_timm, entry.name


def test_each_entrys_results_on_a_dataset_have_one_source() -> None:
    """A card's model-index keeps one source per dataset (hub/cards.py model_index)."""
    for entry in ZOO.values():
        sources = {(result.dataset, result.source_url) for result in entry.results}
        assert len(sources) == len({dataset for dataset, _ in sources}), entry.name


def test_readme_model_table_is_generated_from_the_registry() -> None:
    done = subprocess.run([sys.executable, "scripts/zoo_table.py", "--check"], cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == 0, "README.md's model table is stale: run python scripts/zoo_table.py"


def test_a_card_with_several_results_parses_back_with_each_protocol_named() -> None:
    """huggingface_hub groups results by task and dataset and names a group after its first result: each metric
    must say its protocol, and no group may carry one protocol's name for another's number."""
    from huggingface_hub import ModelCard

    from simsiam_zoo.hub.cards import CardFields, render_card

    for name, expected in {
        "resnet50.dino_in1k": [("linear probe top-1 accuracy", 75.3), ("kNN top-1 accuracy", 67.5)],
        "resnet50.barlowtwins_in1k_ep1000": [
            ("linear probe top-1 accuracy", 73.5),
            ("linear probe top-5 accuracy", 91.0),
        ],
        "resnet50.swav_lightly_ep100": [
            ("linear probe top-1 accuracy", 67.2),
            ("fine-tuned top-1 accuracy", 75.4),
            ("kNN top-1 accuracy", 49.5),
        ],
    }.items():
        entry = ZOO[name]
        card = render_card(
            CardFields(
                name=name,
                repo_id=entry.hub_id,
                arch="resnet50",
                num_features=2048,
                summary=entry.summary,
                license=entry.license,
                datasets=["imagenet-1k"],
                preprocessing=entry.preprocessing,
                recipe_summary="-",
                results=entry.results,
                method=entry.method,
            )
        )
        parsed = ModelCard(card).data.eval_results
        assert [(r.metric_name, r.metric_value) for r in parsed] == expected, name
        assert {(r.task_name, r.source_url) for r in parsed} == {("Image Classification", entry.results[0].source_url)}


def test_an_entry_that_names_its_recipe_names_a_builtin_one_for_its_architecture() -> None:
    """`models --json` shows the recipe that trained an entry; it has to be one `train` can run, for that arch."""
    from simsiam_zoo.recipe import load_recipe

    with_recipe = [entry for entry in ZOO.values() if entry.recipe is not None]
    assert with_recipe
    for entry in with_recipe:
        assert entry.summary_row()["recipe"] == entry.recipe
        recipe = load_recipe(entry.recipe)
        assert (recipe.model.arch, recipe.optim.batch_size) == (entry.arch, entry.batch_size), entry.name
