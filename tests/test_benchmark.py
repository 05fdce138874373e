"""`simsiam-zoo benchmark`: cells equal the evaluations they stand for, the baselines are there, a killed run
resumes to the same leaderboard, and bad input fails before any work."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from simsiam_zoo.benchmark import cells, grid, run_benchmark
from simsiam_zoo.errors import DataError, OutputRefused
from simsiam_zoo.evaluate import weight_decay_to_sklearn_c
from simsiam_zoo.options import BenchmarkOptions
from simsiam_zoo.protocols import digits_datasets
from simsiam_zoo.protocols.cached import evaluate_knn, evaluate_linear
from tests.builders import build_image_folder, error_message, hub_dataset_files, run_cli

QUICK = BenchmarkOptions(protocols=("knn", "linear"), batch_size=64)
OUTPUTS = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "leaderboard.html", "heatmap.png")


def _record(records: list[dict], model: str, dataset: str, protocol: str, **fields: object) -> dict:
    (found,) = [
        r
        for r in records
        if (r["model"], r["dataset"], r["protocol"]) == (model, dataset, protocol)
        and all(r.get(k) == v for k, v in fields.items())
    ]
    return found


def test_each_cell_is_what_the_evaluations_give_and_the_baselines_are_ranked(
    hub_folder: Path,
    image_folder: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "bench"
    options = BenchmarkOptions(shots=(1, 2), draws=3, batch_size=64)
    records = run_benchmark(
        [str(hub_folder)], [f"colours={image_folder}", "digits=digits"], out=out, options=options, progress=False
    )
    models = {r["model"] for r in records}
    assert models == {str(hub_folder), "random-init (resnet18)", "pixels"}
    # Features of data on disk went through the feature store: the eval commands give the very same numbers.
    model = str(hub_folder)
    train, test = (
        next((out / "features").glob(f"{cells.slug(model)}-colours-*-{split}")) for split in ("train", "test")
    )
    knn = evaluate_knn(train, test)
    assert _record(records, model, "colours", "knn", k=20)["top1"] == knn["top1"]["20"]
    assert _record(records, model, "colours", "knn", k=200)["top1"] == knn["top1"]["200"]
    assert _record(records, model, "colours", "linear")["top1"] == evaluate_linear(train, test)["top1"]
    # Few-shot: k images a class, three seeded draws, a mean and its spread.
    train_set, test_set = digits_datasets()
    few = _record(records, model, "digits", "fewshot-linear", shots=2)
    assert few["seeds"] == [0, 1, 2] and few["spread"] >= 0 and few["num_test"] == len(test_set)
    # The raw-pixel linear cell agrees with scikit-learn on pixels computed here another way.
    pixels = _record(records, "pixels", "digits", "linear")
    reference = _sklearn_top1(train_set, test_set, pixels)
    assert abs(pixels["top1"] - reference) < 0.5, (pixels["top1"], reference)
    markdown = (out / "leaderboard.md").read_text()
    assert "| model | colours kNN | colours linear | colours 1-shot linear" in markdown
    assert all((out / name).stat().st_size > 0 for name in OUTPUTS)


def test_a_number_of_shots_the_smallest_class_has_not_is_left_out_with_a_warning() -> None:
    """Six images in the smallest class: a 100-shot cell would be three identical draws of the whole set, recorded
    as 100-shot with no spread."""
    generator = torch.Generator().manual_seed(0)
    train_y, test_y = torch.tensor([0] * 6 + [1] * 9), torch.tensor([0, 1] * 4)
    features = (torch.randn(15, 8, generator=generator), train_y, torch.randn(8, 8, generator=generator), test_y)
    options = BenchmarkOptions(protocols=("fewshot",), shots=(1, 6, 7, 100), draws=2)
    with pytest.warns(UserWarning) as caught:
        records = cells.protocol_records("fewshot", features, options, dataset="mine")
    assert {record["shots"] for record in records} == {1, 6}
    assert [str(w.message) for w in caught] == [
        f"mine: {shots}-shot left out: its smallest class has 6 train images" for shots in (7, 100)
    ]
    # No column for a number of shots a dataset left out, where another dataset has it.
    from simsiam_zoo.benchmark.leaderboard import columns

    mine = [{**record, "dataset": "mine"} for record in records]
    other = [{**record, "dataset": "other"} for record in records if record["shots"] == 1]
    labels = [(dataset, label) for dataset, label, *_ in columns(mine + other)]
    assert labels == [("mine", "1-shot linear"), ("mine", "6-shot linear"), ("other", "1-shot linear")]


def _sklearn_top1(train_set, test_set, record: dict) -> float:
    """scikit-learn's logistic regression on the digits' pixels, read here from the images, standardised with the
    train statistics as the probe standardises, at the weight decay the benchmark chose."""
    x_train, x_test = (dataset.images.flatten(1).float().numpy() / 255 for dataset in (train_set, test_set))
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    c = weight_decay_to_sklearn_c(record["weight_decay"], len(x_train))
    classifier = LogisticRegression(C=c, max_iter=5000).fit((x_train - mean) / std, train_set.labels.numpy())
    return 100.0 * classifier.score((x_test - mean) / std, test_set.labels.numpy())


def test_a_killed_run_resumes_to_the_leaderboard_of_an_uninterrupted_one(
    hub_folder: Path,
    image_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = [f"colours={image_folder}"]
    run_benchmark([str(hub_folder)], data, out=tmp_path / "whole", options=QUICK, progress=False)
    shown = capsys.readouterr()
    assert (shown.out, shown.err) == ("", "")  # progress=False showed the extractions' bars and each cell's line
    computed = []
    original = cells.protocol_records

    def killed_at_the_fourth(protocol: str, *args: object, **kwargs: object) -> list[dict]:
        computed.append(protocol)
        if len(computed) == 4:
            raise KeyboardInterrupt
        return original(protocol, *args, **kwargs)

    monkeypatch.setattr("simsiam_zoo.benchmark.run.protocol_records", killed_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark([str(hub_folder)], data, out=tmp_path / "resumed", options=QUICK, progress=False)
    computed.clear()
    monkeypatch.setattr(
        "simsiam_zoo.benchmark.run.protocol_records",
        lambda *args, **kwargs: computed.append(args[0]) or original(*args, **kwargs),
    )
    run_benchmark([str(hub_folder)], data, out=tmp_path / "resumed", options=QUICK, progress=False)
    assert len(computed) == 3  # 3 contenders x 2 protocols, of which the first three were saved before the kill
    for name in OUTPUTS:
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    # A new dataset adds only its own cells; the first dataset's are read back.
    computed.clear()
    run_benchmark(
        [str(hub_folder)],
        [*data, "digits=digits"],
        out=tmp_path / "resumed",
        options=BenchmarkOptions(protocols=("knn", "linear"), batch_size=64, train_limit=100, test_limit=50),
        progress=False,
    )
    assert len(computed) == 6
    assert {r["dataset"] for r in json.loads((tmp_path / "resumed" / "leaderboard.json").read_text())} == {
        "colours",
        "digits",
    }
    # A folder where a cell's file goes: refused naming it before the cell is computed (a raw errno, exit 6, after).
    cell = next((tmp_path / "whole" / "cells").rglob("knn.json"))
    cell.unlink()
    cell.mkdir()
    with pytest.raises(OutputRefused, match=f"^{re.escape(str(cell))}: a folder where the benchmark keeps"):
        run_benchmark([str(hub_folder)], data, out=tmp_path / "whole", options=QUICK, progress=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["resnet50.nope", "--data", "d=digits"], "resnet50.nope: unknown zoo model"),
        (["missing/x.pth", "--data", "d=digits"], "missing/x.pth: no such file or folder"),
        (  # its row took the baseline's place in leaderboard.md, the two sharing one cell file
            ["random-init (resnet18)", "--data", "d=digits"],
            "random-init (resnet18): named like a random-init baseline's row; pass it as ./random-init (resnet18)",
        ),
        (["no_such_arch_*", "--data", "d=digits"], "no_such_arch_*: matches no zoo model"),
        (["MODEL", "--data", "d=TRAIN_ONLY"], "expected train/ and val/ (or test/ or validation/)"),
        (  # after a good model: it stopped the grid when its turn came, the leaderboard unwritten
            ["MODEL", "EMPTY", "--data", "d=digits"],
            "empty: neither a hub folder (config.json) nor a training run (checkpoint.pt)",
        ),
        (["MODEL", "--data", "d=ONE_CLASS"], "--data d: its train split has images of 1 class"),
        (  # the classes left out could never be right, whoever is ranked
            ["MODEL", "--data", "d=digits", "--train-limit", "5"],
            "classes of its test split have no train image (--train-limit 5 left them out): ",
        ),
        (
            ["MODEL", "--data", "d=digits", "--protocol", "fewshot", "--shots", "500,1000"],
            "--data d: its smallest class has 139 train images, fewer than every --shots (500, 1000)",
        ),
    ],
)
def test_bad_input_is_one_line_before_any_work(
    arguments: list[str],
    message: str,
    hub_folder: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "only" / "train" / "a").mkdir(parents=True)
    one = tmp_path / "one"
    for split in ("train", "val"):
        (one / split / "a").mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (8, 8)).save(one / split / "a" / "x.png")
    (tmp_path / "empty").mkdir()
    replace = {
        "MODEL": str(hub_folder),
        "EMPTY": str(tmp_path / "empty"),
        "d=TRAIN_ONLY": f"d={tmp_path / 'only'}",
        "d=ONE_CLASS": f"d={one}",
    }
    arguments = [replace.get(a, a) for a in arguments]
    done = run_cli("benchmark", *arguments, "--out", str(tmp_path / "out"), process=True)
    assert done.returncode == 3, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["mine"], "'mine': expected NAME=SOURCE (e.g. fmnist=fashion_mnist) or a named dataset"),
        (["..=digits"], "'..=digits': a dataset name is letters, digits, '.', '-' and '_', not dots alone"),
        (["a=digits", "a=fashion_mnist"], "'a=fashion_mnist': the name a is given twice"),
        (["a=,digits"], "'a=,digits': TRAIN,TEST with an empty side"),  # '' was read as the current folder
        (["a= "], "'a= ': expected NAME=SOURCE"),
    ],
)
def test_a_malformed_data_entry_is_a_usage_error(data: list[str], message: str, hub_folder: Path, tmp_path: Path):
    """The form of --data, as `eval transfer --dataset`'s: exit 2 naming the option (it was exit 3, bad input); the
    Python API refuses the same entries as a DataError."""
    options = [arg for entry in data for arg in ("--data", entry)]
    done = run_cli("benchmark", str(hub_folder), *options, "--out", str(tmp_path / "out"), process=True)
    assert done.returncode == 2 and f"Invalid value for '--data': {message}" in done.stderr, done.stderr
    with pytest.raises(DataError, match=re.escape(f"--data {message}")):
        run_benchmark([str(hub_folder)], data, out=tmp_path / "out", options=QUICK, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_changed_folder_gets_its_own_features_and_an_undecodable_image_is_left_out_for_every_contender(
    hub_folder: Path, tmp_path: Path
) -> None:
    """The rerun after an image was added was refused ("holds an extraction of other inputs"), and the pixels
    baseline failed on an image that extraction had skipped for the models, after their cells were written."""
    folder, out = build_image_folder(tmp_path / "colours"), tmp_path / "bench"
    options = BenchmarkOptions(protocols=("knn",), batch_size=64)
    run_benchmark([str(hub_folder)], [f"c={folder}"], out=out, options=options, progress=False)
    (folder / "train" / "red" / "broken.png").write_bytes(b"not a png")
    (folder / "train" / "red" / "notes.txt").write_text("not an image, listed as such")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = run_benchmark([str(hub_folder)], [f"c={folder}"], out=out, options=options, progress=False)
    said = [str(warning.message) for warning in caught]
    # Once, not once a contender; the notes not counted among the images that do not decode.
    undecodable = [text for text in said if "not decode" in text]
    assert undecodable == [
        f"{folder / 'train'}: 1 image does not decode, left out for every contender (each feature "
        "store's skipped.json names them)"
    ], said
    assert {(r["model"], r["num_train"]) for r in records if r["k"] == 20} == {
        (str(hub_folder), 24),
        ("random-init (resnet18)", 24),
        ("pixels", 24),
    }
    # A test image added: the train split's stores are the same ones (an ImageNet train split is not embedded again).
    stores = {path: path.stat().st_mtime_ns for path in (out / "features").glob("*-train/shard-*")}
    shutil.copy(next((folder / "val" / "red").iterdir()), folder / "val" / "red" / "added.png")
    run_benchmark([str(hub_folder)], [f"c={folder}"], out=out, options=options, progress=False)
    assert {path: path.stat().st_mtime_ns for path in (out / "features").glob("*-train/shard-*")} == stores
    assert len(list((out / "features").glob("*-test"))) == 2 * 2  # two contenders, the test split before and after


def test_a_sampled_split_leaves_an_undecodable_image_out_for_every_contender(hub_folder: Path, tmp_path: Path) -> None:
    """A capped folder is embedded in memory, not extracted: an image that did not decode there stopped the run
    (exit 3) where the whole folder left it out."""
    folder = build_image_folder(tmp_path / "colours")
    (folder / "train" / "red" / "broken.png").write_bytes(b"not a png")
    options = BenchmarkOptions(protocols=("knn",), batch_size=64, train_limit=24)  # 24 of the 25, broken.png among them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = run_benchmark([str(hub_folder)], [f"c={folder}"], out=tmp_path / "b", options=options, progress=False)
    said = [str(warning.message) for warning in caught if "decode" in str(warning.message)]
    assert said == ["--data c, its sampled train split: 1 image does not decode, left out for every contender"], said
    assert {r["num_train"] for r in records} == {23} and len({r["model"] for r in records}) == 3


def test_test_images_that_are_train_images_too_are_warned_about(tmp_path: Path) -> None:
    """`NAME=TRAIN,TEST` of one split ranked contenders on images they were fitted to, without a word."""
    folder = build_image_folder(tmp_path / "colours")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "train").symlink_to(folder / "train")
    (tmp_path / "linked" / "val").symlink_to(folder / "train")
    for data, shared in (
        (f"s={folder / 'train'},{folder / 'train'}", 24),
        (f"l={tmp_path / 'linked'}", 24),
        (f"c={folder}", 0),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            grid.parse_datasets([data], BenchmarkOptions(protocols=("knn",)))
        said = [str(warning.message) for warning in caught if "train images too" in str(warning.message)]
        assert said == (
            [
                f"--data {data[0]}: {shared} of its 24 test images are train images too; the score "
                "measures how the features recall their own images (1-NN: 100%), not how they generalise to others"
            ]
            if shared
            else []
        ), (data, said)


def test_a_class_of_one_train_image_gets_the_fixed_weight_decay() -> None:
    """One image a class leaves no validation split to choose a weight decay on: the probe's ValueError was a
    traceback after the kNN cell was written."""
    generator = torch.Generator().manual_seed(0)
    features = (torch.randn(3, 8, generator=generator), torch.tensor([0, 1, 2]))
    features += (torch.randn(6, 8, generator=generator), torch.tensor([0, 1, 2] * 2))
    (record,) = cells.protocol_records("linear", features, QUICK, dataset="tiny")
    assert record["weight_decay"] == cells.FIXED_WEIGHT_DECAY and 0 <= record["top1"] <= 100


def test_two_model_names_with_one_slug_keep_their_own_cells(tmp_path: Path) -> None:
    """`a/b` and `a_b` make the same file-name-safe slug; their cells must not overwrite each other's."""
    assert cells.slug("a/b") == cells.slug("a_b")
    assert cells.cell_path(tmp_path, "a/b", "d", "knn") != cells.cell_path(tmp_path, "a_b", "d", "knn")


