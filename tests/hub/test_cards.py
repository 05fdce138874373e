"""Model cards as the Hugging Face Hub reads them: dataset ids, licences, the base model of a classifier."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from simsiam_zoo.errors import HubFolderError
from simsiam_zoo.hub.cards import render_card
from tests.builders import card_fields


def _card(**overrides: object) -> ModelCard:
    return ModelCard(render_card(card_fields(**{"datasets": ["fashion_mnist", "imagefolder", "fake"], **overrides})))


def test_card_datasets_are_hub_ids() -> None:
    assert _card().data.datasets == ["zalando-datasets/fashion_mnist"]
    assert _card(datasets=["imagefolder"]).data.datasets is None


def test_card_licence_other_needs_a_name_and_a_link() -> None:
    card = _card(license="other", license_name="weights-licence", license_link="https://example.org/LICENSE")
    assert (card.data.license, card.data.license_name, card.data.license_link) == (
        "other",
        "weights-licence",
        "https://example.org/LICENSE",
    )
    with pytest.raises(HubFolderError, match="needs a licence name and a link"):
        _card(license="other")
    with pytest.raises(HubFolderError, match="not a Hub licence id"):
        _card(license="MIT License")


def test_classifier_card_names_its_base_model() -> None:
    card = _card(class_names=["cat", "dog"], base_model="simsiam-zoo/resnet18.x")
    assert card.data.pipeline_tag == "image-classification"
    assert card.data.base_model == "simsiam-zoo/resnet18.x" and "cat, dog" in card.text


def test_a_local_path_is_shown_on_a_card_by_its_folders_name(tmp_path, monkeypatch) -> None:
    """A classifier's card named the user's paths; then the current folder, `.`, was shown as an empty name."""
    from simsiam_zoo.hub.cards import shown_on_a_card

    (tmp_path / "pets").mkdir()
    monkeypatch.chdir(tmp_path / "pets")
    assert [shown_on_a_card(name) for name in (str(tmp_path / "pets"), ".", "./", "fashion_mnist")] == [
        "pets",
        "pets",
        "pets",
        "fashion_mnist",
    ]
