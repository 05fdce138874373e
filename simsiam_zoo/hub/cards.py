"""Model cards rendered from data: huggingface_hub ModelCardData + EvalResult and a template in cards/."""

from __future__ import annotations

import importlib.resources
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.errors import HubFolderError
from simsiam_zoo.zoo import Result
from simsiam_zoo.zoo.methods import METHODS, Paper

PROJECT_URL = "https://github.com/simsiam-zoo/simsiam-zoo"
# cards/ at the top of the repository, installed as the package simsiam_zoo.cards (see pyproject.toml).
TEMPLATE = importlib.resources.files("simsiam_zoo.cards") / "model_card.md"
LICENSE_TEXT = {
    "cc-by-nc-4.0": "CC BY-NC 4.0: non-commercial use only, with attribution "
    "(https://creativecommons.org/licenses/by-nc/4.0/).",
    "mit": "MIT.",
    "apache-2.0": "Apache-2.0.",
    "bsd-3-clause": "BSD-3-Clause.",
    "unknown": "Not stated by the source of the weights: ask its authors before you use or pass them on.",
}
# The Hub's licence ids (https://huggingface.co/docs/hub/repositories-licenses) that weights here are published under.
HUB_LICENSES = {
    "apache-2.0",
    "mit",
    "bsd-2-clause",
    "bsd-3-clause",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc-by-nc-nd-4.0",
    "cc0-1.0",
    "gpl-3.0",
    "lgpl-3.0",
    "agpl-3.0",
    "mpl-2.0",
    "openrail",
    "unknown",
    "other",
}
# The datasets this project names, by their Hub ids; anything else (a user's folder, generated images, scikit-learn's
# digits) has no Hub id and is left out of the card's `datasets`.
HUB_DATASET_IDS = {"fashion_mnist": "zalando-datasets/fashion_mnist", "imagenet-1k": "imagenet-1k"}
PROTOCOLS = {"linear": "linear probe", "knn": "kNN", "finetune": "fine-tuned", "supervised": "supervised classifier"}


def _paper(method: str | None) -> Paper | None:
    return METHODS[method].paper if method in METHODS else None


def paper_id(method: str | None) -> str | None:
    """The method's paper as timm's pretrained cfg names papers (`arXiv:ID`)."""
    paper = _paper(method)
    return paper.paper_id if paper else None


def read_card(path: Path) -> ModelCard:
    """`ModelCard.load` of a card file, without huggingface_hub's log line for a card with no metadata ("Repo card
    metadata block was not found", printed raw beside the one-line messages): the caller says what that means."""
    logger = logging.getLogger("huggingface_hub.repocard")

    def keep(record: logging.LogRecord) -> bool:
        return "metadata block was not found" not in record.getMessage()

    logger.addFilter(keep)
    try:
        return ModelCard.load(path)
    finally:
        logger.removeFilter(keep)


def shown_on_a_card(name: str) -> str:
    """A local file or folder as its last part (a published card names the data or model, not the user's path);
    anything else (a zoo name, a named dataset) as it is."""
    return Path(name).resolve().name if os.path.exists(name) else name


def hub_dataset_ids(datasets: Sequence[str]) -> list[str]:
    """The Hub dataset ids of those of `datasets` that have one."""
    known = set(HUB_DATASET_IDS.values())
    return [HUB_DATASET_IDS.get(name, name) for name in datasets if HUB_DATASET_IDS.get(name, name) in known]


