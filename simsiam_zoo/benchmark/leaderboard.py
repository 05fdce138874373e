"""The leaderboard of a benchmark: leaderboard.json (every record), .csv, .md and .html (models as rows sorted by
mean rank over the table's columns, the best of each column marked), a heatmap of models x datasets and, where the
zoo publishes their ImageNet linear top-1, each model's mean score against it with the rank correlation."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import torch

from simsiam_zoo._io import atomic_write_bytes, atomic_write_text
from simsiam_zoo.errors import OutputRefused
from simsiam_zoo.zoo import find_entry

# The table's columns per dataset: (label, protocol, the record field that picks a variant, its value).
_FIXED_COLUMNS = (("kNN", "knn", "k", 20), ("linear", "linear", None, None))


def columns(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None, Any]]:
    """(dataset, label, protocol, field, value) of each table column, in the records' dataset order."""
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    shots = sorted({r["shots"] for r in records if r["protocol"] == "fewshot-linear"})
    per_dataset = [*_FIXED_COLUMNS, *((f"{s}-shot linear", "fewshot-linear", "shots", s) for s in shots)]
    # A number of shots left out on one dataset (its smallest class too small) is no column of it.
    present = {(r["dataset"], r["protocol"], r.get(field)) for r in records for field in ("shots", None)}
    return [
        (d, label, p, field, value)
        for d in datasets
        for label, p, field, value in per_dataset
        if (d, p, value if field == "shots" else None) in present
    ]


def table(records: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, list[float | None], float]]]:
    """The column headers and, per model sorted by mean rank (best first), its scores and mean rank."""
    cols = columns(records)
    models = list(dict.fromkeys(r["model"] for r in records))
    scores = {m: [_score(records, m, *col) for col in cols] for m in models}
    ranks: dict[str, list[float]] = {m: [] for m in models}
    for index in range(len(cols)):
        present = [m for m in models if scores[m][index] is not None]
        if present:  # the best score ranks 1
            for model, rank in zip(present, _ranks([-scores[m][index] for m in present]).tolist(), strict=True):
                ranks[model].append(rank)
    rows = [(m, scores[m], sum(ranks[m]) / len(ranks[m]) if ranks[m] else float("nan")) for m in models]
    rows.sort(key=lambda row: (row[2], row[0]))
    return [f"{d} {label}" for d, label, *_ in cols], rows


def _score(
    records: list[dict[str, Any]], model: str, dataset: str, _: str, protocol: str, field: str | None, value: Any
) -> float | None:
    return next(
        (
            r["top1"]
            for r in records
            if r["model"] == model
            and r["dataset"] == dataset
            and r["protocol"] == protocol
            and (field is None or r.get(field) == value)
        ),
        None,
    )


LEADERBOARD_FILES = ("leaderboard.json", "leaderboard.csv", "leaderboard.md", "leaderboard.html", "heatmap.png")


def check_leaderboard_paths(out: Path) -> None:
    """OutputRefused where a leaderboard file's place holds something else (a folder): found after all the work,
    it failed with a raw errno and left the files of two runs side by side."""
    for name in LEADERBOARD_FILES:
        if (out / name).exists() and not (out / name).is_file():
            raise OutputRefused(f"{out / name}: not a file, where the benchmark writes its {name}; move it away")


def write_leaderboard(out: Path, records: list[dict[str, Any]]) -> None:
    """Every output file, each written whole; the same records always give the same bytes."""
    headers, rows = table(records)
    atomic_write_text(out / "leaderboard.json", json.dumps(records, indent=1, sort_keys=True) + "\n")
    atomic_write_text(out / "leaderboard.csv", _csv(headers, rows))
    correlation = imagenet_correlation(rows)
    atomic_write_text(out / "leaderboard.md", _markdown(headers, rows, correlation))
    atomic_write_text(out / "leaderboard.html", _html(headers, rows, correlation))
    atomic_write_bytes(out / "heatmap.png", _heatmap_png(*dataset_means(records, rows)))


def dataset_means(
    records: list[dict[str, Any]], rows: list[tuple[str, list[float | None], float]]
) -> tuple[list[str], list[str], torch.Tensor]:
    """(models by mean rank, datasets, each model's mean table score on each dataset; NaN where none), from the
    records and their `table` rows."""
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    cols = columns(records)
    means = torch.full((len(rows), len(datasets)), float("nan"), dtype=torch.float64)
    for i, (_, scores, _) in enumerate(rows):
        for j, dataset in enumerate(datasets):
            values = [s for s, col in zip(scores, cols, strict=True) if col[0] == dataset and s is not None]
            if values:
                means[i, j] = sum(values) / len(values)
    return [row[0] for row in rows], datasets, means


def imagenet_correlation(
    rows: list[tuple[str, list[float | None], float]],
) -> tuple[list[tuple[str, float, float]], float | None]:
    """(model, its mean table score, its published ImageNet linear top-1) for the zoo models that have one, and
    Spearman's rank correlation of the two (None for fewer than three models)."""
    pairs = []
    for model, scores, _ in rows:
        entry = find_entry(model)
        present = [s for s in scores if s is not None]
        if entry is not None and entry.linear_top1 is not None and present:
            pairs.append((model, sum(present) / len(present), entry.linear_top1))
    if len(pairs) < 3:
        return pairs, None
    mean_ranks, published_ranks = (_ranks([p[i] for p in pairs]) for i in (1, 2))
    return pairs, float(torch.corrcoef(torch.stack([mean_ranks, published_ranks]))[0, 1])


