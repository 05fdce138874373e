"""Two torchrun ranks (gloo, CPU): pretraining with synchronised BatchNorm == one process with the doubled batch;
extraction writes the bytes one process writes."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_torch_checkpoint
from simsiam_zoo.hub.folder import WEIGHTS_NAME
from tests.builders import build_hub_folder, build_image_folder, snapshot, write_png, write_tar_shards


def _epoch_loss(run_dir, column: str = "loss") -> float:
    with open(run_dir / "metrics.csv") as f:
        return float(list(csv.DictReader(f))[-1][column])


def test_two_rank_torchrun_matches_one_process_with_the_global_batch(tiny_recipe, tmp_path):
    recipe = tiny_recipe.replace(
        {"data.fake_size": 16, "data.knn_train_size": 0, "optim.epochs": 1, "optim.batch_size": 8}
    )
    recipe_file = tmp_path / "recipe.yaml"
    recipe.save(recipe_file)
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    train_args = ["-m", "simsiam_zoo.cli", "train", str(recipe_file)]
    subprocess.run([sys.executable, *train_args, "--output", str(single)], check=True, capture_output=True)
    launched = _torchrun([*train_args, "--output", str(ddp)])
    assert launched.stdout.count("finished at step 2/2") == 1  # rank 0 reports, for the whole job
    one, two = read_torch_checkpoint(single / CHECKPOINT_NAME), read_torch_checkpoint(ddp / CHECKPOINT_NAME)
    assert one["step"] == two["step"] == 2
    assert _epoch_loss(single) == pytest.approx(_epoch_loss(ddp), abs=1e-5)
    # The whole batch's z-std (a mean of the ranks' own stds depended on the rank count).
    assert _epoch_loss(single, "z_std") == pytest.approx(_epoch_loss(ddp, "z_std"), abs=1e-6)
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
    # One image a rank, BatchNorm synchronised: the ranks' z-std of one vector each was a ValueError traceback.
    _torchrun(
        [*train_args, "--output", str(tmp_path / "one_a_rank"), "--set", "optim.batch_size=2", "--max-steps", "1"]
    )
    local = read_torch_checkpoint(tmp_path / "local_bn" / CHECKPOINT_NAME)["model"]
    assert any(not torch.allclose(value.float(), local[key].float(), atol=1e-5) for key, value in one["model"].items())

    # A rank launched with other options is refused on every rank before the run is claimed (its lr trained in
    # silence, the checkpoint's recipe saying rank 0's).
    mixed = _rank_1_given(tmp_path, [*train_args, "--output", str(tmp_path / "mixed")], "--set optim.base_lr=0.25")
    assert mixed.returncode != 0
    assert mixed.stderr.count("error: rank 1 was launched with other recipe than rank 0; launch every rank alike") == 2
    assert not (tmp_path / "mixed").exists()
    strict = _rank_1_given(tmp_path, [*train_args, "--output", str(tmp_path / "strict")], "--strict")
    assert strict.stderr.count("error: rank 1 was launched with other strict than rank 0; launch every rank") == 2
    assert not (tmp_path / "strict").exists()
    # The ranks share the global batch: 8 images are one step of batch 8 (refused as fewer than 8 x 2 ranks). A
    # rank's decoding workers are its own (they change no byte; refused as "other recipe").
    one_batch = [*train_args, "--output", str(tmp_path / "one_batch"), "--set", "data.fake_size=8"]
    launched = _rank_1_given(tmp_path, one_batch, "--set data.num_workers=1")
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert read_torch_checkpoint(tmp_path / "one_batch" / CHECKPOINT_NAME)["step"] == 1


def _rank_1_given(tmp_path: Path, args: list[str], extra: str) -> subprocess.CompletedProcess:
    """Two ranks of `python ARGS`, rank 1 given `extra` options too (through a script, as torchrun gives each rank
    the same command)."""
    per_rank = tmp_path / "per_rank.sh"
    per_rank.write_text(f'#!/bin/sh\nexec {sys.executable} {" ".join(args)} $( [ "$RANK" = 1 ] && echo {extra} )\n')
    per_rank.chmod(0o755)
    command = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python", per_rank]
    return subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=300)


def _torchrun(
    args: list[str], *, env: dict[str, str] | None = None, succeeds: bool = True
) -> subprocess.CompletedProcess:
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert (launched.returncode == 0) == succeeds, launched.stderr[-3000:]
    return launched


def _images(root: Path) -> Path:
    """Two classes of 7 and 6 images; one file in the second is not an image and is a listed skip."""
    for index in range(13):
        write_png(root / ("cat" if index < 7 else "dog") / f"{index:02d}.png", seed=index)
    (root / "dog" / "99.png").write_bytes(b"not a png")
    return root


def test_two_rank_extraction_writes_what_one_process_writes_and_resumes(tmp_path):
    model, images = build_hub_folder(tmp_path), _images(tmp_path / "images")
    # torchrun gives each of several ranks one thread; the single process gets the same, so that the comparison is
    # of the work split, not of two thread counts' float rounding.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    extract = ["-m", "simsiam_zoo.cli", "extract", str(model), str(images), "--shard-size", "3", "--num-workers", "0"]
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, *extract, "--out", str(one)], check=True, capture_output=True, env=env)
    launched = _torchrun([*extract, "--out", str(two)], env=env)
    assert snapshot(two) == snapshot(one)
    assert sorted(p.name for p in two.glob("shard-*")) == [f"shard-{n:05d}.safetensors" for n in range(5)]
    assert launched.stdout.count("embedded 13 of 14 images") == 1  # rank 0 reports, for the whole job

    # A killed job: the index and one shard of each rank (0-2 and 3-4, its stretch of the images) missing. The rerun
    # keeps the others' very files.
    for name in ("index.json", "shard-00001.safetensors", "shard-00003.safetensors"):
        (two / name).unlink()
    kept = {name: (two / name).stat().st_mtime_ns for name in ("shard-00000.safetensors", "shard-00004.safetensors")}
    _torchrun([*extract, "--out", str(two)], env=env)
    assert snapshot(two) == snapshot(one)
    assert {name: (two / name).stat().st_mtime_ns for name in kept} == kept
    # A rank launched with another shard size: refused on every rank before any work (a KeyError from each).
    mixed = _rank_1_given(tmp_path, [*extract, "--out", str(tmp_path / "mixed")], "--shard-size 4")
    assert mixed.returncode != 0
    assert mixed.stderr.count("error: rank 1 was launched with other shard_size than rank 0; launch every rank") == 2
    assert not (tmp_path / "mixed").exists()
    # A rank given other weights (another --hub-dir): refused on every rank before any work (each embedded its share
    # with its own model).
    for hub, shift in (("hub-a", 0), ("hub-b", 1)):
        folder = shutil.copytree(model, tmp_path / hub / "org" / model.name)
        weights = load_file(folder / WEIGHTS_NAME)
        save_file({key: value + shift for key, value in weights.items()}, folder / WEIGHTS_NAME)
    by_hub = [*extract[:3], f"hf-hub:org/{model.name}", *extract[4:], "--hub-dir", str(tmp_path / "hub-a")]
    mixed = _rank_1_given(tmp_path, [*by_hub, "--out", str(tmp_path / "mixed")], f"--hub-dir {tmp_path / 'hub-b'}")
    assert mixed.stderr.count("error: rank 1 was launched with other weights than rank 0;") == 2, mixed.stderr[-3000:]
    assert not (tmp_path / "mixed").exists()
    # A rank whose own hub lacks the model: its error on every rank (rank 0 died waiting, with gloo's traceback).
    (tmp_path / "hub-c").mkdir()
    lacking = _rank_1_given(tmp_path, [*by_hub, "--out", str(tmp_path / "lacking")], f"--hub-dir {tmp_path / 'hub-c'}")
    assert lacking.stderr.count("is not in the local hub directory") == 2, lacking.stderr[-3000:]
    assert "[rank" not in lacking.stderr and not (tmp_path / "lacking").exists()


READS_SCRIPT = """
import json
import os
import sys
from pathlib import Path