def license_metadata(license: str, *, name: str | None = None, link: str | None = None) -> dict[str, str]:
    """The card's licence fields: a Hub licence id, or `other` with the `license_name` and `license_link` the Hub
    asks for (a HubFolderError names what is missing)."""
    if license not in HUB_LICENSES:
        raise HubFolderError(
            f"licence {license!r} is not a Hub licence id ({', '.join(sorted(HUB_LICENSES))}); use "
            "'other' with a licence name and link"
        )
    if license != "other":
        return {"license": license}
    if not (name and link):
        raise HubFolderError("licence 'other' needs a licence name and a link to its text (the Hub shows both)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise HubFolderError(f"licence name {name!r}: the Hub takes lower-case letters, digits, '.' and '-'")
    return {"license": "other", "license_name": name, "license_link": link}


def _preprocessing_table(preprocessing: Preprocessing) -> dict[str, str | float]:
    return {
        "input_size": " x ".join(str(v) for v in preprocessing.input_size),
        "interpolation": preprocessing.interpolation,
        "crop_pct": preprocessing.crop_pct,
        "mean": ", ".join(f"{v:.3f}" for v in preprocessing.mean),
        "std": ", ".join(f"{v:.3f}" for v in preprocessing.std),
    }


def license_sentence(license: str, name: str | None, link: str | None) -> str:
    """What the card's licence section says: this project's sentence for a known licence, else its name and link."""
    return LICENSE_TEXT.get(license, f"{name}: {link}" if license == "other" else license)


def model_index(results: Sequence[Result]) -> list[EvalResult]:
    """The card's model-index entries. The Hub groups results by (task type, dataset, config, split, revision) and
    gives each group the task name and source of its first result: every protocol on one dataset is one group, so
    the task name is the task's, the protocol is in each metric's name, and one source must hold for the group."""
    sources = {}
    for result in results:
        if sources.setdefault(result.dataset, result.source_url) != result.source_url:
            raise ValueError(f"results on {result.dataset} from two sources; the Hub's model-index keeps one")
    return [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=HUB_DATASET_IDS.get(result.dataset, result.dataset),
            dataset_name=result.dataset,
            metric_type="accuracy",
            metric_name=f"{PROTOCOLS.get(result.task, result.task)} {result.metric}",
            metric_value=result.value,
            # The Hub schema wants a URL whenever a source is named; unlinked sources stay in the table.
            source_name=result.source if result.source_url else None,
            source_url=result.source_url,
        )
        for result in results
    ]


@dataclass(frozen=True, kw_only=True)
class CardFields:
    """What a hub folder's card says: the model, its licence, data, preprocessing, provenance and results.

    `class_names` makes it a classifier's card (image-classification); `base_model`, the Hub id of the backbone it
    was fine-tuned from, lets the Hub draw the model tree. Without a `repo_id` (a folder not published yet), the
    usage loads it with `local-dir:`. simsiam-zoo loads a `zoo_entry` (a name the zoo registers, in the entry's own
    repo) by its name, any other by its `hf-hub:` id (the name alone was an unknown zoo model, or the entry's)."""

    name: str
    repo_id: str | None
    arch: str
    num_features: int
    summary: str
    license: str
    datasets: Sequence[str]
    preprocessing: Preprocessing
    recipe_summary: str
    results: Sequence[Result] = ()
    method: str | None = "simsiam"
    license_note: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    class_names: Sequence[str] = ()
    base_model: str | None = None
    zoo_entry: bool = False


def render_card(fields: CardFields) -> str:
    """The README.md of a hub folder; `{{weights_sha256}}` is filled in by `write_hub_folder`."""
    f = fields
    paper = _paper(f.method)
    task = "image-classification" if f.class_names else "image-feature-extraction"
    data = ModelCardData(
        **license_metadata(f.license, name=f.license_name, link=f.license_link),
        library_name="timm",
        pipeline_tag=task,
        # transformers loads timm folders (TimmWrapperModel); tests/hub/test_folder.py checks it gives timm's outputs.
        tags=[
            task,
            "supervised" if f.method == "supervised" else "self-supervised",
            *([f.method] if f.method else []),
            "timm",
            "transformers",
        ],
        datasets=hub_dataset_ids(f.datasets) or None,
        base_model=f.base_model,
        model_name=f.name,
        eval_results=model_index(f.results) or None,
    )
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        name=f.name,
        repo_id=f.repo_id,
        zoo_entry=f.zoo_entry,
        load_id=f.name if f.zoo_entry else f"hf-hub:{f.repo_id}" if f.repo_id else "PATH_TO_THIS_FOLDER",
        arch=f.arch,
        num_features=f.num_features,
        summary=f.summary,
        **_preprocessing_table(f.preprocessing),
        results=list(f.results),
        recipe_summary=f.recipe_summary,
        license_text=" ".join(
            filter(None, (license_sentence(f.license, f.license_name, f.license_link), f.license_note))
        ),
        method=f.method,
        method_title=METHODS[f.method].title if f.method in METHODS else f.method,
        paper_url=f"https://arxiv.org/abs/{paper.arxiv}" if paper else None,
        citation=paper.bibtex() if paper else None,
        project_url=PROJECT_URL,
        class_names=list(f.class_names),
        base_model=f.base_model,
    )
    return str(card)
