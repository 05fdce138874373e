"""The demo's report folder: PNG plots (matplotlib), report.md and report.html, the model card."""

from __future__ import annotations

import html
import importlib.resources
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from simsiam_zoo._io import atomic_directory
from simsiam_zoo.data import FASHION_MNIST_CLASSES
from simsiam_zoo.demo.settings import COLLAPSE_SETTINGS, FINAL_STEPS, LONGER_RUN_FILE, PROBE_SETTINGS
from simsiam_zoo.pretrain import TrainResult, read_steps
from simsiam_zoo.recipe import Recipe

RETRIEVAL_QUERIES, RETRIEVAL_NEIGHBOURS = 6, 8
METRICS = (
    ("knn_top1", "kNN"),
    ("linear_top1", "linear probe"),
    ("few_label_knn_top1", "kNN, few labels"),
    ("few_label_linear_top1", "linear probe, few labels"),
    ("digits_knn_top1", "digits kNN"),
    ("digits_linear_top1", "digits linear probe"),
)
# The demo's goal (README): above the random init on these, and not below it on digits transfer.
GOAL_ABOVE = ("linear_top1", "few_label_linear_top1")
GOAL_NOT_BELOW = ("digits_knn_top1", "digits_linear_top1")


def _shown(value: float) -> float:
    """A score as the report prints it (two decimals): signs are taken from what the reader sees."""
    return round(value, 2)


