"""The offline main job end to end with a tiny budget: files, numbers, the published model."""

from __future__ import annotations

import csv
import json
import re
import warnings

import pytest
import torch

from simsiam_zoo.data import FASHION_MNIST_DIR
from simsiam_zoo.demo import DEMO_EPOCHS, DEMO_MODEL, run_demo
from simsiam_zoo.demo.settings import PROBE_SETTINGS
from simsiam_zoo.hub.folder import validate_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.zoo import ZOO


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs apt-get install dataset-fashion-mnist")
@pytest.mark.filterwarnings("ignore:--minutes 0.4 is below what the demo needs")
def test_demo_with_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    result = run_demo(
        out_dir=out,
        minutes=0.4,
        eval_train_images=1000,
        eval_test_images=300,
        monitor_bank=200,
        monitor_queries=100,
    )
    # Each stage is said as it starts (the first line came after minutes of calibration and baselines).
    stages = [line.split("] ", 1)[1].split(" ")[:2] for line in capsys.readouterr().out.splitlines() if "[demo" in line]
    assert [" ".join(words) for words in stages[:4]] == [
        "timing a",
        "the baselines:",
        "the collapse",
        "pretraining resnet18",
    ]
    report = out / "report"
    assert result.report == report / "report.html"
    for name in (
        "report.html",
        "report.md",
        "model_card.md",
        "loss_and_collapse.png",
        "knn_monitor.png",
        "retrieval.png",
        "embedding_pca.png",
    ):
        assert (report / name).stat().st_size > 0, name
    assert [row["features"] for row in result.table] == [
        "SimSiam (this run)",
        "random-init ResNet-18 (standard init), mean of 3 draws",
        "raw pixels (28x28)",
    ]
    # Chance is 10% on each. The baselines hold far more; the tiny run's backbone, a few steps from the recipe's
    # nearly constant init, still well above chance.
    for row, floor in zip(result.table, (20.0, 40.0, 40.0), strict=True):
        for key in (
            "knn_top1",
            "linear_top1",
            "few_label_knn_top1",
            "few_label_linear_top1",
            "digits_knn_top1",
            "digits_linear_top1",
        ):
            assert floor <= row[key] <= 100.0, (row["features"], key, row[key])
    assert result.table[0]["few_labels"] == 600  # 1% of Fashion-MNIST's labels, 60 a class
    # The kNN monitor's epoch 0 has both inits: the recipe's (zeroed residual branches, nearly constant features)
    # and the standard one, the fair baseline, far above it.
    with open(next(out.glob("run-[0-9]*")) / "metrics.csv") as f:
        epoch0 = next(csv.DictReader(f))
    assert float(epoch0["knn_top1_standard_init"]) > float(epoch0["knn_top1"]) + 15
    # The collapse pair (the paper's Fig. 2): without stop-gradient the final z-std is below half of the
    # stop-gradient run's, which stays near 1/sqrt(d); the report states both.
    with_sg, without = result.collapse["stop_gradient"], result.collapse["no_stop_gradient"]
    assert with_sg > 0.8 / 512**0.5 and without < 0.5 * with_sg, result.collapse
    assert f"with stop-gradient {with_sg:.4f}" in (report / "report.md").read_text()
    assert f"without {without:.4f}" in (report / "report.md").read_text()
    # Every run logs every step, so the collapse figure has a point per step.
    for run in out.glob("run-*"):
        checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
        with open(run / "steps.csv") as f:
            assert [int(row["step"]) for row in csv.DictReader(f)] == list(range(1, checkpoint["step"] + 1))
    markdown = (report / "report.md").read_text()
    ours = result.table[0]
    assert f"| SimSiam (this run) | 512 | {ours['knn_top1']:.2f}% | {ours['linear_top1']:.2f}% |" in markdown
    assert f"| SimSiam (this run) | {ours['few_label_knn_top1']:.2f}% | " in markdown
    # Beside this run, the measured longer run, labelled with its command, length and date, and its comparisons.
    assert "| SimSiam, longer run: `simsiam-zoo demo --minutes 30` (1170 steps, 25 min; measured 2026-12-04" in markdown
    assert "The longer run (simsiam-zoo demo --minutes 30, the same recipe, split and protocols" in markdown
    assert json.loads((report / "results.json").read_text())["rows"] == json.loads(json.dumps(result.table))
    # Published to the local hub directory with this run's numbers in the model-index, and loadable by name.
    published = out / "local_hub" / ZOO[DEMO_MODEL].hub_id
    validate_hub_folder(published)
    card = (published / "README.md").read_text()
    assert re.search(rf"value: {ours['knn_top1']:.2f}".rstrip("0").rstrip("."), card)
    # The probe's settings, cheaper than `eval linear`'s, are said where its number is (it gave another in silence).
    assert f"The linear probe here: {PROBE_SETTINGS}, the same for every row" in markdown
    assert f"linear probe top-1 accuracy (cached features, {PROBE_SETTINGS}, 300 test images)" in " ".join(card.split())
    loaded = load_backbone(DEMO_MODEL, hub_dir=out / "local_hub")
    from_run = load_backbone(next(out.glob("run-[0-9]*")))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), from_run.model(x), atol=1e-6, rtol=0)
    assert not list(out.rglob("*.tmp"))

    # A second run with the same budget reuses the saved plan and the finished runs: the same run folders, the
    # collapse pair untouched, the main run resumed if its deadline stopped it (no new plan from new timings, no
    # retraining from scratch), and a complete report again.
    runs = sorted(p.name for p in out.glob("run-*"))
    plan = (out / "plan.json").read_bytes()
    pair = sorted(out.glob("run-collapse-*/checkpoint.pt"))
    assert [p.parent.name for p in pair] == ["run-collapse-no-stop-gradient", "run-collapse-stop-gradient"]
    pair_bytes = [p.read_bytes() for p in pair]
    main = next(out.glob("run-[0-9]*")) / "checkpoint.pt"
    saved = torch.load(main, weights_only=True)
    main_bytes, main_step, planned = main.read_bytes(), saved["step"], saved["records"]["horizon"]
    again = run_demo(
        out_dir=out,
        minutes=0.4,
        eval_train_images=1000,
        eval_test_images=300,
        monitor_bank=200,
        monitor_queries=100,
        progress=False,
    )
    assert sorted(p.name for p in out.glob("run-*")) == runs
    assert (out / "plan.json").read_bytes() == plan
    assert [p.read_bytes() for p in pair] == pair_bytes and again.collapse == result.collapse
    if main_step == planned:  # finished: untouched
        assert main.read_bytes() == main_bytes
    else:  # stopped at its deadline: resumed, not restarted
        assert torch.load(main, weights_only=True)["step"] > main_step
    # Its report counts the steps an earlier run trained, since its minutes are its own only.
    assert f"{main_step} of them by an earlier run in this folder" in (report / "report.md").read_text()
    # The random-init and pixel baselines are deterministic: the rerun takes their rows from the plan.
    assert json.loads(plan)["baselines"]["rows"] == json.loads(json.dumps(result.table[1:])) == again.table[1:]
    assert (report / "report.html").stat().st_size > 0 and not list(out.rglob("*.tmp"))