import timm
import torch

from simsiam_zoo import data
from simsiam_zoo.data import source
from simsiam_zoo.features import extract_features
from simsiam_zoo.finetune import finetune
from simsiam_zoo.recipe import load_recipe
from simsiam_zoo.options import RunOptions, Schedule
from simsiam_zoo.pretrain import train
from tests.builders import make_transform, tiny_model
from tests.builders import PREPROCESSING, coloured

read, shards = source._MemberReader.read, set()


def recording(self, shard, offset, size):
    shards.add(Path(shard).name)
    return read(self, shard, offset, size)


source._MemberReader.read = recording
pattern, out = sys.argv[1], Path(sys.argv[2])
recipe = load_recipe("tiny_fake").replace({"data.dataset": "imagefolder", "data.path": pattern, "optim.epochs": 1,
                                           "optim.batch_size": 4, "data.knn_train_size": 0})
reads = {}
for shuffle in ("local", "global"):
    shards.clear()
    train(recipe.replace({"data.shuffle": shuffle}), output_dir=out / shuffle, progress=False)
    reads[shuffle] = sorted(shards)
shards.clear()
extract_features(tiny_model(), make_transform(), pattern, out=out / "features", shard_size=2, num_workers=0,
                 progress=False)
reads["extract"] = sorted(shards)
shards.clear()  # the validation split is other images: the tars are read by the training steps only
torch.manual_seed(0)  # one backbone on both ranks
# Four classes: the tars' two and the colours' four (a validation label beyond the classes is refused).
finetune(timm.create_model("resnet18", num_classes=0), data.labelled_images(pattern), coloured(4, seed=0),
         num_classes=4, preprocessing=PREPROCESSING, schedule=Schedule(epochs=1, batch_size=4, lr=0.05),
         frozen_backbone=True, run=RunOptions(progress=False, shuffle="local"))