def comparisons(ours: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """One line per metric: both scores and the difference, with its sign in words."""
    lines, few = [], str(ours.get("few_labels", "few"))
    for key, label in METRICS:
        label = label.replace("few", few)
        difference = _shown(_shown(ours[key]) - _shown(baseline[key]))
        side = "above" if difference > 0 else "below" if difference < 0 else "level with"
        lines.append(
            f"- {label}: {_shown(ours[key]):.2f}% against {_shown(baseline[key]):.2f}%, "
            f"{abs(difference):.2f} points {side} it"
        )
    return lines


def goal_verdict(ours: dict[str, Any], baseline: dict[str, Any]) -> str:
    """Whether `ours` meets the demo's goal against `baseline`, naming each metric that misses it."""
    few = str(ours.get("few_labels", "few"))
    misses = [
        f"{'not above' if key in GOAL_ABOVE else 'below'} it on the {label.replace('few', few)}"
        for key, label in METRICS
        if (key in GOAL_ABOVE and _shown(ours[key]) <= _shown(baseline[key]))
        or (key in GOAL_NOT_BELOW and _shown(ours[key]) < _shown(baseline[key]))
    ]
    if not misses:
        return "The pretrained backbone beats the random init on both linear probes and is not below it on digits."
    return f"The pretrained backbone does not meet the demo's goal here: it is {'; '.join(misses)}."


def _plot_training(main: TrainResult, pair: tuple[TrainResult, TrainResult], folder: Path, *, dim: int) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for run, label in zip(pair, ("with stop-gradient", "without stop-gradient"), strict=True):
        steps = read_steps(run)
        axes[0].plot(steps["step"], steps["loss"], label=label)
        axes[1].plot(steps["step"], steps["z_std"], label=label)
    axes[1].axhline(dim**-0.5, color="gray", linestyle="--", label="1/sqrt(d)")
    axes[0].set(xlabel="step", ylabel="loss  (min -1)", title="Training loss (the collapse pair)")
    axes[1].set(xlabel="step", ylabel="std of l2-normalised z", title="Collapse monitor (paper Fig. 2)", ylim=(0, None))
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "loss_and_collapse.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(
        [r["epoch"] for r in main.epochs],
        [r["knn_top1"] for r in main.epochs],
        marker="o",
        label="SimSiam (the main run)",
    )
    standard = main.epochs[0].get("knn_top1_standard_init", float("nan"))
    if not math.isnan(standard):
        ax.axhline(standard, color="grey", linestyle="--", label="standard random init")
    ax.set(
        xlabel="epoch (0 = the recipe's init: last BN of each block zero)",
        ylabel="kNN top-1 %",
        title="kNN monitor (backbone features)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "knn_monitor.png", dpi=110)
    plt.close(fig)


def _plot_retrieval(
    features: tuple[torch.Tensor, ...], train_images: torch.Tensor, test_images: torch.Tensor, folder: Path
) -> None:
    import matplotlib.pyplot as plt

    train_x, train_y, test_x, test_y = features
    queries = torch.linspace(0, len(test_x) - 1, RETRIEVAL_QUERIES).long()
    similarity = F.normalize(test_x[queries], dim=1) @ F.normalize(train_x, dim=1).T
    neighbours = similarity.topk(RETRIEVAL_NEIGHBOURS, dim=1).indices
    fig, axes = plt.subplots(
        RETRIEVAL_QUERIES, RETRIEVAL_NEIGHBOURS + 1, figsize=(RETRIEVAL_NEIGHBOURS + 1, RETRIEVAL_QUERIES * 1.1)
    )
    for row, query in enumerate(queries.tolist()):
        axes[row, 0].imshow(test_images[query].numpy(), cmap="gray")
        axes[row, 0].set_title("query", fontsize=7, color="blue")
        for col, index in enumerate(neighbours[row].tolist(), start=1):
            axes[row, col].imshow(train_images[index].numpy(), cmap="gray")
            same = int(train_y[index]) == int(test_y[query])
            axes[row, col].set_title(
                FASHION_MNIST_CLASSES[int(train_y[index])], fontsize=6, color="green" if same else "red"
            )
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Nearest neighbours in SimSiam feature space (green: same class)", fontsize=9)
    fig.tight_layout()
    fig.savefig(folder / "retrieval.png", dpi=110)
    plt.close(fig)


def _plot_embedding(features: tuple[torch.Tensor, ...], folder: Path) -> None:
    import matplotlib.pyplot as plt

    _, _, test_x, test_y = features
    centred = F.normalize(test_x, dim=1)
    centred = centred - centred.mean(0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    points = centred @ v[:, :2]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    scatter = ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), c=test_y.numpy(), cmap="tab10", s=4)
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=scatter.cmap(scatter.norm(i)), label=name)
        for i, name in enumerate(FASHION_MNIST_CLASSES)
    ]
    ax.legend(handles=handles, fontsize=6, loc="best")
    ax.set(title="Test embeddings, first two principal components", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(folder / "embedding_pca.png", dpi=110)
    plt.close(fig)


def _collapse_text(
    main: TrainResult, pair: tuple[TrainResult, TrainResult], collapse: dict[str, float], recipe: Recipe
) -> str:
    with_sg, without = collapse["stop_gradient"], collapse["no_stop_gradient"]
    paired = recipe.replace(COLLAPSE_SETTINGS)
    main_steps = read_steps(main)
    verdict = (
        f"Without stop-gradient z has collapsed to {without / with_sg:.0%} of the stop-gradient run's spread "
        "(the paper's Fig. 2)."
        if without < 0.5 * with_sg
        else f"Without stop-gradient z kept {without / with_sg:.0%} of the stop-gradient run's spread: this pair "
        "did not show the collapse of the paper's Fig. 2 (README's longer runs do)."
    )
    return (
        f"The same network and augmentation with and without stop-gradient ({pair[0].step} and {pair[1].step} "
        f"steps of batch {paired.optim.batch_size} at {paired.data.image_size} px, lr {paired.optim.lr:g}, weight "
        f"decay {paired.optim.weight_decay:g}; every step logged). Final std of l2-normalised z (mean of the "
        f"last {FINAL_STEPS} steps): with stop-gradient {with_sg:.4f} (1/sqrt(d) = "
        f"{recipe.model.dim**-0.5:.4f}), without {without:.4f}; final loss "
        f"{read_steps(pair[0])['loss'][-1]:.3f} and "
        f"{read_steps(pair[1])['loss'][-1]:.3f} (its minimum is -1). {verdict} The main run's last step (step "
        f"{main.step}): loss {main_steps['loss'][-1]:.3f}, z-std {main_steps['z_std'][-1]:.4f}."
    )


def longer_run() -> dict[str, Any]:
    """The measured longer run the report shows beside this one (`LONGER_RUN_FILE`, shipped with the package):
    its command, when and where it was measured, its length, and its SimSiam and random-init rows."""
    return json.loads((importlib.resources.files("simsiam_zoo.demo") / LONGER_RUN_FILE).read_text())


def _longer_label(longer: dict[str, Any], row: dict[str, Any]) -> str:
    return (
        f"{row['features']}, longer run: `{longer['command']}` ({longer['steps']} steps, "
        f"{longer['wall_minutes']:.0f} min; measured {longer['measured']}, not this run)"
    )


def _tables(rows: list[dict[str, Any]], longer_rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    shown = [*rows[:1], *longer_rows[:1], *rows[1:]]
    table = ["| features | dim | kNN top-1 (k=20) | linear probe top-1 |", "| --- | --- | --- | --- |"]
    table += [f"| {r['features']} | {r['dim']} | {r['knn_top1']:.2f}% | {r['linear_top1']:.2f}% |" for r in shown]
    few = rows[0]["few_labels"]
    where_it_matters = [
        f"| features | kNN, {few} labels | linear, {few} labels | digits kNN | digits linear |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r['features']} | {r['few_label_knn_top1']:.2f}% | {r['few_label_linear_top1']:.2f}% | "
            f"{r['digits_knn_top1']:.2f}% | {r['digits_linear_top1']:.2f}% |"
            for r in shown
        ),
    ]
    return table, where_it_matters


def _draw_spread(random: dict[str, Any]) -> list[str]:
    """How much one random-init draw alone varies, where the row is a mean of draws."""
    if "range" not in random:
        return []
    (knn_low, knn_high), (linear_low, linear_high) = random["range"]["knn_top1"], random["range"]["linear_top1"]
    return [
        f"One random init alone varies: the draws span {knn_low:.2f}-{knn_high:.2f}% on kNN and "
        f"{linear_low:.2f}-{linear_high:.2f}% on the linear probe.",
        "",
    ]


def _longer_text(longer: dict[str, Any]) -> list[str]:
    ours, random = longer["rows"]
    return [
        f"The longer run ({longer['command']}, the same recipe, split and protocols, measured once on "
        f"{longer['machine']}), against the same {random['features']}:",
        "",
        *comparisons(ours, random),
        "",
        goal_verdict(ours, random),
    ]


def _earlier_steps(main: TrainResult) -> str:
    """Says how many of the run's steps an earlier demo trained: a rerun resumes its folder, and its minutes
    count only its own."""
    return f", {main.resumed_at} of them by an earlier run in this folder" if main.resumed_at else ""


def _markdown(rows: list[dict[str, Any]], main: TrainResult, collapse_text: str, recipe: Recipe, minutes: float) -> str:
    longer = longer_run()
    longer_rows = [{**longer["rows"][0], "features": _longer_label(longer, longer["rows"][0])}]
    table, where_it_matters = _tables(rows, longer_rows)
    few = rows[0]["few_labels"]
    ours, random = rows[0], rows[1]
    return "\n".join(
        [
            "# simsiam-zoo demo report",
            "",
            f"Fashion-MNIST, {recipe.model.arch} at {recipe.data.image_size} px, recipe `{recipe.name}` "
            f"({main.step} steps of batch {recipe.optim.batch_size}{_earlier_steps(main)}); whole demo "
            f"{minutes:.1f} min.",
            "",
            "## Frozen-feature evaluation",
            "",
            *table,
            "",
            f"The linear probe here: {PROBE_SETTINGS}, the same for every row (`simsiam-zoo eval linear`, six "
            "decays and 200 iterations, gives another number on these features).",
            "",
            f"Against {random['features']}, the fair baseline (same network, standard init, same protocols):",
            "",
            *comparisons(ours, random),
            "",
            goal_verdict(ours, random),
            "",
            *_draw_spread(random),
            *_longer_text(longer),
            "",
            f"Where pretrained features matter to users: few labels (kNN and linear probe trained on {few} "
            "class-balanced images, 1% of Fashion-MNIST's training labels; the same test images) and transfer to a "
            "second dataset (scikit-learn's 8x8 digits, 80/20 split; raw pixels are its 64 originals).",
            "",
            *where_it_matters,
            "",
            "## Collapse monitor",
            "",
            collapse_text,
            "",
            "![loss and collapse monitor](loss_and_collapse.png)",
            "",
            "![kNN monitor](knn_monitor.png)",
            "",
            "![retrieval](retrieval.png)",
            "",
            "![embedding](embedding_pca.png)",
            "",
            "The exported model card is [model_card.md](model_card.md).",
            "",
        ]
    )


def _html(markdown: str) -> str:
    body = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            header = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in header) + "</tr>")
            i += 2
            while i < len(lines) and lines[i].startswith("| "):
                cells = [html.escape(c.strip()) for c in lines[i].strip("|").split("|")]
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
                i += 1
            body.append("</table>")
            continue
        if line.startswith("!["):
            alt, _, src = line[2:-1].partition("](")
            body.append(f'<p><img src="{html.escape(src)}" alt="{html.escape(alt)}"></p>')
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("The exported model card"):
            body.append('<p>The exported model card is <a href="model_card.md">model_card.md</a>.</p>')
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
        i += 1
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .8em;text-align:right}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>simsiam-zoo demo</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


