"""Two torchrun ranks (gloo, CPU) with synchronised BatchNorm == one process with the doubled batch."""

import csv
import subprocess
import sys

import pytest
import torch

from simsiam_zoo.checkpoint import CHECKPOINT_NAME, load_checkpoint


def _epoch_loss(run_dir) -> float:
    with open(run_dir / "metrics.csv") as f:
        return float(list(csv.DictReader(f))[-1]["loss"])


def test_two_rank_torchrun_matches_one_process_with_the_global_batch(tiny_recipe, tmp_path):
    recipe = tiny_recipe.replace(
        {"data.fake_size": 16, "data.knn_train_size": 0, "optim.epochs": 1, "optim.batch_size": 8}
    )
    recipe_file = tmp_path / "recipe.yaml"
    recipe.save(recipe_file)
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    train_args = ["-m", "simsiam_zoo.cli", "train", str(recipe_file)]
    subprocess.run([sys.executable, *train_args, "--output", str(single)], check=True, capture_output=True)
    _torchrun([*train_args, "--output", str(ddp)])
    one, two = load_checkpoint(single / CHECKPOINT_NAME), load_checkpoint(ddp / CHECKPOINT_NAME)
    assert one["step"] == two["step"] == 2
    assert _epoch_loss(single) == pytest.approx(_epoch_loss(ddp), abs=1e-5)
    # Two SGD steps with momentum: equal parameters mean equal gradients at every step (and equal
    # BN running statistics mean the batch statistics covered the global batch).
    for key, value in one["model"].items():
        assert torch.allclose(value.float(), two["model"][key].float(), atol=1e-5), key
    grads_one = one["optimizer"]["state"]
    grads_two = two["optimizer"]["state"]
    for index in grads_one:
        assert torch.allclose(grads_one[index]["momentum_buffer"], grads_two[index]["momentum_buffer"], atol=1e-5)

    # The comparison is sharp enough to see per-rank BatchNorm statistics: without SyncBN it differs.
    _torchrun([*train_args, "--output", str(tmp_path / "local_bn"), "--set", "run.sync_batchnorm=false"])
    local = load_checkpoint(tmp_path / "local_bn" / CHECKPOINT_NAME)["model"]
    assert any(not torch.allclose(value.float(), local[key].float(), atol=1e-5) for key, value in one["model"].items())


def _torchrun(args: list[str]) -> None:
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args],
        capture_output=True, text=True, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