def test_a_suite_name_alone_benchmarks_that_hub_dataset(hub_folder: Path, hub_datasets, tmp_path: Path) -> None:
    """`--data cifar10` is the suite's CIFAR-10 (read from the Hub by its repo, splits and columns), named cifar10,
    its splits extracted through the feature store under their suite names."""
    from simsiam_zoo.data import TRANSFER_SUITE

    entry = TRANSFER_SUITE["cifar10"]
    hub_datasets.add_dataset(entry.repo_id, hub_dataset_files(entry, per_class=3, folder="plain_text"))
    out = tmp_path / "bench"
    done = run_cli("benchmark", hub_folder, "--data", "cifar10", "--out", out, "--protocol", "knn", "--no-baselines")
    assert done.returncode == 0, done.stderr
    (record, *_) = json.loads((out / "leaderboard.json").read_text())
    assert (record["dataset"], record["num_train"], record["num_test"]) == ("cifar10", 30, 30)
    assert record["top1"] == 100.0  # each class one colour: any working backbone separates them
    settings = json.loads(next((out / "features").glob("*-cifar10-*-train")).joinpath("settings.json").read_text())
    assert settings["source"]["location"] == "cifar10:train"
    # Its splits by name as a TRAIN,TEST pair, as any two sources (they were taken for paths: "no such folder").
    pair = tmp_path / "pair"
    args = ("--data", "c=cifar10:train,cifar10:test", "--out", pair, "--protocol", "knn", "--no-baselines")
    done = run_cli("benchmark", hub_folder, *args)
    assert done.returncode == 0, done.stderr
    (record, *_) = json.loads((pair / "leaderboard.json").read_text())
    assert (record["dataset"], record["num_train"], record["num_test"], record["top1"]) == ("c", 30, 30, 100.0)