class SimulatedMachine:
    """A clock that only ResNet forwards move: each costs `seconds_per_pixel` per image pixel, three times that with
    gradients (a backward costs about two forwards). The demo, its runs and the step loop read this clock instead of
    the real one, so the deadline logic is tested on a machine of known speed, whatever this machine's speed and
    load."""

    def __init__(self, seconds_per_pixel: float):
        self.seconds_per_pixel, self.now = seconds_per_pixel, 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import timm.models.resnet as resnet

        import simsiam_zoo.demo.run
        import simsiam_zoo.pretrain

        for module in (simsiam_zoo.demo.run, simsiam_zoo.pretrain):
            monkeypatch.setattr(module, "time", self)
        forward = resnet.ResNet.forward

        def timed_forward(model, x):
            self.now += x.numel() / x.shape[1] * self.seconds_per_pixel * (3 if torch.is_grad_enabled() else 1)
            return forward(model, x)

        monkeypatch.setattr(resnet.ResNet, "forward", timed_forward)


# Four times this project's 2-core machine: 4.4 s for a training step of 256 pairs of 32 px views.
SIMULATED_STEP_SECONDS = 4.4
FOUR_TIMES_SLOWER = SIMULATED_STEP_SECONDS / (2 * 256 * 32 * 32 * 3)


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize(("minutes", "calibration_error"), [(2.5, 1.5), (0.2, 1.0)])
def test_demo_keeps_its_budget_on_a_simulated_slow_machine(tmp_path, monkeypatch, minutes, calibration_error):
    """The budget is a deadline: on a simulated machine four times slower than this one (calibration, training,
    embedding and extraction all are), the whole demo ends within budget + 5 s of its clock, or within the minimum
    it states for that machine when the budget is below it (said in a warning). Deterministic: no wall clock.

    With 2.5 minutes the calibration says 1.5x the steps' real time (a machine busy while it calibrates, or whose
    speed drifts, README): the main run's schedule is fitted to its deadline from its own pace, so it trains past
    its planned epochs and ends its schedule where its time ends (the planned steps alone leave a third unused)."""
    import simsiam_zoo.demo.run as demo_run

    clock = SimulatedMachine(FOUR_TIMES_SLOWER)
    clock.install(monkeypatch)
    calibrate, train, main_runs = demo_run._calibrate, demo_run.train, []

    def miscalibrated(*args):
        seconds_per_step, seconds_per_image = calibrate(*args)
        return calibration_error * seconds_per_step, seconds_per_image

    def timed_train(recipe, **kwargs):
        began = clock.monotonic()
        result = train(recipe, **kwargs)
        if kwargs.get("fit_to_deadline"):
            main_runs.append((result, clock.monotonic() - began, kwargs["max_minutes"] * 60))
        return result

    monkeypatch.setattr(demo_run, "_calibrate", miscalibrated)
    monkeypatch.setattr(demo_run, "train", timed_train)
    # The stages before the main run at a fraction of their size: this test is of the budget, which counts their
    # measured time whatever they are (test_demo_with_a_tiny_budget runs them whole), and they were two thirds of
    # its minutes (small steps and evaluations cost this machine far more than the simulated clock).
    monkeypatch.setattr(demo_run, "COLLAPSE_STEPS", 8)
    monkeypatch.setattr(demo_run, "RANDOM_INIT_DRAWS", 1)
    # The simulated clock has no warm-up: one timed step gives the calibration what seven give on a real machine.
    monkeypatch.setattr(demo_run, "CALIBRATION_WARMUP", 0)
    monkeypatch.setattr(demo_run, "CALIBRATION_STEPS", 1)
    started = clock.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_demo(
            out_dir=tmp_path / "demo",
            minutes=minutes,
            eval_train_images=1000,
            eval_test_images=300,
            monitor_bank=200,
            monitor_queries=100,
            progress=False,
            started=started,
        )
    elapsed = clock.monotonic() - started
    below = [str(w.message) for w in caught if "is below what the demo needs" in str(w.message)]
    assert bool(below) == (result.minimum_minutes > minutes), below
    assert elapsed <= max(minutes, result.minimum_minutes) * 60 + 5, (elapsed, result.minimum_minutes)
    # The minimum is an estimate of the work, not a bound so loose that any run would keep it. It reserves steps'
    # time for export, publishing and plots, which the simulated clock does not charge.
    unsimulated = demo_run.FIXED_STEPS * SIMULATED_STEP_SECONDS * calibration_error
    assert result.minimum_minutes * 60 < 1.5 * (elapsed + unsimulated)
    assert result.report.stat().st_size > 0
    if not below:
        [(main, took, window)] = main_runs
        planned = DEMO_EPOCHS * (json.loads((tmp_path / "demo" / "plan.json").read_text())["main_images"] // 256)
        assert main.step == main.total_steps > planned
        assert 0.9 * window <= took <= window + 2 * 4.4, (took, window)


@pytest.mark.parametrize("seed", range(3))
def test_the_report_words_each_comparison_as_its_numbers_say(seed: int) -> None:
    """Every metric's line says above, below or level as its two printed numbers do (ties and differences that
    vanish at two decimals included), and the goal's verdict follows the goal's metrics."""
    import random

    from simsiam_zoo.demo.report import METRICS, comparisons, goal_verdict

    rng = random.Random(seed)
    baseline = {key: round(rng.uniform(60, 95), 2) for key, _ in METRICS}
    ours = {key: value + rng.choice([-3.0, -0.004, 0.0, 0.003, 2.5]) for key, value in baseline.items()}
    lines = comparisons({**ours, "few_labels": 600}, baseline)
    assert len(lines) == len(METRICS) and any("600 labels" in line for line in lines)
    for line in lines:
        found = re.fullmatch(r"- .+: ([\d.]+)% against ([\d.]+)%, ([\d.]+) points (above|below|level with) it", line)
        assert found, line
        mine, theirs, gap, side = float(found[1]), float(found[2]), float(found[3]), found[4]
        assert side == ("above" if mine > theirs else "below" if mine < theirs else "level with"), line
        assert gap == pytest.approx(abs(mine - theirs), abs=0.006), line
    met = all(round(ours[k], 2) > round(baseline[k], 2) for k in ("linear_top1", "few_label_linear_top1")) and all(
        round(ours[k], 2) >= round(baseline[k], 2) for k in ("digits_knn_top1", "digits_linear_top1")
    )
    assert goal_verdict(ours, baseline).startswith(
        "The pretrained backbone beats" if met else "The pretrained backbone does not meet"
    )
    better = {key: value + 1 for key, value in baseline.items()}
    assert goal_verdict(better, baseline).startswith("The pretrained backbone beats")
    assert "it is below it on the digits kNN." in goal_verdict(
        {**better, "digits_knn_top1": baseline["digits_knn_top1"] - 0.01}, baseline
    )


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_a_users_plan_json_is_not_taken_for_a_demos(tmp_path) -> None:
    """A folder holding a `plan.json` was taken for a demo's of a version before markers: the user's file was
    replaced once the timing ended, the demo's files put beside their own."""
    from simsiam_zoo.errors import OutputRefused

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "plan.json").write_text('{"my": "project plan"}')
    (folder / "notes.md").write_text("thesis")
    with pytest.raises(OutputRefused, match=r"project: exists and was not written by simsiam-zoo \(plan.json is not"):
        run_demo(out_dir=folder, minutes=0.1, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md", "plan.json"]
    assert (folder / "plan.json").read_text() == '{"my": "project plan"}'
    # A demo's folder of an earlier version, unmarked, its plan keyed on the budget and device alone, is still one.
    from simsiam_zoo.demo.run import _Plan

    (folder / "plan.json").write_text('{"key": {"minutes": 5.0, "device": "cpu"}, "main_images": 2048}')
    assert _Plan(folder, minutes=5.0, device="cpu", sizes=(10, 5)).values == {
        "key": {"minutes": 5.0, "device": "cpu", "evaluation_images": [10, 5]}
    }


def test_a_demo_plan_holding_values_of_other_shapes_chooses_them_again(tmp_path) -> None:
    """An edited or damaged plan's `timings: "ab"` or baselines without their seconds were tracebacks on the rerun
    (TypeError, KeyError); its settings of a features folder of `[1]`, an AttributeError."""
    from simsiam_zoo._io import write_marker
    from simsiam_zoo.demo.run import _baselines_whole, _checked, _Plan, _positive_numbers, _weights_of

    write_marker(tmp_path, "demo")
    key = {"minutes": 1.0, "device": "cpu", "evaluation_images": [10, 5]}
    saved = {"key": key, "timings": "ab", "baselines": {"rows": [{}, {}]}, "main_images": 512}
    (tmp_path / "plan.json").write_text(json.dumps(saved))
    plan = _Plan(tmp_path, minutes=1.0, device="cpu", sizes=(10, 5))
    assert plan.get("timings", lambda: (0.5, 0.01), valid=lambda value: _positive_numbers(value, 2)) == [0.5, 0.01]
    assert not _checked(_baselines_whole, saved["baselines"])
    assert plan.get("main_images", lambda: 256, valid=lambda value: value > 0) == 512  # valid: kept
    assert json.loads((tmp_path / "plan.json").read_text())["timings"] == [0.5, 0.01]
    (tmp_path / "settings.json").write_text("[1]")
    assert _weights_of(tmp_path / "settings.json") is None
