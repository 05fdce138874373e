"""Export, registry and loader: a training checkpoint becomes a hub folder that timm and our loader read."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import ModelCard

from simsiam_zoo import zoo
from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_torch_checkpoint
from simsiam_zoo.digests import sha256_file
from simsiam_zoo.errors import ConversionError, HubFolderError, UnknownModelError
from simsiam_zoo.export import export_checkpoint, publish_local
from simsiam_zoo.hub.folder import CONFIG_NAME, WEIGHTS_NAME, validate_hub_folder
from simsiam_zoo.hub.publish import download_hub_repo, push_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.pretrain import build_model, train
from simsiam_zoo.recipe import load_recipe
from tests.builders import coloured, make_fifo, run_cli
from tests.hub_server import HubServer

NAME = "resnet18.simsiam_fashion_mnist_demo"
# One recipe for the run and for the reference model rebuilt from its checkpoint: the two must not drift apart.
RECIPE = load_recipe("tiny_fake").replace({"optim.base_lr": 0.5, "optim.epochs": 1})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    train(RECIPE, output_dir=run, progress=False)
    return run


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_checkpoint(trained, tmp_path_factory.mktemp("export") / NAME, name=NAME)


def _reference_features(run: Path, x: torch.Tensor) -> torch.Tensor:
    """The backbone as training left it, rebuilt from the checkpoint without any hub code."""
    checkpoint = read_torch_checkpoint(run / CHECKPOINT_NAME)
    model = build_model(RECIPE)
    model.load_state_dict(checkpoint["model"])
    with torch.no_grad():
        return model.backbone.eval()(x)


INPUT = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_exported_folder_loads_in_timm_and_our_loader_with_the_training_features(trained, exported):
    expected = _reference_features(trained, INPUT)
    timm_model = timm.create_model(f"local-dir:{exported}", pretrained=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(timm_model(INPUT), expected, atol=1e-6, rtol=0)
        for source in (exported, exported / WEIGHTS_NAME, trained, trained / CHECKPOINT_NAME):
            loaded = load_backbone(source)
            torch.testing.assert_close(loaded.model(INPUT), expected, atol=1e-6, rtol=0)
    assert loaded.preprocessing.input_size == (3, 32, 32) and loaded.preprocessing.crop_pct == 1.0
    assert sorted(p.name for p in exported.iterdir()) == [
        ".simsiam-zoo.json",
        "README.md",
        "config.json",
        "model.safetensors",
        "recipe.yaml",
        "simsiam.safetensors",
    ]


def test_model_card_metadata(exported):
    card = ModelCard.load(exported / "README.md")
    assert card.data.library_name == "timm"
    assert card.data.pipeline_tag == "image-feature-extraction"
    assert card.data.license == "mit"
    assert sha256_file(exported / WEIGHTS_NAME) in card.text
    assert f"hf-hub:{zoo.ZOO[NAME].hub_id}" in card.text
    # A run on other data than the entry's recipe (here fake images) is described by its own: the card said it was
    # pretrained on Fashion-MNIST by the demo, and its recipe section said otherwise.
    assert not card.data.datasets and zoo.ZOO[NAME].summary not in card.text  # fake images are no Hub dataset
    assert "resnet18 pretrained with recipe `tiny_fake`." in card.text


def test_results_go_into_the_model_index(trained, tmp_path):
    result = zoo.Result("knn", "fashion_mnist", "top-1 accuracy", 77.5, "test")
    folder = export_checkpoint(trained, tmp_path / "card", name=NAME, results=[result])
    card = ModelCard.load(folder / "README.md")
    assert card.data.eval_results[0].metric_value == 77.5
    assert "| knn | fashion_mnist | top-1 accuracy | 77.5 | test |" in card.text


def test_hf_hub_through_the_loopback_server_gives_the_training_features(hub: HubServer, trained, exported, tmp_path):
    repo_id = "zoo-test/tiny-simsiam"
    pushed = push_hub_folder(exported, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    torch.save(INPUT, tmp_path / "x.pt")
    script = (
        "import sys, timm, torch\n"
        "m = timm.create_model('hf-hub:' + sys.argv[1], pretrained=True).eval()\n"
        "torch.save(m(torch.load(sys.argv[2])).detach(), sys.argv[3])\n"
        "assert 'simsiam_zoo' not in sys.modules\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script, repo_id, str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = _reference_features(trained, INPUT)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected, atol=1e-6, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(load_backbone(f"hf-hub:{repo_id}").model(INPUT), expected, atol=1e-6, rtol=0)
        # A revision, as timm reads `hf-hub:ORG/NAME@REVISION`: the commit the push made, or a branch.
        for revision in (pushed.commit_oid, "main"):
            pinned = load_backbone(f"hf-hub:{repo_id}@{revision}")
            torch.testing.assert_close(pinned.model(INPUT), expected, atol=1e-6, rtol=0)
    # The Hub answers "no such revision"; the loopback server, "no such repo": either names the revision.
    with pytest.raises(HubFolderError, match=rf"{repo_id}@nope: (the hub repo has no revision|no such model repo or)"):
        load_backbone(f"hf-hub:{repo_id}@nope")
    with pytest.raises(UnknownModelError, match=rf"^hf-hub:{repo_id}@ : an empty revision after '@'"):
        load_backbone(f"hf-hub:{repo_id}@ ")  # it loaded main in silence


def test_links_through_a_linked_folder_another_repos_snapshot_or_a_file_put_there_are_refused(
    hub: HubServer, exported, monkeypatch
):
    """Three ways past the blob check, each "cached and verified": a link whose text names this repo's blob through
    a linked folder (`d/../../../blobs/X`, `d` leading elsewhere), a file the Hub does not list put in the snapshot
    (a card's licence was read from it), and offline a `refs/main` naming another repo's snapshot."""
    from huggingface_hub import constants

    from simsiam_zoo.errors import ChecksumMismatch

    for repo_id in ("zoo-test/linked", "zoo-test/other"):
        push_hub_folder(exported, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    folder, other = download_hub_repo("zoo-test/linked"), download_hub_repo("zoo-test/other")
    config = (folder / CONFIG_NAME).resolve()
    elsewhere = folder.parents[2] / "elsewhere"
    (elsewhere / "p" / "q" / "r").mkdir(parents=True)
    (elsewhere / "blobs").mkdir()
    (elsewhere / "blobs" / config.name).write_text(config.read_text().replace('"num_features"', ' "num_features"'))
    (folder / "d").symlink_to(elsewhere / "p" / "q" / "r")
    (folder / CONFIG_NAME).unlink()
    (folder / CONFIG_NAME).symlink_to(Path("d", "..", "..", "..", "blobs", config.name))
    with pytest.raises(ChecksumMismatch, match=rf"{CONFIG_NAME}: the Hugging Face cache's copy is not the file the"):
        load_backbone("hf-hub:zoo-test/linked")
    (folder / CONFIG_NAME).unlink()
    (folder / CONFIG_NAME).symlink_to(Path("..", "..", "blobs", config.name))
    (folder / "extra.md").write_text("---\nlicense: mit\n---\n")
    with pytest.raises(ChecksumMismatch, match=r"extra.md: a file the Hub does not list for revision "):
        load_backbone("hf-hub:zoo-test/linked")
    (folder / "extra.md").unlink()
    load_backbone("hf-hub:zoo-test/linked")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (folder / CONFIG_NAME).unlink()
    (folder / CONFIG_NAME).symlink_to(Path("d", "..", "..", "..", "blobs", config.name))
    with pytest.raises(ChecksumMismatch, match=rf"{CONFIG_NAME}: a link the Hugging Face cache did not make"):
        load_backbone("hf-hub:zoo-test/linked")
    refs = folder.parents[1] / "refs" / "main"
    refs.write_text(f"../../{other.parents[1].name}/snapshots/{other.name}")
    with pytest.raises(ChecksumMismatch, match=r"not a snapshot folder of zoo-test/linked's in the Hugging Face"):
        load_backbone("hf-hub:zoo-test/linked")


def test_a_file_changed_in_the_hugging_face_cache_is_refused_naming_it(hub: HubServer, exported, monkeypatch):
    """The cache names each blob by the digest the Hub gave (sha256 in LFS, git's sha1 otherwise): weights or a
    config swapped on disk were loaded as the repo's, and `download` called them "cached and verified"."""
    from safetensors.torch import load_file, save_file

    from simsiam_zoo.errors import ChecksumMismatch

    repo_id = "zoo-test/tampered"
    push_hub_folder(exported, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    load_backbone(f"hf-hub:{repo_id}")
    folder = download_hub_repo(repo_id)  # the snapshot that load used
    weights, config = (folder / WEIGHTS_NAME).resolve(), (folder / CONFIG_NAME).resolve()
    original = weights.read_bytes()
    other = load_file(weights)
    other["conv1.weight"] += 1
    save_file(other, weights)
    with pytest.raises(ChecksumMismatch, match=rf"{WEIGHTS_NAME}: the Hugging Face cache's copy is not the file"):
        load_backbone(f"hf-hub:{repo_id}")
    weights.write_bytes(original)
    config.write_text(config.read_text().replace('"num_features"', ' "num_features"'))
    with pytest.raises(ChecksumMismatch, match=rf"{CONFIG_NAME}: the Hugging Face cache's copy is not the file"):
        load_backbone(f"hf-hub:{repo_id}")
    # A backup restored with its links followed (or a cache without links): copies, checked against the Hub's
    # listing of the revision.
    config.write_text(config.read_text().replace(' "num_features"', '"num_features"'))
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).write_bytes(original)
    load_backbone(f"hf-hub:{repo_id}")
    save_file(other, folder / WEIGHTS_NAME)
    with pytest.raises(
        ChecksumMismatch, match=rf"{WEIGHTS_NAME}: the Hugging Face cache's copy is not the file the Hub lists"
    ):
        load_backbone(f"hf-hub:{repo_id}")
    # Xet's shared store: the blob the snapshot links to links on, to a file of another name (refused as changed).
    store = weights.parent / "ab" / ("ab" + "1" * 62)
    store.parent.mkdir()
    store.write_bytes(original)
    weights.unlink()
    weights.symlink_to(store)
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).symlink_to(Path("..", "..", "blobs", weights.name))
    load_backbone(f"hf-hub:{repo_id}")
    # Links made by hand, to other weights or to a blob of another file (a valid name): online, checked against the
    # Hub's listing; offline, a link the cache did not make is refused. Both were "cached and verified".
    from huggingface_hub import constants

    evil = weights.parent.parent / "evil.safetensors"
    save_file(other, evil)
    for target in (evil, config):
        (folder / WEIGHTS_NAME).unlink()
        (folder / WEIGHTS_NAME).symlink_to(target)
        with pytest.raises(ChecksumMismatch, match=rf"{WEIGHTS_NAME}: the Hugging Face cache's copy is not the file"):
            load_backbone(f"hf-hub:{repo_id}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).symlink_to(evil)
    with pytest.raises(ChecksumMismatch, match=rf"{WEIGHTS_NAME}: a link the Hugging Face cache did not make \(to "):
        load_backbone(f"hf-hub:{repo_id}")
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).symlink_to(Path("..", "..", "blobs", weights.name))
    load_backbone(f"hf-hub:{repo_id}")
    # Online but the Hub unreachable: huggingface_hub serves the cache, and so does the check (its listing failed).
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert download_hub_repo(repo_id, endpoint="http://127.0.0.1:9") == folder


def test_offline_a_copy_in_the_hugging_face_cache_is_said_unchecked(hub: HubServer, exported, monkeypatch):
    """Offline, a copy where the cache keeps a link has nothing to be checked against: it loads (README: "taken as
    it is"), and `download` said "cached and verified" of it. A folder where the weights should be said the repo
    had none."""
    from huggingface_hub import constants

    from simsiam_zoo.errors import ChecksumMismatch, UncheckedFileWarning

    repo_id = "zoo-test/copied"
    push_hub_folder(exported, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    folder = download_hub_repo(repo_id)
    assert "cached and verified" in run_cli("download", f"hf-hub:{repo_id}").stdout
    weights = (folder / WEIGHTS_NAME).resolve()
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).write_bytes(weights.read_bytes())
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.warns(UncheckedFileWarning, match=rf"{WEIGHTS_NAME} taken as found, unchecked"):
        load_backbone(f"hf-hub:{repo_id}")
    done = run_cli("download", f"hf-hub:{repo_id}", env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0 and "cached, not all of it verified" in done.stdout, done.stdout
    assert f"{WEIGHTS_NAME} taken as found, unchecked" in done.stderr
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).mkdir()
    with pytest.raises(ChecksumMismatch, match=rf"{WEIGHTS_NAME}: not a file in the Hugging Face cache"):
        load_backbone(f"hf-hub:{repo_id}")


def test_a_local_hub_copy_holds_the_hub_folders_files_only(exported, tmp_path):
    """A file put beside a hub folder's (a user's notes) was copied into the local hub as the model's; `push` never
    uploaded it. A copy an earlier version made, its marker listing the notes, is replaced with them."""
    folder = shutil.copytree(exported, tmp_path / "model")
    (folder / "notes.txt").write_text("the user's")
    own = sorted([".simsiam-zoo.json", *(path.name for path in exported.iterdir() if not path.name.startswith("."))])
    target = publish_local(folder, hub_dir=tmp_path / "hub", repo_id="user/model")
    assert sorted(path.name for path in target.iterdir()) == own
    marker = json.loads((target / ".simsiam-zoo.json").read_text())
    (target / ".simsiam-zoo.json").write_text(json.dumps({**marker, "files": [*marker["files"], "notes.txt"]}))
    (target / "notes.txt").write_text("the user's")
    target = publish_local(folder, hub_dir=tmp_path / "hub", repo_id="user/model")
    assert sorted(path.name for path in target.iterdir()) == own


@pytest.mark.parametrize("repo_id", ["me/my-model", None])
def test_a_cards_usage_loads_a_model_named_by_its_user(trained, exported, tmp_path, repo_id):
    """The card of a run exported under a name of the user's own told simsiam-zoo users to load it by that name,
    which no zoo registers (UnknownModelError); it gives the repo the card names, as the timm usage does. A zoo
    entry's card keeps its name."""
    assert f'load_backbone("{NAME}")' in (exported / "README.md").read_text()
    folder = export_checkpoint(trained, tmp_path / "mine", name="resnet18.mine", repo_id=repo_id)
    text = (folder / "README.md").read_text()
    timm_id = re.search(r'timm\.create_model\("hf-hub:([^"]+)"', text)[1]
    load_id = re.search(r'load_backbone\("([^"]+)"\)', text)[1]
    assert load_id == f"hf-hub:{timm_id}" and f"simsiam-zoo extract {load_id} IMAGES/" in text
    publish_local(folder, hub_dir=tmp_path / "hub", repo_id=timm_id)
    loaded = load_backbone(load_id, hub_dir=tmp_path / "hub")
    torch.testing.assert_close(loaded.model(INPUT), _reference_features(trained, INPUT))


def test_a_card_names_the_data_a_run_trained_on_and_the_repo_it_loads_from(tmp_path):
    """Fashion-MNIST's recipe trained on `cifar10:train` got Fashion-MNIST's dataset id, and under the demo entry's
    name that entry's summary; that name exported into a repo of the user's own told simsiam-zoo users to load the
    entry's weights."""
    recipe = load_recipe("simsiam_r18_fashion_mnist").replace(
        {"data.path": "cifar10:train", "optim.batch_size": 8, "data.knn_train_size": 0, "data.knn_test_size": 0}
    )
    run = tmp_path / "run"
    train(recipe, output_dir=run, dataset=coloured(16, seed=0), max_steps=1, progress=False)
    mine = ModelCard.load(export_checkpoint(run, tmp_path / "mine", name="resnet18.mine") / "README.md")
    assert mine.data.datasets is None  # no Hub id known for it: none rather than another dataset's
    demo = export_checkpoint(run, tmp_path / "demo", name=NAME, repo_id="me/demo")
    text = (demo / "README.md").read_text()
    assert ModelCard(text).data.datasets is None and zoo.ZOO[NAME].summary not in text
    assert 'load_backbone("hf-hub:me/demo")' in text and 'create_model("hf-hub:me/demo"' in text


def test_zoo_name_from_a_local_hub_checks_sha256(exported, tmp_path, monkeypatch):
    hub_dir = tmp_path / "hub"
    entry = zoo.ZOO[NAME]
    target = publish_local(exported, hub_dir=hub_dir, repo_id=entry.hub_id)
    assert target == hub_dir / entry.hub_id and not list(target.parent.glob(".*"))
    digest = sha256_file(exported / WEIGHTS_NAME)
    monkeypatch.setitem(zoo.ZOO, NAME, dataclasses.replace(entry, sha256=digest))
    assert load_backbone(NAME, hub_dir=hub_dir).arch == "resnet18"
    monkeypatch.setitem(zoo.ZOO, NAME, dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(HubFolderError, match=rf"model.safetensors: sha256 {digest} does not match"):
        load_backbone(NAME, hub_dir=hub_dir)
    random = load_backbone(NAME, pretrained=False)
    assert random.source == "random init" and random.preprocessing == entry.preprocessing
    # No pinned sha256: the repo must hold that entry at least. Another model in it was loaded as the entry.
    monkeypatch.setitem(zoo.ZOO, NAME, entry)
    assert load_backbone(NAME, hub_dir=hub_dir).arch == "resnet18"
    card = target / "README.md"
    card.write_text(card.read_text().replace(f"model_name: {NAME}", "model_name: resnet18.other", 1))
    with pytest.raises(
        HubFolderError, match=rf"{NAME}: {entry.hub_id} holds a resnet18 whose card names 'resnet18.other'"
    ):
        load_backbone(NAME, hub_dir=hub_dir)


def test_unknown_model_name_suggests_close_ones():
    with pytest.raises(
        UnknownModelError,
        match=r"simsiam_resnet50.in1k: unknown zoo model; did you mean "
        r"simsiam_resnet50.in1k_ep100_bs512",
    ):
        load_backbone("simsiam_resnet50.in1k")


def test_a_path_that_does_not_exist_or_holds_no_checkpoint_is_named_so(tmp_path: Path) -> None:
    """A missing path was an "unknown zoo model" or a corrupt checkpoint with a raw errno; a run stopped before its
    first checkpoint was a corrupt one too."""
    for missing in (tmp_path / "gone" / "x.pth", "org/name"):
        with pytest.raises(HubFolderError, match=rf"^{missing}: no such file or folder \(a Hugging Face Hub model"):
            load_backbone(str(missing))
    with pytest.raises(ConversionError, match=rf"^{tmp_path / 'gone'}: no such file$"):
        load_backbone(tmp_path / "gone")
    (tmp_path / "run").mkdir()
    with pytest.raises(ConversionError, match=rf"^{tmp_path / 'run'}: no checkpoint.pt: not a training run, or one"):
        export_checkpoint(tmp_path / "run", tmp_path / "out", name="x")
    for nothing in (None, 123):  # unknown zoo models
        with pytest.raises(TypeError, match="name_or_path must be a zoo name, an hf-hub: id or a path, got"):
            load_backbone(nothing)
    for blank in ("", "  "):  # "" loaded the working directory; then a TypeError, a traceback in the CLI
        with pytest.raises(UnknownModelError, match=rf"^{blank!r}: an empty model name; give a zoo name, an hf-hub"):
            load_backbone(blank)
    done = run_cli("download", " ")  # a usage error in the CLI
    assert done.returncode == 2 and "Invalid value for 'NAME': an empty model name" in done.stderr, done.stderr


def test_an_arch_or_pretrained_the_model_does_not_match_is_named(exported):
    """`arch="resnet50"` for a resnet18 hub folder gave the resnet18 in silence; `pretrained="no"` was true."""
    with pytest.raises(ValueError, match=rf"arch='resnet50', but {re.escape(str(exported))} is a resnet18; leave arch"):
        load_backbone(str(exported), arch="resnet50")
    with pytest.raises(ValueError, match="arch='resnet18', but resnet50.simsiam_in1k_ep100_bs512 is a resnet50"):
        load_backbone("resnet50.simsiam_in1k_ep100_bs512", pretrained=False, arch="resnet18")
    with pytest.raises(TypeError, match="pretrained must be True or False, got 'no'"):
        load_backbone(str(exported), pretrained="no")
    assert load_backbone(str(exported), arch="resnet18").arch == "resnet18"


def test_broken_folders_give_clear_errors(exported, tmp_path):
    import shutil

    truncated = shutil.copytree(exported, tmp_path / "truncated")
    weights = truncated / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(HubFolderError, match=r"truncated/model.safetensors: not a readable safetensors file"):
        load_backbone(truncated)

    wrong_arch = shutil.copytree(exported, tmp_path / "wrong_arch")
    config = (wrong_arch / CONFIG_NAME).read_text().replace('"resnet18"', '"resnet50"')
    (wrong_arch / CONFIG_NAME).write_text(config)
    with pytest.raises(HubFolderError, match=r"do not fit timm 'resnet50': missing keys: .*layer1.0.bn3"):
        load_backbone(wrong_arch)

    missing_field = shutil.copytree(exported, tmp_path / "missing_field")
    (missing_field / CONFIG_NAME).write_text('{"architecture": "resnet18", "num_classes": 0}')
    with pytest.raises(HubFolderError, match=r"config.json: missing fields pretrained_cfg"):
        load_backbone(missing_field)
    (missing_field / CONFIG_NAME).unlink()
    (missing_field / CONFIG_NAME).mkdir()  # was an errno, exit 6 ("output cannot be written")
    with pytest.raises(HubFolderError, match=r"missing_field/config.json: a folder, where a JSON file belongs$"):
        load_backbone(missing_field)
    # A FIFO waited for a writer, for good (a config, the weights, a zoo cache's record that `models` lists).
    fifo = shutil.copytree(exported, tmp_path / "fifo")
    (fifo / CONFIG_NAME).unlink()
    make_fifo(fifo / CONFIG_NAME)
    with pytest.raises(HubFolderError, match=r"fifo/config.json: not a regular file \(a FIFO, socket or device\)"):
        load_backbone(fifo)
    (fifo / CONFIG_NAME).unlink()
    shutil.copy(exported / CONFIG_NAME, fifo / CONFIG_NAME)
    (fifo / WEIGHTS_NAME).unlink()
    make_fifo(fifo / WEIGHTS_NAME)
    with pytest.raises(HubFolderError, match=r"fifo/model.safetensors: not a regular file \(a FIFO, socket or dev"):
        load_backbone(fifo)

    fp16 = shutil.copytree(exported, tmp_path / "fp16")
    from safetensors.torch import load_file, save_file

    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in load_file(fp16 / WEIGHTS_NAME).items()},
        fp16 / WEIGHTS_NAME,
    )
    with pytest.raises(HubFolderError, match="not float32"):
        validate_hub_folder(fp16)
    # What the zoo publishes is float32, but a third-party half-precision repo loads, upcast exactly.
    half = load_backbone(fp16).model.state_dict()
    full = load_backbone(exported).model.state_dict()
    assert all(half[k].dtype == full[k].dtype for k in full)
    assert all(torch.equal(half[k], full[k].half().float()) for k in full if full[k].is_floating_point())
    assert any(not torch.equal(half[k], full[k]) for k in full if full[k].is_floating_point())


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": _RunsCode(marker)}, f)
    with pytest.raises(ConversionError, match=r"evil.pth: refused to load: unpickling it needs arbitrary code"):
        load_backbone(evil)
    assert not marker.exists()


