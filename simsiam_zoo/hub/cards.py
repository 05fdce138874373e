"""Model cards rendered from data: huggingface_hub ModelCardData + EvalResult and a template in cards/."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from simsiam_zoo.hub.folder import Preprocessing
from simsiam_zoo.hub.registry import Result

TEMPLATE = Path(__file__).resolve().parents[2] / "cards" / "model_card.md"
LICENSE_TEXT = {
    "cc-by-nc-4.0": "CC-BY-NC 4.0, as the official SimSiam weights it derives from (non-commercial use).",
    "mit": "MIT. Trained on Fashion-MNIST (MIT licence, Zalando Research).",
    "apache-2.0": "Apache-2.0.",
}


def render_card(
    *,
    name: str,
    repo_id: str,
    arch: str,
    num_features: int,
    summary: str,
    license: str,
    datasets: Sequence[str],
    preprocessing: Preprocessing,
    recipe_summary: str,
    results: Sequence[Result] = (),
) -> str:
    """The README.md of a hub folder; `{{weights_sha256}}` is filled in by `write_hub_folder`."""
    eval_results = [
        EvalResult(
            task_type="image-classification",
            task_name=f"{result.task} evaluation",
            dataset_type=result.dataset,
            dataset_name=result.dataset,
            metric_type="accuracy",
            metric_name=f"{result.task} {result.metric}",
            metric_value=result.value,
            # The Hub schema wants a URL whenever a source is named; unlinked sources stay in the table.
            source_name=result.source if result.source_url else None,
            source_url=result.source_url,
        )
        for result in results
    ] or None
    data = ModelCardData(
        license=license,
        library_name="timm",
        pipeline_tag="image-feature-extraction",
        tags=["image-feature-extraction", "self-supervised", "simsiam", "timm"],
        datasets=list(datasets),
        model_name=name,
        eval_results=eval_results,
    )
    card = ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        name=name,
        repo_id=repo_id,
        arch=arch,
        num_features=num_features,
        summary=summary,
        input_size=" x ".join(str(v) for v in preprocessing.input_size),
        interpolation=preprocessing.interpolation,
        crop_pct=preprocessing.crop_pct,
        mean=", ".join(f"{v:.3f}" for v in preprocessing.mean),
        std=", ".join(f"{v:.3f}" for v in preprocessing.std),
        results=list(results),
        recipe_summary=recipe_summary,
        license_text=LICENSE_TEXT.get(license, license),
    )
    return str(card)