reads["finetune"] = sorted(shards)
(out / f"reads-{os.environ['RANK']}.json").write_text(json.dumps(reads))
"""


SLOW_RANK_0 = """
import os, time
if os.environ.get("RANK") == "0":  # rank 0 starts its clock 4 s after rank 1 (after the last collective before it)
    import simsiam_zoo.pretrain as pretrain
    made = pretrain._Pretraining.__init__
    def slow(self, *args, **kwargs):
        made(self, *args, **kwargs)
        time.sleep(4)
    pretrain._Pretraining.__init__ = slow
"""


def test_ranks_that_differ_in_data_clock_or_folder_stop_together(tiny_recipe, tmp_path):
    """Each rank reads the data at its path and keeps its own clock; rank 0 alone writes the run's files. Ranks
    reading other images trained in silence (or, with other counts, one died with gloo's traceback); a deadline
    reached on one rank's clock first stopped it alone; rank 0's failed write of recipe.yaml left rank 1 training
    until gloo's traceback."""
    recipe = tiny_recipe.replace({"data.knn_train_size": 0, "optim.epochs": 160, "run.log_every_steps": 2})
    recipe.save(tmp_path / "recipe.yaml")
    train = ["-m", "simsiam_zoo.cli", "train", str(tmp_path / "recipe.yaml")]
    for rank in (0, 1):
        _images(tmp_path / f"rank{rank}" / "data")
    (tmp_path / "rank1" / "data" / "cat" / "00.png").rename(tmp_path / "rank1" / "data" / "cat" / "00b.png")
    per_rank = tmp_path / "per_rank.sh"
    per_rank.write_text(f'#!/bin/sh\ncd "{tmp_path}/rank$RANK" && exec {sys.executable} "$@"\n')
    per_rank.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python"]
    args = [*train, "--data", "data", "--set", "data.dataset=imagefolder", "--output", str(tmp_path / "mixed")]
    mixed = subprocess.run([*launch, per_rank, *args], capture_output=True, text=True, timeout=300, env=env)
    assert (
        mixed.stderr.count("error: rank 1 finds other images at the data's path than rank 0 (other names); give") == 2
    )
    assert not (tmp_path / "mixed").exists()

    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_RANK_0)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path / "slow")
    run = tmp_path / "run"
    _torchrun([*train, "--output", str(run), "--max-minutes", "0.1"], env=env)
    assert read_torch_checkpoint(run / CHECKPOINT_NAME)["step"] < 160 * 4  # stopped by the deadline
    (run / "recipe.yaml").unlink()
    (run / "recipe.yaml").mkdir()  # rank 0 cannot write it
    failed = _torchrun([*train, "--output", str(run), "--max-steps", "60"], succeeds=False)
    assert failed.stderr.count(f"error: [Errno 21] Is a directory: '{run / 'recipe.yaml'}'") == 2, failed.stderr