def test_a_torch_file_of_the_format_before_1_6_is_judged_as_one(tmp_path):
    """torch's own reader took a name cut short by truncation for a global to refuse ("needs arbitrary code"), and
    named none of the globals a whole file of this format would import."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": _RunsCode(marker)}, evil, _use_new_zipfile_serialization=False)
    with pytest.raises(
        ConversionError, match=r"evil.pth: refused to load: unpickling it needs arbitrary code \((posix|nt)\.system\)"
    ):
        load_backbone(evil)
    assert not marker.exists()
    whole = tmp_path / "whole.pth"
    torch.save(collections.OrderedDict(weight=torch.ones(4)), whole, _use_new_zipfile_serialization=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: data.index(b"OrderedDict") + 3])
    with pytest.raises(ConversionError, match=r"cut.pth: cannot read torch checkpoint \(truncated or corrupt\?\)"):
        load_backbone(cut)


def test_export_of_a_bad_checkpoint_writes_nothing(trained, tmp_path):
    checkpoint = read_torch_checkpoint(trained / CHECKPOINT_NAME)
    del checkpoint["model"]["backbone.layer4.1.bn2.weight"]
    broken = tmp_path / "broken.pt"
    torch.save(checkpoint, broken)
    out = tmp_path / "out" / NAME
    with pytest.raises(HubFolderError, match=r"missing keys: layer4.1.bn2.weight"):
        export_checkpoint(broken, out, name=NAME)
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_cli_models_export_and_detectron2(exported, trained, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return run_cli(*args, process=True)

    listing = cli("models")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("resnet50.simsiam_in1k_ep100_bs512 "))
    assert row.split() == ["resnet50.simsiam_in1k_ep100_bs512", "simsiam", "100", "512", "68.1", "cc-by-nc-4.0", "no"]
    done = cli("export", str(trained), str(tmp_path / "hub"), "--name", NAME, "--backbone-only")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "hub" / "simsiam.safetensors").exists()
    done = cli("export-detectron2", str(exported), str(tmp_path / "d2.pkl"))
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "d2.pkl", "rb") as f:
        d2 = pickle.load(f)
    assert d2["matching_heuristics"] is True and "res5.1.conv2.norm.weight" in d2["model"]
    unknown = cli("download", "simsiam_resnet50.in1k_ep1000")
    assert unknown.returncode == 3 and "did you mean" in unknown.stderr


@pytest.mark.parametrize("repo_id", ["../escape", "org/../../escape", "org/name/extra"])
def test_local_hub_ids_cannot_climb_out_of_the_hub_directory(exported, tmp_path, repo_id):
    with pytest.raises(HubFolderError, match="repo id"):
        publish_local(exported, hub_dir=tmp_path / "hub", repo_id=repo_id)
    with pytest.raises(HubFolderError, match="repo id"):
        load_backbone(f"hf-hub:{repo_id}", hub_dir=tmp_path / "hub")
    assert not any(tmp_path.glob("**/escape"))


class _Marker:
    """Unpickling it creates a file: the proof that a checkpoint was unpickled blindly."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_model_args_of_a_huge_network_are_refused_before_it_is_built() -> None:
    """A few bytes of a config's model_args (a ViT of width 131072: 200 GB a block) failed in the allocator, a
    traceback; a deeper one initialised for minutes. The weights are checked against the network built without
    memory first."""
    import timm

    from simsiam_zoo.backbone import backbone_from_state

    state = timm.create_model("test_vit", num_classes=0).state_dict()
    with pytest.raises(HubFolderError, match=r"^x: weights do not fit timm 'test_vit': .*wrong shapes: .*blocks"):
        backbone_from_state("test_vit", state, where="x", model_args={"embed_dim": 2**17})
    assert backbone_from_state(
        "test_vit", state, where="x", model_args={"depth": len(timm.create_model("test_vit").blocks)}
    )