def test_each_network_gets_its_own_random_init_fed_each_of_its_preprocessings(monkeypatch) -> None:
    """Two models of one timm architecture built with other arguments (MoCo v3's ViT-S has 12 heads where timm's
    has 6) are two networks: each gets its random-init baseline, built as it is. A network whose models want other
    inputs gets a baseline fed each of them, named alike in any order of the models (the first model's inputs fed
    the one baseline, unfair to the other)."""
    from tqdm.auto import tqdm

    from simsiam_zoo.augment import Preprocessing
    from simsiam_zoo.backbone import LoadedBackbone
    from simsiam_zoo.benchmark import run
    from simsiam_zoo.distributed import DistributedContext
    from simsiam_zoo.model import untrained_backbone

    def load(name: str, *, hub_dir=None, pretrained: bool = True) -> LoadedBackbone:
        model_args = {"num_heads": 4} if name.startswith("four") else {}
        model = untrained_backbone("test_vit", model_args=model_args)
        preprocessing = Preprocessing(input_size=(3, 64, 64)) if name == "big" else Preprocessing()
        return LoadedBackbone(model, preprocessing.transform(), preprocessing, "test_vit", name, model_args=model_args)

    monkeypatch.setattr(run, "load_backbone", load)

    def contenders(names: list[str]) -> list:
        with tqdm(total=3, disable=True) as bar:
            return list(run._contenders(names, QUICK, hub_dir=None, bar=bar, cells=1, context=DistributedContext()))

    listed = contenders(["two-a", "four", "two-b"])
    assert [contender.name for contender in listed] == [
        "two-a",
        "four",
        "two-b",
        "random-init (test_vit)",
        "random-init (test_vit, num_heads=4)",
        "pixels",
    ]
    heads = [c.loaded.model.blocks[0].attn.num_heads for c in listed[3:5]]
    assert heads == [2, 4]

    baselines = {}
    for names in (["two-a", "big"], ["big", "two-a"]):
        baselines[names[0]] = {c.name: c.loaded.preprocessing.input_size for c in contenders(names)[2:4]}
    assert (
        baselines["two-a"]
        == baselines["big"]
        == {
            "random-init (test_vit; preprocessing of big)": (3, 64, 64),
            "random-init (test_vit; preprocessing of two-a)": (3, 224, 224),
        }
    )


