"""The offline main job end to end with a tiny budget: files, numbers, the published model."""

from __future__ import annotations

import re

import pytest
import torch

from simsiam_zoo.data import FASHION_MNIST_DIR
from simsiam_zoo.demo import DEMO_MODEL, run_demo
from simsiam_zoo.hub.folder import validate_hub_folder
from simsiam_zoo.hub.loader import load_backbone
from simsiam_zoo.hub.registry import ZOO


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_demo_with_a_tiny_budget(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out_dir=out, minutes=0.4, eval_train_images=1000, eval_test_images=300, monitor_bank=200,
                      monitor_queries=100, progress=False)
    report = out / "report"
    assert result.report == report / "report.html"
    for name in ("report.html", "report.md", "model_card.md", "loss_and_collapse.png", "knn_monitor.png",
                 "retrieval.png", "embedding_pca.png"):
        assert (report / name).stat().st_size > 0, name
    assert [row["features"] for row in result.table] == [
        "SimSiam (this run)", "random-init ResNet-18 (standard init)", "raw pixels (28x28)"]
    for row in result.table:
        assert 10.0 <= row["knn_top1"] <= 100.0 and 10.0 <= row["linear_top1"] <= 100.0
    markdown = (report / "report.md").read_text()
    ours = result.table[0]
    assert f"| SimSiam (this run) | 512 | {ours['knn_top1']:.2f}% | {ours['linear_top1']:.2f}% |" in markdown
    # Published to the local hub directory with this run's numbers in the model-index, and loadable by name.
    published = out / "local_hub" / ZOO[DEMO_MODEL].hub_id
    validate_hub_folder(published)
    card = (published / "README.md").read_text()
    assert re.search(rf"value: {ours['knn_top1']:.2f}".rstrip("0").rstrip("."), card)
    loaded = load_backbone(DEMO_MODEL, hub_dir=out / "local_hub")
    from_run = load_backbone(next(out.glob("run-[0-9]*")))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), from_run.model(x), atol=1e-6, rtol=0)
    assert not list(out.rglob("*.tmp"))

    # A second run with the same budget reuses the saved plan: the same run folders, the finished collapse run
    # untouched (no new plan from new timings, no retraining), and a complete report again.
    runs = sorted(p.name for p in out.glob("run-*"))
    plan = (out / "plan.json").read_bytes()
    collapse = next(out.glob("run-no-stop-gradient-*")) / "checkpoint.pt"
    collapse_bytes = collapse.read_bytes()
    again = run_demo(out_dir=out, minutes=0.4, eval_train_images=1000, eval_test_images=300, monitor_bank=200,
                     monitor_queries=100, progress=False)
    assert sorted(p.name for p in out.glob("run-*")) == runs
    assert (out / "plan.json").read_bytes() == plan and collapse.read_bytes() == collapse_bytes
    assert again.table[1:] == result.table[1:]  # the random-init and pixel baselines are deterministic
    assert (report / "report.html").stat().st_size > 0 and not list(out.rglob("*.tmp"))
