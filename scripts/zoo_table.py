"""The README's model table, generated from the registry (simsiam_zoo/zoo/entries.py), never written by hand.

.venv/bin/python scripts/zoo_table.py            # rewrite the table in README.md between its markers
.venv/bin/python scripts/zoo_table.py --check    # exit 1 if README.md's table is not the registry's
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simsiam_zoo.zoo import METHODS, select_entries

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"


def table() -> str:
    rows = [
        "| name | method | epochs | batch | IN-1k linear top-1 | licence | source layout | published hash |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in select_entries(include_unsupported=True):
        source = entry.source
        linear = f"{entry.linear_top1:g}" if entry.linear_top1 is not None else "–"
        if entry.method == "supervised":
            linear = f"({next(r.value for r in entry.results):g}, supervised)"
        published = (
            f"{source.hash_kind.split('-')[0]} `{source.published_hash}`" if source and source.published_hash else "–"
        )
        layout = f"[{source.converter}]({source.url})" if source else "this project's demo"
        if entry.published_by_timm:
            layout = f"timm's [{entry.hub_id}](https://huggingface.co/{entry.hub_id}) of [this file]({source.url})"
        if entry.unsupported:
            layout = f"not supported: {entry.unsupported.split(':')[0]}"
        rows.append(
            f"| `{entry.name}` | {METHODS[entry.method].title} | {entry.epochs or '–'} | {entry.batch_size or '–'} "
            f"| {linear} | {entry.license} | {layout} | {published} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    updated = f"{head}{START}\n{table()}\n{END}{tail}"
    if args.check:
        sys.exit(0 if updated == text else 1)
    README.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
