"""Model cards rendered from data: huggingface_hub ModelCardData + EvalResult and a template in cards/."""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from simsiam_zoo.hub.folder import Preprocessing
from simsiam_zoo.hub.registry import METHODS as METHOD_TITLES
from simsiam_zoo.hub.registry import Result

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
PROTOCOLS = {"linear": "linear probe", "knn": "kNN", "finetune": "fine-tuned", "supervised": "supervised classifier"}
# The paper of each method, for the card's citation: (bibtex key, title, authors, venue, year, arXiv id).
PAPERS = {
    "simsiam": ("chen2021simsiam", "Exploring Simple Siamese Representation Learning", "Chen, Xinlei and He, Kaiming",
                "CVPR", 2021, "2011.10566"),
    "mocov1": ("he2020moco", "Momentum Contrast for Unsupervised Visual Representation Learning",
               "He, Kaiming and Fan, Haoqi and Wu, Yuxin and Xie, Saining and Girshick, Ross", "CVPR", 2020,
               "1911.05722"),
    "mocov2": ("chen2020mocov2", "Improved Baselines with Momentum Contrastive Learning",
               "Chen, Xinlei and Fan, Haoqi and Girshick, Ross and He, Kaiming", "arXiv", 2020, "2003.04297"),
    "mocov3": ("chen2021mocov3", "An Empirical Study of Training Self-Supervised Vision Transformers",
               "Chen, Xinlei and Xie, Saining and He, Kaiming", "ICCV", 2021, "2104.02057"),
    "dino": ("caron2021dino", "Emerging Properties in Self-Supervised Vision Transformers",
             "Caron, Mathilde and Touvron, Hugo and Misra, Ishan and J{\\'e}gou, Herv{\\'e} and Mairal, Julien and "
             "Bojanowski, Piotr and Joulin, Armand", "ICCV", 2021, "2104.14294"),
    "swav": ("caron2020swav", "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
             "Caron, Mathilde and Misra, Ishan and Mairal, Julien and Goyal, Priya and Bojanowski, Piotr and "
             "Joulin, Armand", "NeurIPS", 2020, "2006.09882"),
    "barlowtwins": ("zbontar2021barlow", "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
                    "Zbontar, Jure and Jing, Li and Misra, Ishan and LeCun, Yann and Deny, St{\\'e}phane", "ICML",
                    2021, "2103.03230"),
    "vicreg": ("bardes2022vicreg", "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised "
               "Learning", "Bardes, Adrien and Ponce, Jean and LeCun, Yann", "ICLR", 2022, "2105.04906"),
    "vicregl": ("bardes2022vicregl", "VICRegL: Self-Supervised Learning of Local Visual Features",
                "Bardes, Adrien and Ponce, Jean and LeCun, Yann", "NeurIPS", 2022, "2210.01571"),
    "byol": ("grill2020byol", "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
             "Grill, Jean-Bastien and others", "NeurIPS", 2020, "2006.07733"),
    "densecl": ("wang2021densecl", "Dense Contrastive Learning for Self-Supervised Visual Pre-Training",
                "Wang, Xinlong and Zhang, Rufeng and Shen, Chunhua and Kong, Tao and Li, Lei", "CVPR", 2021,
                "2011.09157"),
    "simclr": ("chen2020simclr", "A Simple Framework for Contrastive Learning of Visual Representations",
               "Chen, Ting and Kornblith, Simon and Norouzi, Mohammad and Hinton, Geoffrey", "ICML", 2020,
               "2002.05709"),
    "pirl": ("misra2020pirl", "Self-Supervised Learning of Pretext-Invariant Representations",
             "Misra, Ishan and van der Maaten, Laurens", "CVPR", 2020, "1912.01991"),
    "npid": ("wu2018npid", "Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
             "Wu, Zhirong and Xiong, Yuanjun and Yu, Stella X. and Lin, Dahua", "CVPR", 2018, "1805.01978"),
    "supervised": ("he2016resnet", "Deep Residual Learning for Image Recognition",
                   "He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian", "CVPR", 2016, "1512.03385"),
}
PAPERS["deepclusterv2"] = PAPERS["selav2"] = PAPERS["swav"]  # both are introduced in the SwAV paper


def citation(method: str) -> str:
    key, title, authors, venue, year, arxiv = PAPERS[method]
    return (f"@inproceedings{{{key},\n  title     = {{{title}}},\n  author    = {{{authors}}},\n"
            f"  booktitle = {{{venue}}},\n  year      = {{{year}}},\n  eprint    = {{{arxiv}}}\n}}")


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
    method: str | None = "simsiam",
    license_note: str | None = None,
) -> str:
    """The README.md of a hub folder; `{{weights_sha256}}` is filled in by `write_hub_folder`."""
    # The Hub groups results by (task type, dataset, config, split, revision) and gives each group the task name
    # and source of its first result: every protocol on one dataset is one group, so the task name is the task's,
    # the protocol is in each metric's name, and one source must hold for the whole group.
    sources = {}
    for result in results:
        if sources.setdefault(result.dataset, result.source_url) != result.source_url:
            raise ValueError(f"results on {result.dataset} from two sources; the Hub's model-index keeps one")
    eval_results = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=result.dataset,
            dataset_name=result.dataset,
            metric_type="accuracy",
            metric_name=f"{PROTOCOLS.get(result.task, result.task)} {result.metric}",
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
        tags=["image-feature-extraction", "supervised" if method == "supervised" else "self-supervised",
              *([method] if method else []), "timm"],
        datasets=list(datasets),
        model_name=name,
        eval_results=eval_results,
    )
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
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
        license_text=" ".join(filter(None, (LICENSE_TEXT.get(license, license), license_note))),
        method=method,
        method_title=METHOD_TITLES.get(method or "", method),
        paper_url=f"https://arxiv.org/abs/{PAPERS[method][5]}" if method in PAPERS else None,
        citation=citation(method) if method in PAPERS else None,
    )
    return str(card)