def _ranks(values: list[float]) -> torch.Tensor:
    """Ranks from 1, ties sharing the mean of theirs (as Spearman's correlation needs)."""
    tensor = torch.tensor(values, dtype=torch.float64)
    return torch.tensor(
        [float((tensor < v).sum()) + (float((tensor == v).sum()) + 1) / 2 for v in values], dtype=torch.float64
    )


def _cell(score: float | None, best: float | None, *, bold: tuple[str, str]) -> str:
    if score is None:
        return "–"
    text = f"{score:.2f}"
    return f"{bold[0]}{text}{bold[1]}" if best is not None and score == best else text


def _bests(rows: list[tuple[str, list[float | None], float]], count: int) -> list[float | None]:
    return [max((r[1][i] for r in rows if r[1][i] is not None), default=None) for i in range(count)]


def _csv(headers: list[str], rows: list[tuple[str, list[float | None], float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", *headers, "mean rank"])
    for model, scores, rank in rows:
        writer.writerow([model, *("" if s is None else f"{s:.4f}" for s in scores), f"{rank:.4f}"])
    return buffer.getvalue()


def _markdown(
    headers: list[str],
    rows: list[tuple[str, list[float | None], float]],
    correlation: tuple[list[tuple[str, float, float]], float | None],
) -> str:
    bests = _bests(rows, len(headers))
    lines = [
        "# Benchmark leaderboard",
        "",
        "Top-1 accuracy (%) on each dataset's test split; models sorted by mean "
        "rank over the columns, the best of each column in bold. `random-init` is the same architecture with "
        "the standard initialisation, `pixels` the raw pixels.",
        "",
        "| model | " + " | ".join(map(_markdown_text, headers)) + " | mean rank |",
        "| --- " * (len(headers) + 2) + "|",
    ]
    for model, scores, rank in rows:
        cells = " | ".join(_cell(s, b, bold=("**", "**")) for s, b in zip(scores, bests, strict=True))
        lines.append(f"| {_markdown_text(model)} | {cells} | {rank:.2f} |")
    lines += ["", "![mean top-1 per dataset](heatmap.png)", "", *_correlation_lines(correlation)]
    return "\n".join(lines) + "\n"


def _markdown_text(text: str) -> str:
    """`text` as one table cell: a pipe split a model's row into more columns, a line break into two rows."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _correlation_lines(correlation: tuple[list[tuple[str, float, float]], float | None]) -> list[str]:
    pairs, rho = correlation
    if not pairs:
        return []
    lines = [
        "Mean score here against the published ImageNet linear top-1 (Ericsson et al.'s question: does ImageNet "
        "rank transfer?):",
        "",
        "| model | mean top-1 here | ImageNet linear top-1 (published) |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {_markdown_text(model)} | {mean:.2f} | {published:.1f} |" for model, mean, published in pairs]
    lines += [
        "",
        f"Spearman's rank correlation: {rho:.3f}"
        if rho is not None
        else "Spearman's rank correlation: needs three or more zoo models with a published number.",
    ]
    return lines


def _html(
    headers: list[str],
    rows: list[tuple[str, list[float | None], float]],
    correlation: tuple[list[tuple[str, float, float]], float | None],
) -> str:
    bests = _bests(rows, len(headers))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["model", *headers, "mean rank"])
    body = "".join(
        "<tr><td>"
        + html.escape(model)
        + "</td>"
        + "".join(f"<td>{_cell(s, b, bold=('<b>', '</b>'))}</td>" for s, b in zip(scores, bests, strict=True))
        + f"<td>{rank:.2f}</td></tr>"
        for model, scores, rank in rows
    )
    extra = "".join(
        f"<p>{html.escape(line)}</p>" for line in _correlation_lines(correlation) if line and not line.startswith("|")
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>Benchmark leaderboard</title>"
        "<style>td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}</style>"
        f"<h1>Benchmark leaderboard</h1><table><tr>{head}</tr>{body}</table>"
        f"<p><img src='heatmap.png' alt='mean top-1 per dataset'></p>{extra}\n"
    )


def _heatmap_png(models: list[str], datasets: list[str], means: torch.Tensor) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label_inches = 0.08 * max(len(model) for model in models)  # room for the longest model name
    fig, ax = plt.subplots(figsize=(label_inches + 1.2 * len(datasets), 0.8 + 0.4 * len(models)))
    ax.imshow(means.numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_yticks(range(len(models)), models)
    for i in range(len(models)):
        for j in range(len(datasets)):
            if not torch.isnan(means[i, j]):
                ax.text(j, i, f"{float(means[i, j]):.1f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title("mean top-1 (%) per dataset", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same bytes each run
    plt.close(fig)
    return buffer.getvalue()