@dataclass(frozen=True)
class DemoRuns:
    """The demo's pretraining: its main run and recipe, and the pair with and without stop-gradient with the final
    z-std of each (`stop_gradient`, `no_stop_gradient`)."""

    main: TrainResult
    recipe: Recipe
    collapse_pair: tuple[TrainResult, TrainResult]
    collapse: dict[str, float]


@dataclass(frozen=True)
class Retrieval:
    """The main run's (train, test) features and labels, and the raw images they came from, for the plots."""

    features: tuple[torch.Tensor, ...]
    train_images: torch.Tensor
    test_images: torch.Tensor


def write_report(
    folder: Path, *, rows: list[dict[str, Any]], runs: DemoRuns, retrieval: Retrieval, card: str, minutes: float
) -> Path:
    """Build the report in a temp sibling folder and swap it in whole; returns report.html."""
    import matplotlib

    matplotlib.use("Agg")
    with atomic_directory(folder, kind="demo-report") as staging:
        _plot_training(runs.main, runs.collapse_pair, staging, dim=runs.recipe.model.dim)
        _plot_retrieval(retrieval.features, retrieval.train_images, retrieval.test_images, staging)
        _plot_embedding(retrieval.features, staging)
        collapse_text = _collapse_text(runs.main, runs.collapse_pair, runs.collapse, runs.recipe)
        markdown = _markdown(rows, runs.main, collapse_text, runs.recipe, minutes)
        (staging / "report.md").write_text(markdown)
        (staging / "results.json").write_text(
            json.dumps({"rows": rows, "steps": runs.main.step, "minutes": minutes}, indent=1) + "\n"
        )
        (staging / "report.html").write_text(_html(markdown))
        (staging / "model_card.md").write_text(card)
    return folder / "report.html"