def test_each_rank_reads_its_own_tar_shards_when_shuffling_locally_and_extracting(tmp_path):
    """Three tars of four images, two ranks: the first takes tars 0-1 (the cut at 6 moves on to tar 2's start), the
    other tar 2, in pretraining with data.shuffle=local, in a fine-tune with shuffle="local" and in extraction;
    global shuffling reads across them."""

    samples = []
    for index in range(12):
        image = io.BytesIO()
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(image, "PNG")
        samples.append((f"k{index:02d}", image.getvalue(), index % 2))
    write_tar_shards(tmp_path / "tars", samples, per_shard=4)
    script = tmp_path / "reads.py"
    script.write_text(READS_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    _torchrun([str(script), str(tmp_path / "tars" / "train-{000000..000002}.tar"), str(tmp_path / "out")], env=env)
    reads = [json.loads((tmp_path / "out" / f"reads-{rank}.json").read_text()) for rank in (0, 1)]
    for shuffle in ("local", "finetune", "extract"):
        assert set(reads[0][shuffle]) <= {"train-000000.tar", "train-000001.tar"}, shuffle
        assert reads[1][shuffle] == ["train-000002.tar"], shuffle
    assert "train-000002.tar" in reads[0]["global"] and "train-000000.tar" in reads[1]["global"]


API_SCRIPT = """
import sys

import torch.distributed as dist

from simsiam_zoo.features import extract_features
from tests.builders import make_transform, tiny_model

if sys.argv[3] == "group":
    dist.init_process_group("gloo")  # the caller's own group, not torchrun's variables, is what extraction uses
summary = extract_features(tiny_model(), make_transform(), sys.argv[1], out=sys.argv[2], shard_size=100,
                           num_workers=0, progress=False)
print(f"summary {summary.num_embedded} {summary.shards}")
if sys.argv[3] == "group":
    dist.destroy_process_group()
"""


def test_the_python_api_shares_the_work_of_a_process_group_the_caller_made(tmp_path):
    """One shard for two ranks: rank 1 has none, waits for rank 0's, and returns the same summary."""
    images, script = _images(tmp_path / "images"), tmp_path / "extract.py"
    script.write_text(API_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(script), str(images), str(one), "alone"], check=True, env=env)
    launched = _torchrun([str(script), str(images), str(two), "group"], env=env)
    assert launched.stdout.count("summary 13 1") == 2
    assert snapshot(two) == snapshot(one)


FINETUNE_SCRIPT = """
import os
import sys

import timm
import torch

from simsiam_zoo.finetune import finetune
from simsiam_zoo.options import RunOptions, Schedule
from tests.builders import PREPROCESSING, coloured

torch.manual_seed(0)
backbone = timm.create_model("resnet18", num_classes=0)
result = finetune(backbone, coloured(16, seed=1), coloured(6, seed=2), num_classes=4, preprocessing=PREPROCESSING,
                  schedule=Schedule(epochs=2, batch_size=8, lr=0.05, weight_decay=1e-4),
                  frozen_backbone=sys.argv[2] == "frozen", run=RunOptions(progress=False))
if os.environ.get("RANK", "0") == "0":
    norms = sorted({type(m).__name__ for m in result.model.modules() if "Norm" in type(m).__name__})
    torch.save({"state": result.model.state_dict(), "history": result.history, "norms": norms}, sys.argv[1])
"""


