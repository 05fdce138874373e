"""The features store: a rerun with other settings or another source is refused and changes nothing, `load_features`
names the file it cannot read, and a second extraction into one folder waits for the first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import timm
import torch

from simsiam_zoo.augment import eval_transform
from simsiam_zoo.errors import DataError
from simsiam_zoo.features import extract, extract_features, load_features
from tests.builders import (
    class_folder,
    make_fifo,
    make_transform,
    snapshot,
    tiny_model,
    write_png,
)


def test_a_store_of_the_versions_before_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Versions before recorded no network (nor its attributes): their shards carry the digest of the settings
    # without them (they were refused as "written by an extraction with other settings").
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    current_settings = extract._settings
    monkeypatch.setattr(
        extract,
        "_settings",
        lambda *args, **kwargs: {
            k: v for k, v in current_settings(*args, **kwargs).items() if k not in ("network", "network_attributes")
        },
    )
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, shard_size=2)
    monkeypatch.undo()
    (out / "shard-00001.safetensors").unlink()
    (out / "index.json").unlink()
    summary = extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, shard_size=2)
    assert (summary.resumed_shards, summary.num_embedded) == (3, 7)
    assert len(load_features(out).paths) == 7


def test_the_same_weights_in_attention_of_other_heads_are_refused(tmp_path: Path) -> None:
    # The attention's number of heads is no layer's repr: the same weights in 4 heads resumed the 2 heads' shards.
    class_folder(tmp_path / "data")
    vit = {"img_size": 32, "patch_size": 16, "embed_dim": 16, "depth": 1, "num_classes": 0}
    two_heads = timm.create_model("vit_tiny_patch16_224", num_heads=2, **vit)
    four_heads = timm.create_model("vit_tiny_patch16_224", num_heads=4, **vit)
    four_heads.load_state_dict(two_heads.state_dict())
    out = tmp_path / "out"
    extract_features(two_heads, make_transform(), tmp_path / "data", out=out, progress=False)
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"changed: the network's settings \(attributes such as"):
        extract_features(four_heads, make_transform(), tmp_path / "data", out=out, progress=False)
    assert snapshot(out) == before
    # Attributes that are not such settings (timm adds some in its releases: `in_chans`) change nothing; nor does a
    # wrapper with no settings of its own.
    two_heads.in_chans, two_heads.drop_rate = 3, 0.5
    resumed = extract_features(
        torch.nn.Sequential(two_heads), make_transform(), tmp_path / "data", out=out, progress=False
    )
    assert resumed.resumed_shards == 1


def test_other_settings_or_source_are_refused(tmp_path: Path) -> None:
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    with pytest.raises(ValueError, match=r"other inputs or settings \(changed: dtype\)"):
        extract_features(
            tiny_model(),
            make_transform(),
            tmp_path / "data",
            out=out,
            progress=False,
            model_name="b",
            dtype="float16",
        )
    # The same weights under another name resume (nothing to do); other weights under the same name do not.
    assert (
        extract_features(
            tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="b"
        ).resumed_shards
        == 1
    )
    before = snapshot(out)
    retrained = tiny_model()
    with torch.no_grad():
        retrained[0].weight.add_(0.01)
    with pytest.raises(ValueError, match=r"changed: the model's weights\)"):
        extract_features(retrained, make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    with pytest.raises(ValueError, match=r"changed: the preprocessing\)"):
        extract_features(
            tiny_model(),
            eval_transform(image_size=32, crop_pct=1.0, mean=(0.5,) * 3, std=(0.2,) * 3),
            tmp_path / "data",
            out=out,
            progress=False,
        )
    # The same weights in another network (a max pool where the average was): other embeddings, resumed as the
    # first network's.
    max_pooled = tiny_model()
    max_pooled[5] = torch.nn.AdaptiveMaxPool2d(1)
    with pytest.raises(ValueError, match=r"changed: the network \(its architecture or settings\)\)"):
        extract_features(max_pooled, make_transform(), tmp_path / "data", out=out, progress=False)
    assert snapshot(out) == before
    # The same relative path from another folder is another data source.
    class_folder(tmp_path / "elsewhere" / "data")
    with pytest.raises(ValueError, match=r"changed: the data source, "):
        extract_features(tiny_model(), make_transform(), tmp_path / "elsewhere" / "data", out=out, progress=False)
    image = tmp_path / "data" / "cat" / "a.png"
    stat = image.stat()
    write_png(image, 99)  # edited in place: same name
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"changed: the images \(paths, sizes or modification times\)\)"):
        extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False)
    write_png(tmp_path / "data" / "cat" / "new.png", 99)
    with pytest.raises(ValueError, match=r"changed: the data source, the images"):  # one image more
        extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    assert snapshot(out) == before  # the refused runs changed nothing


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="index.json: not found"):
        load_features(out)
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False)
    (out / "shard-00001.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="shard-00001.safetensors: missing or corrupt shard"):
        load_features(out)
    # A rerun recomputes the damaged shard.
    assert (
        extract_features(
            tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False
        ).resumed_shards
        == 1
    )
    assert len(load_features(out).paths) == 7
    # An index edited to list fewer shards than its images (none): it gave empty features, then a traceback.
    index = json.loads((out / "index.json").read_text())
    (out / "index.json").write_text("[" * 100_000)  # nested too deep for the parser: a RecursionError traceback
    with pytest.raises(DataError, match="index.json: corrupt index: nested too deep$"):
        load_features(out)
    settings = (out / "settings.json").read_text()
    (out / "settings.json").write_text("[" * 100_000)
    with pytest.raises(DataError, match=r"settings.json: unreadable \(nested too deep\); choose a new output"):
        extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False)
    (out / "settings.json").write_text(settings)
    for shards, message in (([], "do not cover its 7 images"), (index["shards"][:1], "do not cover its 7 images")):
        (out / "index.json").write_text(json.dumps({**index, "shards": shards}))
        with pytest.raises(DataError, match=f"index.json: corrupt index: its shards {message} one after another$"):
            load_features(out)
    shards = [dict(index["shards"][0], num_embedded=3), *index["shards"][1:]]
    (out / "index.json").write_text(json.dumps({**index, "shards": shards}))
    with pytest.raises(DataError, match="index.json: corrupt index: its shards hold 6 embeddings, not its 7$"):
        load_features(out)
    # Its last shard dropped, the counts edited to match: it scored 4 of the 7 images as if they were all.
    edited = {**index, "shards": index["shards"][:1], "num_images": 4, "num_embedded": 4}
    (out / "index.json").write_text(json.dumps(edited))
    with pytest.raises(DataError, match="index.json: corrupt index: it lists 4 images of a source of 7$"):
        load_features(out)
    # Shard boundaries moved: shard 0 holds images 0-3, not the 0-2 its entry now says.
    shards = [dict(index["shards"][0], stop=3), dict(index["shards"][1], start=3)]
    (out / "index.json").write_text(json.dumps({**index, "shards": shards}))
    with pytest.raises(DataError, match="shard-00000.safetensors: does not match .*index.json$"):
        load_features(out)
    # A FIFO as a shard or as the index: the read waited for a writer, for good.
    (out / "index.json").write_text(json.dumps(index))
    (out / "shard-00001.safetensors").unlink()
    make_fifo(out / "shard-00001.safetensors")
    with pytest.raises(DataError, match=r"shard-00001.safetensors: not a regular file \(a FIFO, socket or device\)$"):
        load_features(out)
    (out / "index.json").unlink()
    make_fifo(out / "index.json")
    with pytest.raises(DataError, match=r"index.json: not a regular file \(a FIFO, socket or device\)$"):
        load_features(out)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("embeddings", (0, 1), float("nan")), r"NaN or inf in 1 rows \(the first: 0\)"),
        (("labels", 1, 7), "labels 7 are not among the 3 classes of its index"),
    ],
    ids=["a NaN row", "a label outside the classes"],
)
def test_a_shard_edited_into_values_no_evaluation_can_use_is_named(tmp_path: Path, edit, message) -> None:
    """Rewritten as valid safetensors with its metadata kept, it passed every check: kNN scored a NaN row and the
    linear probe failed with torch's error; a label outside the classes was voted with."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False)
    shard = out / "shard-00001.safetensors"
    with safe_open(str(shard), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(shard)
    name, where, value = edit
    tensors[name][where] = value
    save_file(tensors, shard, metadata=metadata)
    with pytest.raises(DataError, match=f"shard-00001.safetensors: corrupt shard: {message}$"):
        load_features(out)


def test_a_second_extraction_into_one_folder_waits_for_the_first(tmp_path: Path) -> None:
    """Two identical extractions into one folder raced (one deleted the other's temp settings file and died):
    the second now waits on the folder's lock, then finds the work done and resumes it."""
    import threading

    from filelock import FileLock

    from simsiam_zoo.features.store import LOCK_NAME

    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    model, transform, out = tiny_model(), make_transform(), tmp_path / "out"
    first = extract_features(model, transform, data, out=out, progress=False)
    (out / "settings.json").unlink()  # so that the waiting one must write it: seen only once it may
    results = []
    with FileLock(out / LOCK_NAME):  # as the first extraction holds it while it runs
        second = threading.Thread(
            target=lambda: results.append(extract_features(model, transform, data, out=out, progress=False))
        )
        second.start()
        second.join(timeout=3)
        assert second.is_alive() and not (out / "settings.json").exists()
    second.join(timeout=60)
    assert results and results[0].num_embedded == first.num_embedded == 4
    assert (out / "settings.json").exists()


def test_a_run_that_failed_before_its_first_shard_does_not_block_the_fixed_rerun(tmp_path: Path) -> None:
    """A model that gives no embeddings (a conv layer's maps) failed with a clear error but left its settings, and
    the rerun with the right model was refused ("changed: the model's weights") until the folder was deleted."""
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        extract_features(torch.nn.Conv2d(3, 4, 3), make_transform(), tmp_path / "data", out=out, progress=False)
    assert (out / "settings.json").exists() and not list(out.glob("shard-*"))
    done = extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False)
    assert done.num_embedded == len(load_features(out).paths) == 7
    with pytest.raises(DataError, match=r"holds an extraction of other inputs or settings \(changed: the model"):
        extract_features(torch.nn.Conv2d(3, 4, 3), make_transform(), tmp_path / "data", out=out, progress=False)


def test_a_finished_extraction_rerun_writes_nothing(tmp_path: Path) -> None:
    """The rerun of a finished extraction rewrote skipped.json and index.json as they were: in a read-only folder
    (a shared cache, an immutable one) that failed, exit 6, where nothing was to be written."""
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False)
    files = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.rglob("*") if path.is_file()}
    summary = extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False)
    assert summary.resumed_shards == summary.shards
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.rglob("*") if path.is_file()} == files