def test_the_markdown_leaderboard_keeps_a_row_for_a_name_with_a_pipe_or_a_line_break() -> None:
    from simsiam_zoo.benchmark.leaderboard import _markdown

    text = _markdown(["d knn"], [("hubs/a|b", [2.0], 1.0), ("n\nl", [1.0], 2.0)], ([], None))
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 4  # header, rule, two models
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 4 for row in rows)
    assert rows[2].startswith("| hubs/a\\|b |") and rows[3].startswith("| n<br>l |")


def test_repeated_or_empty_shots_are_usage_errors(hub_folder: Path, tmp_path: Path) -> None:
    """`--shots 1,1` scored 1-shot twice, `1,,2` passed; `--protocol knn --protocol knn` ran each kNN cell twice and
    listed its records twice."""
    for shots in ("1,1", "1,,2"):
        done = run_cli("benchmark", hub_folder, "--data", "d=digits", "--shots", shots, "--out", tmp_path / "out")
        assert done.returncode == 2 and "Invalid value for '--shots'" in done.stderr, done.stderr
    protocols = ["--protocol", "knn", "--protocol", "linear", "--protocol", "knn"]
    done = run_cli("benchmark", hub_folder, "--data", "d=digits", *protocols, "--out", tmp_path / "out")
    assert done.returncode == 2 and "Invalid value for '--protocol': knn given twice" in done.stderr, done.stderr
    with pytest.raises(ValueError, match="each once"):
        BenchmarkOptions(protocols=("knn", "knn"))
    assert not (tmp_path / "out").exists()