@pytest.mark.parametrize(
    "model_args",
    [{"checkpoint_path": "EVIL"}, {"pretrained_cfg_overlay": {"url": "http://127.0.0.1:9/x.pth"}}, {"depth": [1, "a"]}],
)
def test_a_hub_folder_s_model_args_only_shape_the_network(hub_folder, tmp_path, model_args):
    """A config.json from elsewhere cannot make timm read files when it builds the model: `checkpoint_path` (timm
    would torch.load it, unpickling what it holds) and the other non-shape arguments are refused by name."""
    import json
    import shutil

    folder = tmp_path / "folder"
    shutil.copytree(hub_folder, folder)
    evil, marker = tmp_path / "evil.pth", tmp_path / "unpickled"
    torch.save({"state_dict": _Marker(str(marker))}, evil)
    config = json.loads((folder / CONFIG_NAME).read_text())
    model_args = {key: str(evil) if value == "EVIL" else value for key, value in model_args.items()}
    (folder / CONFIG_NAME).write_text(json.dumps({**config, "model_args": model_args}))
    key = next(iter(model_args))
    with pytest.raises(HubFolderError, match=rf"config.json: model_args '{key}'=.* is not a shape argument"):
        load_backbone(folder)
    assert not marker.exists()


def test_another_projects_checkpoint_that_does_not_convert_is_named_by_the_loader(tmp_path: Path) -> None:
    """`extract model.pth` said "wrong dtypes: ..." without the file (convert named it, the loader did not)."""
    import torchvision

    state = torchvision.models.resnet18().state_dict()
    state["bn1.num_batches_tracked"] = torch.tensor(3.0)
    torch.save(state, tmp_path / "model.pth")
    with pytest.raises(ConversionError, match=rf"^{tmp_path / 'model.pth'}: wrong dtypes: bn1.num_batches_tracked"):
        load_backbone(tmp_path / "model.pth")


