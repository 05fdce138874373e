"""Finding entries: old names still resolve, selections filter and keep their order, by architecture too, and
`simsiam-zoo models` lists them as a table or JSON."""

from __future__ import annotations

import json

import pytest

from simsiam_zoo.zoo import ALIASES, ZOO, find_entry, get_entry, select_entries
from tests.builders import run_cli


def test_old_names_still_resolve() -> None:
    assert get_entry("simsiam_resnet50.in1k_ep100_bs512").name == "resnet50.simsiam_in1k_ep100_bs512"
    assert find_entry("simsiam_resnet18.fashion_mnist_demo").name == "resnet18.simsiam_fashion_mnist_demo"
    assert all(find_entry(alias) is ZOO[name] for alias, name in ALIASES.items())


def test_selection_filters_and_order() -> None:
    mocov3 = [e.name for e in select_entries("mocov3", license="APACHE-2.0")]
    vits = [f"vit_{size}_patch16_224.mocov3_mmpretrain_ep300" for size in ("base", "large", "small")]
    assert mocov3 == [f"resnet50.mocov3_mmpretrain_ep{n}" for n in (100, 300, 800)] + vits
    assert {e.method for e in select_entries(method="swav")} == {"swav"}
    assert "resnet50.byol_in1k" not in {e.name for e in select_entries()}
    assert "resnet50.byol_in1k" in {e.name for e in select_entries(include_unsupported=True)}
    # A pattern with wildcards is a glob over the whole name, as timm's and benchmark's (it matched no name).
    simsiam = [e.name for e in select_entries("RESNET50.SIMSIAM*")]
    assert simsiam and all(name.startswith("resnet50.simsiam_") for name in simsiam)
    assert [e.name for e in select_entries("*simsiam*demo")] == ["resnet18.simsiam_fashion_mnist_demo"]
    assert select_entries("simsiam*demo") == []


def test_selection_and_models_by_architecture() -> None:
    small = [e.name for e in select_entries(arch="VIT_SMALL_PATCH16_224")]
    tags = ["dino_in1k", "dino_lightly_ep100", "dino_gldv2", "dino_vissl_ep300", "ibot_lightly_ep100"]
    tags += ["ibot_in1k_ep800", "lejepa_lightly_ep100"]
    tags += ["mocov3_in1k_ep300", "mocov3_mmpretrain_ep300"]
    assert small == [f"vit_small_patch16_224.{tag}" for tag in tags]
    done = run_cli("models", "--arch", "vit_base_patch16_224", "--json")
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    tags = ("dino_in1k", "mocov3_in1k_ep300", "mocov3_mmpretrain_ep300", "mae_in1k_ep1600", "mae_lightly_ep100")
    tags += ("ibot_in1k", "ibot_in1k_randmask", *(f"mae_mmpretrain_ep{n}" for n in (300, 400, 800, 1600)))
    tags += ("milan_mmpretrain_ep400", "eva_mmpretrain_ep400", "maskfeat_mmpretrain_ep300", "ibot_in22k")
    tags += (*(f"mff_mmpretrain_ep{n}" for n in (300, 800)), *(f"pixmim_mmselfsup_ep{n}" for n in (300, 800)))
    assert set(rows) == {f"vit_base_patch16_224.{tag}" for tag in tags}
    assert rows["vit_base_patch16_224.dino_in1k"]["hub_id"] == "timm/vit_base_patch16_224.dino"
    regnets = {arch: [e.name for e in select_entries(arch=arch)] for arch in ("regnety_160", "regnety_1280")}
    assert regnets == {
        "regnety_160": ["regnety_160.swav_vissl_ep800"],
        "regnety_1280": ["regnety_1280.seer_ig1b", "regnety_1280.swav_vissl_ep400"],
    }
    seer = [e.name for e in select_entries(method="swav") if e.pretrain_dataset == "ig-1b"]
    assert seer == [f"{arch}.seer_ig1b" for arch in ("regnety_1280", "regnety_320", "regnety_640")]  # by name
    listing = run_cli("models", "--arch", "resnet50").stdout.splitlines()
    assert listing[-1].startswith(f"{len(select_entries(arch='resnet50'))} models")
    assert all(line.startswith("resnet50.") for line in listing[1:-1])


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--method", "dinov", "'dinov': no zoo entry has it; did you mean dinov2, dino?"),
        ("--licence", "bogus", "'bogus': no zoo entry has it"),
        ("--arch", "resnet5", "'resnet5': no zoo entry has it; did you mean resnet50"),
    ],
)
def test_a_filter_no_entry_has_is_a_usage_error(option: str, value: str, expected: str) -> None:
    """A misspelt filter listed "0 models" and said nothing of why."""
    done = run_cli("models", option, value)
    assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_models_cli_table_and_json() -> None:
    listing = run_cli("models", "--method", "simsiam")
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()[1:-1]]
    assert ["resnet50.simsiam_in1k_ep100_bs512", "simsiam", "100", "512", "68.1", "cc-by-nc-4.0", "no"] in rows
    assert listing.stdout.splitlines()[-1].startswith(f"{len(rows)} models")
    # Names longer than 42 characters pushed their row's columns out of line; one entry was "1 models".
    lines = run_cli("models", "mocov3_mmpretrain").stdout.splitlines()
    assert len({line.index(" mocov3 ") for line in lines[1:-1]} | {lines[0].index(" method ")}) == 1, lines
    assert (
        run_cli("models", "vit_base_patch16_224.mocov3_mmpretrain_ep300")
        .stdout.splitlines()[-1]
        .startswith("1 model; ")
    )
    done = run_cli("models", "byol", "--all", "--json")
    entries = {row["name"]: row for row in json.loads(done.stdout)}
    assert entries["resnet50.byol_in1k"]["unsupported"].startswith("a JAX/Haiku dill pickle")
    mm = entries["resnet50.byol_mmpretrain_ep200"]
    assert (mm["converter"], mm["source_hash"], mm["linear_top1"], mm["cached"]) == (
        "mmselfsup",
        "sha256-prefix:de817331",
        71.8,
        "no",
    )


def test_a_name_in_other_case_is_pointed_at_the_entry() -> None:
    """`download RESNET50.VICREG_IN1K` was told only that `models` lists the entries (no name is near by letters)."""
    from simsiam_zoo.errors import UnknownModelError

    with pytest.raises(
        UnknownModelError, match=r"^RESNET50.VICREG_IN1K: unknown zoo model; did you mean resnet50.vicreg_in1k\?$"
    ):
        get_entry("RESNET50.VICREG_IN1K")