def test_a_cell_edited_after_it_was_written_is_computed_again(
    hub_folder: Path, image_folder: Path, tmp_path: Path
) -> None:
    """A top-1 changed by hand was ranked as it stood; a wrong type or records that are no list were a traceback."""
    data, options = [f"colours={image_folder}"], BenchmarkOptions(protocols=("knn",), batch_size=64, baselines=False)
    out = tmp_path / "out"
    run_benchmark([str(hub_folder)], data, out=out, options=options, progress=False)
    (cell,) = (out / "cells").rglob("knn.json")
    written, leaderboard = cell.read_text(), (out / "leaderboard.json").read_bytes()
    saved = json.loads(written)
    edits = [
        [{**saved["records"][0], "top1": 12.5}, *saved["records"][1:]],
        [{**saved["records"][0], "top1": "abc"}, *saved["records"][1:]],
        {"x": 1},
    ]
    for records in edits:
        cell.write_text(json.dumps({**saved, "records": records}))
        with pytest.warns(UserWarning, match="its records are not those the benchmark wrote; computing it again"):
            run_benchmark([str(hub_folder)], data, out=out, options=options, progress=False)
        assert cell.read_text() == written and (out / "leaderboard.json").read_bytes() == leaderboard


def test_run_benchmark_names_a_string_or_nothing_where_a_list_belongs(tmp_path: Path) -> None:
    """A model path as a string was iterated letter by letter ("t: unknown zoo model"); no models was a max() error."""
    with pytest.raises(TypeError, match=r"^models must be a list, got the single models '/x/y'; pass \[models\]$"):
        run_benchmark("/x/y", ["digits"], out=tmp_path / "out")
    for empty in ([], (name for name in [])):  # a generator passed the check for an empty list
        with pytest.raises(ValueError, match=r"^no models to benchmark$"):
            run_benchmark(empty, ["digits"], out=tmp_path / "out")
    with pytest.raises(TypeError, match=r"^data must be a list"):
        run_benchmark(["resnet18"], "digits", out=tmp_path / "out")
    with pytest.raises(TypeError, match=r"^data must be a list"):
        run_benchmark(["resnet18"], Path("digits"), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    from simsiam_zoo.benchmark.run import _listed

    assert _listed("models", (Path("/x/y"), "resnet18")) == ["/x/y", "resnet18"]  # a Path was a TypeError in a glob


def test_a_model_folder_given_by_two_spellings_is_one_model(hub_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`benchmark models/m ./models/m` ranked one model twice, as two rows."""
    from simsiam_zoo.benchmark.grid import expand_models

    monkeypatch.chdir(hub_folder.parent)
    spellings = [hub_folder.name, f"./{hub_folder.name}", str(hub_folder), f"{hub_folder.name}/"]
    assert expand_models(spellings) == [hub_folder.name]
    zoo = "resnet50.simsiam_in1k_ep100_bs512"
    assert expand_models([zoo, hub_folder.name, zoo]) == [zoo, hub_folder.name]
    # A zoo model by its alias and by its name: two rows of one model, each ranked against the other.
    assert expand_models(["simsiam_resnet50.in1k_ep100_bs512", zoo]) == ["simsiam_resnet50.in1k_ep100_bs512"]


def test_the_same_weights_in_another_network_get_their_own_cells(hub_folder: Path) -> None:
    """`model_args` changed in config.json (`global_pool: max`), the weights not: the cells and feature stores of
    the first network were reused, its scores shown for the second."""
    import dataclasses

    from simsiam_zoo.loader import load_backbone

    loaded = load_backbone(hub_folder)
    other = dataclasses.replace(loaded, model_args={"global_pool": "max"})
    assert cells.Contender.of("m", loaded).digest != cells.Contender.of("m", other).digest
    assert cells.Contender.of("m", loaded).digest == cells.Contender.of("m", load_backbone(hub_folder)).digest


def test_a_file_or_folder_in_the_place_of_the_benchmark_s_own_is_refused_before_any_work(
    hub_folder: Path, image_folder: Path, tmp_path: Path
) -> None:
    """A folder where leaderboard.md goes failed after all the work (a raw errno, the leaderboard files of two runs
    left side by side); a file where a cell's folder goes, with a raw errno after the cell was computed; an OUT
    inside a split, after the first cells were written into the data."""
    from simsiam_zoo._io import write_marker

    data, options = [f"colours={image_folder}"], BenchmarkOptions(protocols=("knn",), batch_size=64, baselines=False)
    out = tmp_path / "out"
    out.mkdir()
    write_marker(out, "benchmark")
    (out / "leaderboard.md").mkdir()
    with pytest.raises(OutputRefused, match=r"leaderboard.md: not a file, where the benchmark writes its"):
        run_benchmark([str(hub_folder)], data, out=out, options=options, progress=False)
    assert not (out / "cells").exists()
    inside = image_folder / "val" / "bench"
    with pytest.raises(OutputRefused, match=r"bench: the output lies inside the input .*val; choose a path outside"):
        run_benchmark([str(hub_folder)], data, out=inside, options=options, progress=False)
    assert not inside.exists()
    cell = cells.cell_path(tmp_path / "b", "m", "colours", "knn")
    cell.parent.parent.mkdir(parents=True)
    cell.parent.write_text("notes")
    with pytest.raises(OutputRefused, match=r"colours: a file where the benchmark keeps a folder of cells"):
        cells.read_cell(cell, "fingerprint")
    assert cell.parent.read_text() == "notes"


def test_the_seeds_of_the_few_shot_draws_are_checked_with_the_seed() -> None:
    """--seed 2**64-1 with 3 draws passed, and failed after the work, seeding its second draw with 2**64."""
    with pytest.raises(ValueError, match=r"seed \+ draws - 1 \(seed 18446744073709551615, draws 3\) must be"):
        BenchmarkOptions(protocols=("fewshot",), seed=2**64 - 1, draws=3)
    assert BenchmarkOptions(protocols=("knn",), seed=2**64 - 1).seed == 2**64 - 1  # no draws, nothing past it
    assert BenchmarkOptions(protocols=("fewshot",), seed=2**64 - 3, draws=3).draws == 3


def test_the_pixels_of_photos_are_at_most_32_px_a_side_and_one_size_for_both_splits(tmp_path: Path) -> None:
    """A photo's pixels at its own size were half a million features an image (a suite dataset needed 100s of GB),
    and each split took its own first image's size: a test split starting with a portrait could not be scored."""
    from PIL import Image

    from simsiam_zoo.benchmark.cells import PIXELS_PREPROCESSING, Contender, contender_features
    from simsiam_zoo.protocols import resolve_data

    for split, (width, height) in (("train", (48, 80)), ("val", (80, 48))):
        for label, colour in (("a", "red"), ("b", "blue")):
            (tmp_path / split / label).mkdir(parents=True)
            for index in range(2):
                Image.new("RGB", (width + index, height), colour).save(tmp_path / split / label / f"{index}.png")
    splits = resolve_data((tmp_path / "train", tmp_path / "val"))
    pixels = Contender("pixels", preprocessing=PIXELS_PREPROCESSING)
    train_x, _, test_x, _ = contender_features(
        pixels, splits, dataset="d", data=None, cache=tmp_path / "cache", options=QUICK, progress=False
    )
    assert train_x.shape == (4, 3 * 32 * 19) and test_x.shape == (4, 3 * 32 * 19)
    assert float(train_x[0].view(3, -1)[0].mean()) > 0.99 and float(train_x[0].view(3, -1)[2].max()) < 0.01


def test_offline_a_model_missing_from_the_caches_is_refused_before_any_work(hub_folder: Path, tmp_path: Path) -> None:
    """With HF_HUB_OFFLINE=1 a zoo model not in the caches stopped the grid at its turn: the models before it were
    computed, and no leaderboard was written."""
    out = tmp_path / "bench"
    arguments = ["--data", "d=digits", "--protocol", "knn", "--no-baselines", "--out", out]
    done = run_cli("benchmark", hub_folder, "resnet50.vicreg_in1k", *arguments, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 5, done.stderr[-3000:]
    assert error_message(done).startswith("error: resnet50.vicreg_in1k: not in the cache")
    assert not out.exists()


def test_train_test_splits_at_a_comma_outside_braces() -> None:
    # `x=a-{0,1}.parquet,b.parquet` was split inside its brace list: "a-{0: no such folder or file".
    assert grid.train_test("a-{0,1}.parquet") == "a-{0,1}.parquet"
    assert grid.train_test("a-{0,1}.parquet,b-{2..3}.tar") == ("a-{0,1}.parquet", "b-{2..3}.tar")
    assert grid.train_test("train,test") == ("train", "test")
    assert grid.dataset_entries(["x=a-{0,1}.parquet"]) == {"x": "a-{0,1}.parquet"}
    with pytest.raises(ValueError, match="TRAIN,TEST with an empty side"):
        grid.dataset_entries(["x=a-{0,1}.parquet,"])