@pytest.mark.parametrize("mode", ["finetune", "frozen"])
def test_two_rank_finetune_matches_one_process_with_the_global_batch(tmp_path, mode):
    """Fine-tuning (synchronised BN) and the linear protocol (frozen backbone) on 2 gloo ranks with 4 images each:
    the parameters, losses and the sharded validation top-1 of one process with the batch of 8."""
    script = tmp_path / "finetune.py"
    script.write_text(FINETUNE_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt"), mode], check=True, env=env)
    launched = _torchrun([str(script), str(tmp_path / "two.pt"), mode], env=env)
    assert "is deprecated" not in launched.stderr  # torch's FutureWarning, once per synchronised BN a step
    one, two = (torch.load(tmp_path / name, weights_only=True) for name in ("one.pt", "two.pt"))
    assert one["norms"] == two["norms"] == ["BatchNorm2d"]  # the result has timm's modules, not the synchronised
    for key, value in one["state"].items():
        assert torch.allclose(value.float(), two["state"][key].float(), atol=1e-5), key
    assert [e["val_top1"] for e in one["history"]] == [e["val_top1"] for e in two["history"]]
    assert [e["loss"] for e in one["history"]] == pytest.approx([e["loss"] for e in two["history"]], abs=1e-5)


def test_a_finetune_whose_ranks_hold_other_backbones_is_refused_before_any_step(tmp_path):
    """Each rank's own random backbone: DDP trained rank 0's on both, and the frozen check then said rank 1's
    backbone "changed during training". The weights are now compared across ranks first."""
    script = tmp_path / "mixed.py"
    script.write_text(FINETUNE_SCRIPT.replace("torch.manual_seed(0)", "torch.manual_seed(int(os.environ['RANK']))"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launched = _torchrun([str(script), str(tmp_path / "two.pt"), "frozen"], env=env, succeeds=False)
    assert launched.stderr.count("rank 1 was launched with other weights than rank 0") == 2, launched.stderr[-3000:]
    assert not (tmp_path / "two.pt").exists()


def test_two_rank_linear_protocol_through_the_cli_reports_once_what_one_process_reports(tmp_path):
    model = build_hub_folder(tmp_path)
    for split in ("train", "val"):
        (_images(tmp_path / "data" / split) / "dog" / "99.png").unlink()  # training cannot skip an image
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    protocol = [
        "-m",
        "simsiam_zoo.cli",
        "eval",
        "linear-protocol",
        str(model),
        str(tmp_path / "data"),
        "--epochs",
        "2",
        "--batch-size",
        "6",
        "--base-lr",
        "1.0",
    ]
    subprocess.run(
        [sys.executable, *protocol, "--out", str(tmp_path / "one.json")], check=True, capture_output=True, env=env
    )
    launched = _torchrun([*protocol, "--out", str(tmp_path / "two.json")], env=env)
    assert launched.stdout.count("linear protocol") == 1
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert (two["num_train"], two["batch_size"], two["top1"]) == (one["num_train"], 6, one["top1"])
    assert [e["loss"] for e in two["history"]] == pytest.approx([e["loss"] for e in one["history"]], abs=1e-5)
    # A batch the ranks cannot share: one line on each rank, exit 3 (it was a traceback from each).
    odd = [*protocol[:-4], "--batch-size", "3", "--out", str(tmp_path / "odd.json")]
    launched = _torchrun(odd, env=env, succeeds=False)
    message = "error: batch size 3 (--batch-size) is not divisible by the 2 ranks; give a multiple of 2"
    assert launched.stderr.count(message) == 2, launched.stderr[-3000:]
    # A rank launched with other epochs: refused on every rank before training (each trained its own schedule),
    # naming the option; its own count of decoding workers changes no byte and is not named.
    mixed = _rank_1_given(tmp_path, [*protocol, "--out", str(tmp_path / "mixed.json")], "--epochs 3 --num-workers 1")
    message = "error: rank 1 was launched with other schedule.epochs than rank 0;"
    assert mixed.stderr.count(message) == 2, mixed.stderr[-3000:]
    assert "(exitcode: 3)" in launched.stderr and "ValueError" not in launched.stderr  # torchrun's own report
    # Transfer's linear probe without --cache-dir: each rank's temporary feature folder was its own, refused as
    # "launched with other out"; now a line naming --cache-dir, and with one the ranks share it.
    transfer = ["-m", "simsiam_zoo.cli", "eval", "transfer", str(model), "--dataset", f"d={tmp_path / 'data'}"]
    launched = _torchrun([*transfer, "--mode", "linear"], env=env, succeeds=False)
    message = "error: --cache-dir: under torchrun the linear probe extracts d's images into one feature folder"
    assert launched.stderr.count(message) == 2, launched.stderr[-3000:]
    # A split embedded in memory (a built-in dataset, a capped folder) needs no feature folder.
    in_memory = [*transfer[:-1], "d=digits", "--mode", "linear", "--out", str(tmp_path / "digits.json")]
    assert _torchrun(in_memory, env=env).stdout.count("d linear ") == 1  # reported once
    cached = [*transfer, "--mode", "linear", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "t.json")]
    _torchrun(cached, env=env)
    assert json.loads((tmp_path / "t.json").read_text())["rows"][0]["num_train"] == 13


def test_two_rank_benchmark_writes_the_leaderboard_one_process_writes(tmp_path):
    """Two ranks share the extraction of the data on disk (the feature stores hold the bytes one process writes),
    rank 0 alone embeds the in-memory digits and computes the cells; the leaderboard is one process's, and the
    command reports once. A rerun under torchrun computes nothing and leaves every cell as it was."""
    model, images = build_hub_folder(tmp_path), build_image_folder(tmp_path / "colours")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    benchmark = [
        *("-m", "simsiam_zoo.cli", "benchmark", str(model), "--data", f"colours={images}", "--data", "digits=digits"),
        *("--protocol", "knn", "--protocol", "linear", "--num-workers", "0", "--train-limit", "300"),
        *("--test-limit", "100"),
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, *benchmark, "--out", str(one)], check=True, capture_output=True, env=env)
    launched = _torchrun([*benchmark, "--out", str(two)], env=env)
    assert launched.stdout.count("leaderboard in") == 1
    assert json.loads((two / "leaderboard.json").read_text()) == json.loads((one / "leaderboard.json").read_text())
    assert (two / "leaderboard.md").read_text() == (one / "leaderboard.md").read_text()
    for store in sorted((one / "features").iterdir()):
        assert snapshot(two / "features" / store.name) == snapshot(store), store.name
    cells = {path: path.stat().st_mtime_ns for path in (two / "cells").rglob("*.json")}
    again = _torchrun([*benchmark, "--out", str(two)], env=env)
    assert {path: path.stat().st_mtime_ns for path in (two / "cells").rglob("*.json")} == cells
    assert "on digits, knn" not in again.stdout + again.stderr
    # A rank launched with other caps: refused on every rank before any work (each ranked its own share).
    mixed = _rank_1_given(tmp_path, [*benchmark, "--out", str(tmp_path / "mixed")], "--seed 1")
    assert mixed.stderr.count("error: rank 1 was launched with other seed than rank 0;") == 2, mixed.stderr[-3000:]
    assert not (tmp_path / "mixed").exists()
    # Nodes holding the model's very weights in hubs at paths of their own: one job. Other weights: refused on every
    # rank before the model's first cell.
    by_hub = ["-m", "simsiam_zoo.cli", "benchmark", f"hf-hub:org/{model.name}", "--data", "digits=digits"]
    by_hub += ["--protocol", "knn", "--no-baselines", "--train-limit", "100", "--test-limit", "50"]
    for hub in ("hub-a", "hub-b"):
        shutil.copytree(model, tmp_path / hub / "org" / model.name)
    by_hub_a = [*by_hub, "--hub-dir", str(tmp_path / "hub-a")]
    paths = _rank_1_given(tmp_path, [*by_hub_a, "--out", str(tmp_path / "paths")], f"--hub-dir {tmp_path / 'hub-b'}")
    assert paths.returncode == 0, paths.stderr[-3000:]
    weights = tmp_path / "hub-b" / "org" / model.name / WEIGHTS_NAME
    save_file({key: value + 1 for key, value in load_file(weights).items()}, weights)
    mixed = _rank_1_given(tmp_path, [*by_hub_a, "--out", str(tmp_path / "mixed")], f"--hub-dir {tmp_path / 'hub-b'}")
    assert mixed.stderr.count("error: rank 1 was launched with other weights than rank 0;") == 2, mixed.stderr[-3000:]
    assert [path.name for path in (tmp_path / "mixed").iterdir()] == [".simsiam-zoo.json"]  # claimed, nothing more


@pytest.mark.parametrize("device", ["gpu", "cuda:99", "cpu:5"])
def test_the_python_api_refuses_a_device_this_machine_has_not_before_any_work(tiny_recipe, tmp_path, device):
    """The CLI's --device check, made by the library: torch's own error came deep inside a run ('gpu'), or at the
    first copy after the folder was claimed (a CUDA device the machine has not)."""
    from simsiam_zoo import extract_features, train
    from simsiam_zoo.benchmark import run_benchmark
    from simsiam_zoo.demo import run_demo
    from simsiam_zoo.evaluate import fit_linear_probe, knn_accuracy
    from simsiam_zoo.features import embed_dataset
    from simsiam_zoo.options import BenchmarkOptions
    from tests.builders import make_transform, tiny_model

    x, y = torch.randn(8, 4), torch.arange(8) % 2
    calls = {
        "train": lambda: train(tiny_recipe, output_dir=tmp_path / "out", device=device, progress=False),
        "extract": lambda: extract_features(
            tiny_model(), make_transform(), tmp_path, out=tmp_path / "out", device=device
        ),
        "benchmark": lambda: run_benchmark(
            ["random-init"], ["d=digits"], out=tmp_path / "out", options=BenchmarkOptions(device=device)
        ),
        "demo": lambda: run_demo(out_dir=tmp_path / "out", device=device, progress=False),
        "knn": lambda: knn_accuracy(x, y, x, y, ks=(3,), device=device),
        "linear": lambda: fit_linear_probe(x, y, weight_decay=0.0, device=device),
        "embed": lambda: embed_dataset(tiny_model(), [(torch.zeros(3, 8, 8), 0)], device=device),
    }
    expected = {"gpu": "'gpu' is not a device name", "cpu:5": "'cpu:5': this machine has one cpu device, cpu:0"}.get(
        device, "'cuda:99': this machine has"
    )
    for name, call in calls.items():
        with pytest.raises(ValueError, match=re.escape(expected)):
            call()
        assert not (tmp_path / "out").exists(), name


def test_an_image_that_fails_on_one_rank_in_a_finetunes_validation_is_the_error_on_every_rank(tmp_path):
    """The rank whose share held it said it in one line; the other died in the all-reduce with gloo's 90-line
    traceback ("Connection closed by peer")."""
    model, data = build_hub_folder(tmp_path / "hub"), build_image_folder(tmp_path / "colours")
    first, second = sorted((data / "val").rglob("*.png"))[:2]  # rank 1's share: every second image
    second.write_bytes(b"junk")
    args = ["-m", "simsiam_zoo.cli", "finetune", str(model), str(data), "--out", str(tmp_path / "out"), "--epochs", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = _torchrun(args, env=env, succeeds=False)
    assert launched.stderr.count(f"{second.name}: cannot decode image") == 2, launched.stderr[-3000:]
    assert "Connection closed" not in launched.stderr and "[rank" not in launched.stderr, launched.stderr[-3000:]
    # Mended, the same command fine-tunes, and rank 0 alone reports (every rank said where the classifier is).
    shutil.copy(first, second)
    launched = _torchrun(args, env=env)
    assert launched.stdout.count("classifier in") == launched.stdout.count("fine-tune ") == 1, launched.stdout


def test_ranks_that_see_other_run_or_output_folders_at_one_path_are_refused(tmp_path):
    """Each rank in a folder of its own (a node's own disk at the same path): rank 0 resumed at its checkpoint's
    step, rank 1 from step 0, DDP averaging the two into a run marked finished; extraction indexed shards that
    rank 1 kept on its own disk (exit 0, then "missing or corrupt shard")."""
    per_rank = tmp_path / "per_rank.sh"
    per_rank.write_text(f'#!/bin/sh\nmkdir -p "{tmp_path}/rank$RANK" && cd "{tmp_path}/rank$RANK" && exec "$@"\n')
    per_rank.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python"]
    train = [per_rank, sys.executable, "-m", "simsiam_zoo.cli", "train", "tiny_fake", "--output", "run"]
    first = subprocess.run([*launch, *train, "--max-steps", "2"], capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoint = tmp_path / "rank0" / "run" / CHECKPOINT_NAME
    before = checkpoint.read_bytes()
    resumed = subprocess.run([*launch, *train], capture_output=True, text=True, timeout=300, env=env)
    refusal = "rank 1 resumes at step 0 where rank 0 resumes at step 2: the ranks see other checkpoints at this path"
    assert resumed.stderr.count(refusal) == 2, resumed.stderr[-3000:]
    assert checkpoint.read_bytes() == before

    model, images = build_hub_folder(tmp_path / "hub"), _images(tmp_path / "images")
    extract = [per_rank, sys.executable, "-m", "simsiam_zoo.cli", "extract", str(model), str(images), "--out", "feats"]
    launched = subprocess.run(
        [*launch, *extract, "--shard-size", "3"], capture_output=True, text=True, timeout=300, env=env
    )
    assert launched.stderr.count("that other ranks wrote are not there as rank 0 sees it") == 2, launched.stderr[-3000:]
    assert not (tmp_path / "rank0" / "feats" / "index.json").exists()
    # A node's copy of the data lacking an image: the benchmark's refusal named "other out" (stores named by data).
    for rank in (0, 1):
        build_image_folder(tmp_path / f"rank{rank}" / "data")
    next((tmp_path / "rank1" / "data" / "train").rglob("*.png")).unlink()
    benchmark = [per_rank, sys.executable, "-m", "simsiam_zoo.cli", "benchmark", str(model), "--data", "c=data"]
    benchmark += ["--protocol", "knn", "--no-baselines", "--out", str(tmp_path / "bench")]
    launched = subprocess.run([*launch, *benchmark], capture_output=True, text=True, timeout=300, env=env)
    refusal = "--data c: rank 1 finds other images at its path than rank 0; every node's copy of the data must hold"
    assert launched.stderr.count(refusal) == 2, launched.stderr[-3000:]


@pytest.mark.parametrize("unset", [("RANK", "MASTER_ADDR", "MASTER_PORT"), ("MASTER_PORT",)])
def test_a_world_size_set_by_hand_without_the_rest_is_one_line(monkeypatch, unset):
    # torch's ValueError traceback, or a silent wait of 30 minutes for ranks never started.
    from simsiam_zoo.distributed import init_distributed
    from simsiam_zoo.errors import SimsiamZooError

    environment = {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in unset:
        monkeypatch.delenv(name)
    with pytest.raises(SimsiamZooError, match=f"WORLD_SIZE=2 is set but {', '.join(unset)} not: launch the ranks"):
        init_distributed(torch.device("cpu"))


def test_a_linear_protocol_batch_capped_at_a_small_train_set_is_a_multiple_of_the_ranks(monkeypatch):
    # The default 4096 capped at 23 images was refused under 2 ranks as a --batch-size not divisible by them.
    from simsiam_zoo.protocols.linear import _capped_batch

    assert _capped_batch(4096, 23) == 23 and _capped_batch(16, 23) == 16
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert _capped_batch(4096, 23) == 22 and _capped_batch(16, 23) == 16 and _capped_batch(4096, 1) == 1


def test_a_local_stretch_smaller_than_a_ranks_batch_is_refused_naming_the_settings(tiny_recipe, tmp_path):
    # Three tars of four images over two ranks: rank 1's stretch is one tar (4 images). The refusal came after the
    # run claimed its folder, naming neither setting.
    from simsiam_zoo.errors import RecipeError
    from simsiam_zoo.pretrain import _training_data

    image = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(image, "PNG")
    write_tar_shards(tmp_path / "tars", [(f"k{i:02d}", image.getvalue(), i % 2) for i in range(12)], per_shard=4)
    settings = {"data.path": str(tmp_path / "tars" / "train-{000000..000002}.tar"), "data.dataset": "imagefolder"}
    recipe = tiny_recipe.replace({**settings, "data.shuffle": "local", "optim.batch_size": 10})
    with pytest.raises(RecipeError, match=r"data.shuffle: local: .* holds 4 images, fewer than a rank's 5 of optim"):
        _training_data(recipe, None, world_size=2)
    assert len(_training_data(recipe.replace({"optim.batch_size": 8}), None, world_size=2)) == 12
    assert len(_training_data(recipe.replace({"data.shuffle": "global"}), None, world_size=2)) == 12