def test_another_projects_checkpoint_loads_as_its_converted_folder_does(tmp_path: Path) -> None:
    """A MoCo file given to `extract` or `benchmark` was embedded with bicubic resizing, its converted folder with
    the bilinear that MoCo's entries use: the same weights scored apart. A list or an empty dict saved as a `.pth`
    was an AttributeError traceback (convert named the file)."""
    from simsiam_zoo.export import convert_to_hub
    from tests.checkpoints import Wrapper, seeded_resnet

    encoder_q = seeded_resnet("resnet50", seed=1)
    encoder_q.fc = torch.nn.Sequential(torch.nn.Linear(2048, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    raw = tmp_path / "moco.pth.tar"
    torch.save({"epoch": 200, "state_dict": Wrapper(module=Wrapper(encoder_q=encoder_q)).state_dict()}, raw)
    convert_to_hub(raw, tmp_path / "converted", name="resnet50.my_moco")
    from_file, from_folder = load_backbone(raw), load_backbone(tmp_path / "converted")
    assert from_file.preprocessing == from_folder.preprocessing and from_file.preprocessing.interpolation == "bilinear"
    assert (from_file.arch, from_file.model_args) == (from_folder.arch, from_folder.model_args)
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(from_file.model(image), from_folder.model(image))
    for saved, problem in (([torch.zeros(1)], "expected a dict of tensors, found list"), ({}, "contains no tensors")):
        torch.save(saved, tmp_path / "odd.pth")
        with pytest.raises(ConversionError, match=rf"^{tmp_path / 'odd.pth'}: {problem}$"):
            load_backbone(tmp_path / "odd.pth")


def test_a_card_without_metadata_loads_without_the_hubs_log_line(exported, tmp_path, caplog) -> None:
    """huggingface_hub's "Repo card metadata block was not found" was printed raw beside the one-line messages."""
    import logging
    import shutil

    folder = tmp_path / "plain"
    shutil.copytree(exported, folder)
    (folder / "README.md").write_text("# A card without metadata\n")
    with caplog.at_level(logging.WARNING):
        assert load_backbone(folder).license is None
    assert not [record for record in caplog.records if "metadata block" in record.getMessage()]


def test_folders_timm_saves_load_as_backbones_their_classifier_dropped(tmp_path: Path) -> None:
    """timm's `save_for_hf` writes `num_classes` and `in_chans` into `model_args` (refused as not shape arguments),
    and a classifier's folder (a fine-tune's, most of timm's Hub repos) held weights 'that did not fit': each loads
    as the backbone, the classifier checked whole and dropped, embedding as timm's pre-logits do."""
    from timm.models import save_for_hf

    images = torch.randn(2, 3, 32, 32)
    for num_classes in (0, 3):
        torch.manual_seed(num_classes)
        saved = timm.create_model("resnet18", num_classes=num_classes).eval()
        save_for_hf(saved, tmp_path / str(num_classes), safe_serialization=True)
        loaded = load_backbone(tmp_path / str(num_classes))
        assert json.loads((tmp_path / str(num_classes) / CONFIG_NAME).read_text())["model_args"]["in_chans"] == 3
        assert loaded.model_args == {"global_pool": "avg"}
        with torch.no_grad():
            expected = saved.forward_head(saved.forward_features(images), pre_logits=True)
            assert torch.allclose(loaded.model(images), expected, atol=1e-5)
    # A backbone's weights under a config naming 1000 classes: timm loads it so (with num_classes=0), and so here.
    backbone_config = json.loads((tmp_path / "0" / CONFIG_NAME).read_text())
    (tmp_path / "0" / CONFIG_NAME).write_text(json.dumps({**backbone_config, "num_classes": 1000, "model_args": {}}))
    assert load_backbone(tmp_path / "0").model_args == {}
    folder, config_file = tmp_path / "3", tmp_path / "3" / CONFIG_NAME
    config = json.loads(config_file.read_text())
    wrong = [
        ({**config, "num_classes": 5}, r"model_args num_classes=3 is not the config's num_classes=5"),
        (
            {**config, "num_classes": 5, "model_args": {}},
            r"with a classifier of 5 classes \(the config's num_classes\): wrong shapes: fc.bias",
        ),
        ({**config, "num_classes": 0, "model_args": {}}, r"unexpected keys: fc.bias, fc.weight"),
        ({**config, "model_args": {"in_chans": 1}}, r"model_args in_chans=1; images are read as RGB \(3\)"),
    ]
    for edited, message in wrong:
        config_file.write_text(json.dumps(edited))
        with pytest.raises(HubFolderError, match=message):
            load_backbone(folder)


def test_models_says_a_hub_entry_is_cached_only_where_a_load_finds_its_files(tmp_path, monkeypatch) -> None:
    """A weights file alone was "yes" (the load then: "the repo has no config.json"); a `refs/main` of other bytes
    than a commit's name, a UnicodeDecodeError traceback from `models`."""
    from huggingface_hub import constants

    from simsiam_zoo.loader import cache_status

    entry = zoo.ZOO["vit_small_patch14_dinov2.dinov2_lvd142m"]
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / f"models--{entry.hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / WEIGHTS_NAME).write_bytes(b"weights")
    assert cache_status(entry) == "no"
    (snapshot / CONFIG_NAME).write_text("{}")
    assert cache_status(entry) == "yes"
    (repo / "refs" / "main").write_bytes(b"\xff\xfe\x00bad")
    assert cache_status(entry) == "no"
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / WEIGHTS_NAME).unlink()
    (snapshot / WEIGHTS_NAME).mkdir()
    assert cache_status(entry) == "no"
