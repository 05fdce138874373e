"""The prepared GPU check, one section per call (scripts/gpu_check.sh runs each under a time box, then `summary`).

Sections, each a ratio against a baseline measured in the same run:
  model       SimSiam step on in-memory batches (bf16, channels_last, compile off and on): the model ceiling
  pipeline    the same step end to end from JPEG files: augmentation per image in workers vs batched on the device
  extract     `extract_features` on those JPEGs vs timm's compiled inference on the same images, in memory
  evaluate    kNN and the linear probe vs scikit-learn on the same features; kNN over a large synthetic bank
  demo        `simsiam-zoo demo` (1.5 minutes, so that the whole check fits 8) on the device, its wall clock

Each section writes OUT/NAME.json; `summary` writes OUT/summary.json and OUT/summary.md from whatever is there.
`--smoke` runs every code path with tiny sizes on the CPU.

    python scripts/gpu_check.py SECTION OUT [--smoke]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the working tree's package, on a machine where it is not installed
sys.path.insert(0, str(ROOT / "scripts"))  # bench_pipeline's end-to-end timing


def map_package_data() -> None:
    """pyproject installs the top-level cards/ as the package simsiam_zoo.cards; from a bare working tree (the GPU
    machine's case), map it the same way, or the model card (and so export and the demo) cannot be found."""
    import importlib.util

    if importlib.util.find_spec("simsiam_zoo.cards") is not None:
        return
    spec = importlib.util.spec_from_file_location(
        "simsiam_zoo.cards", ROOT / "cards" / "__init__.py", submodule_search_locations=[str(ROOT / "cards")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


map_package_data()

SECTIONS = ("model", "pipeline", "extract", "evaluate", "demo")


def sizes(smoke: bool) -> dict[str, Any]:
    if smoke:
        return {
            "arch": "resnet18",
            "batch": 8,
            "image": 64,
            "steps": 3,
            "jpegs": 48,
            "jpeg_size": (96, 72),
            "workers": 2,
            "bank": 2_000,
            "dim": 64,
            "queries": 200,
            "train": 600,
            "test": 200,
            "demo_minutes": 0.3,
            "device": "cpu",
            "precision": "fp32",
            "compile_backend": "eager",
        }
    return {
        "arch": "resnet50",
        "batch": 256,
        "image": 224,
        "steps": 30,
        "jpegs": 8_704,
        "jpeg_size": (500, 375),
        "workers": 14,
        "bank": 1_281_167,
        "dim": 2048,
        "queries": 10_000,
        "train": 50_000,
        "test": 10_000,
        "demo_minutes": 1.5,
        "device": "cuda",
        "precision": "bf16",
        "compile_backend": "inductor",
    }


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def environment(device: str) -> dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    if device == "cuda":
        info.update(
            gpu=torch.cuda.get_device_name(),
            cuda=torch.version.cuda,
            peak_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
        )
    else:
        info.update(cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return info


def recipe_for(size: dict[str, Any], *, compile: bool = False, on_device: bool | None = None, data: str | None = None):
    from simsiam_zoo.recipe import load_recipe

    overrides = {
        "model.arch": size["arch"],
        "optim.batch_size": size["batch"],
        "data.image_size": size["image"],
        "run.precision": size["precision"],
        "run.channels_last": size["device"] == "cuda",
        "run.compile": compile,
        "run.checkpoint_every_steps": 10**9,
        "run.log_every_steps": 10**9,
        "optim.epochs": 1000,
        "data.knn_train_size": 0,
        "data.knn_test_size": 0,
    }
    if data is not None:
        overrides.update(
            {
                "data.dataset": "imagefolder",
                "data.path": data,
                "data.num_workers": size["workers"],
                "data.augment_on_device": on_device,
            }
        )
    return load_recipe("simsiam_r50_in1k_ep100").replace(overrides)


def model_step(size: dict[str, Any], *, compile: bool) -> dict[str, Any]:
    """Images a second (each two views) of the training step alone, on batches already on the device."""
    from simsiam_zoo.pretrain import build_model, recipe_optimizer, recipe_step

    recipe, device = recipe_for(size, compile=compile), size["device"]
    memory_format = torch.channels_last if recipe.run.channels_last else torch.contiguous_format
    core = build_model(recipe).to(device, memory_format=memory_format)
    optimizer = recipe_optimizer(core, recipe)
    # The smoke run compiles with dynamo alone (backend "eager"): inductor's C++ build of a ResNet takes minutes
    # on two cores, and the path through torch.compile is what the smoke run is for.
    forward = torch.compile(core, backend=size["compile_backend"]) if compile else core
    views = [
        torch.randn(size["batch"], 3, size["image"], size["image"], device=device).contiguous(
            memory_format=memory_format
        )
        for _ in range(2)
    ]

    def step() -> None:
        recipe_step(forward, recipe, optimizer, *views)

    started = time.perf_counter()
    for _ in range(3):  # warm-up (and compilation)
        step()
    synchronize(device)
    warm = time.perf_counter() - started
    seconds = timed(step, size["steps"], device)
    return {"images_per_s": size["batch"] * size["steps"] / seconds, "warmup_s": warm}


def timed(work: Callable[[], None], repeats: int, device: str) -> float:
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    synchronize(device)
    return time.perf_counter() - started


def section_model(size: dict[str, Any], save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    eager = model_step(size, compile=False)
    save({"eager": eager})  # kept if the compiled run does not finish in the time box
    compiled = model_step(size, compile=True)
    best = max(eager["images_per_s"], compiled["images_per_s"])
    return {"eager": eager, "compiled": compiled, "ceiling_images_per_s": best}


def write_jpegs(folder: Path, count: int, jpeg_size: tuple[int, int]) -> Path:
    """`count` JPEGs of ImageNet's typical size in two class folders (written by all cores): smooth random colour
    fields, so that they compress as photographs do rather than as noise."""
    for name in ("class0", "class1"):
        (folder / "train" / name).mkdir(parents=True, exist_ok=True)
    jobs = [(folder / "train" / f"class{index % 2}" / f"{index:06d}.jpg", index, jpeg_size) for index in range(count)]
    with multiprocessing.get_context("fork").Pool() as pool:
        pool.starmap(_write_jpeg, jobs, chunksize=64)
    return folder / "train"


def _write_jpeg(path: Path, seed: int, jpeg_size: tuple[int, int]) -> None:
    width, height = jpeg_size
    coarse = np.random.default_rng(seed).integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((width, height), Image.BILINEAR).save(path, quality=90)


def pipeline_run(size: dict[str, Any], data: Path, *, on_device: bool) -> dict[str, Any]:
    """Images a second of pretraining end to end (loader, augmentation, step), through train()'s own run, timed as
    scripts/bench_pipeline.py times it."""
    from bench_pipeline import end_to_end

    from simsiam_zoo.data import labelled_images

    recipe = recipe_for(size, on_device=on_device, data=str(data))
    steps, device = _whole_rounds(size, on_device), torch.device(size["device"])
    rate = end_to_end(recipe, labelled_images(data), steps=steps, device=device)
    return {"images_per_s": rate, "augment_on_device": on_device}


def section_pipeline(size: dict[str, Any], work: Path, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The model step, end to end with each augmentation, then what each input stage alone reaches (saved as it
    goes, so that a time-out keeps the parts done)."""
    from bench_pipeline import stage_rates

    from simsiam_zoo.data import labelled_images

    data = write_jpegs(work / "jpegs", size["jpegs"], size["jpeg_size"])
    result: dict[str, Any] = {"model_step_images_per_s": model_step(size, compile=False)["images_per_s"]}
    for name, on_device in (("workers", False), ("device", True)):
        result[name] = pipeline_run(size, data, on_device=on_device)
        result[f"{name}_vs_model"] = result[name]["images_per_s"] / result["model_step_images_per_s"]
        save(result)
    result["decode"] = decode_rates(sorted(data.rglob("*.jpg"))[: size["batch"]], size["device"])
    save(result)
    recipe = recipe_for(size, on_device=True, data=str(data))
    steps = _whole_rounds(size, on_device=True)
    result["stages"] = stage_rates(recipe, labelled_images(data), steps=steps, device=torch.device(size["device"]))
    return result


def _whole_rounds(size: dict[str, Any], on_device: bool) -> int:
    """Timed steps after the warm-up: whole rounds of the loader's workers. Each worker makes a whole batch, and
    the loader asks for two a worker at its start, so the first rounds are ready together: a count that is no
    multiple of the workers, or fewer than the batches made during the warm-up, times batches made before the
    clock started (10 steps of the H200's 14 workers would have timed the step alone). The slow baseline (the
    augmentation in the workers, about 0.1x of the step there) times one round, the device's run two."""
    return size["workers"] * (2 if on_device else 1)


def decode_rates(paths: list[Path], device: str) -> dict[str, float]:
    """JPEG decoding, images a second: torchvision on one CPU core, one file at a time (what a worker does),
    against `decode_jpeg(device=...)` on the whole batch at once (nvJPEG on CUDA)."""
    from torchvision.io import decode_jpeg, read_file

    encoded = [read_file(str(path)) for path in paths]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one_core = len(encoded) / timed(lambda: [decode_jpeg(data) for data in encoded], 1, "cpu")
    torch.set_num_threads(threads)
    decode_jpeg(encoded[:2], device=device)  # warm-up (nvJPEG's handle)
    batched = len(encoded) / timed(lambda: decode_jpeg(encoded, device=device), 3, device) * 3
    return {"cpu_one_core_images_per_s": one_core, "batched_on_device_images_per_s": batched}


def section_extract(size: dict[str, Any], work: Path, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """`extract_features` from the JPEG files (resize and crop in the decoding workers, its default, and on the
    device) against timm's own evaluation path on the same files (timm's loader and prefetcher, the model compiled
    in bf16), and against that compiled model on batches already decoded and preprocessed in memory (the ceiling
    that decoding caps). Every rate is end to end from the call: start-up included, compilation and the process's
    first device work (both sides run after it) excluded."""
    import timm

    from simsiam_zoo.augment import Preprocessing
    from simsiam_zoo.features import extract_features

    data = write_jpegs(work / "jpegs", size["jpegs"], size["jpeg_size"])
    device, cuda = size["device"], size["device"] == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model = timm.create_model(size["arch"], num_classes=0).eval()
    preprocessing = Preprocessing(
        input_size=(3, size["image"], size["image"]),
        crop_pct=0.875,
        interpolation="bilinear",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )

    def ours(on_device: bool) -> float:
        # As users run it by default (eager, no compile): the stricter test, and one compile less in the time box.
        started = time.perf_counter()
        extract_features(
            model,
            preprocessing.transform(),
            data,
            out=work / f"features_{on_device}",
            batch_size=size["batch"],
            device=device,
            num_workers=size["workers"],
            device_preprocessing=on_device,
            precision=size["precision"],
            channels_last=cuda,
            progress=False,
        )
        synchronize(device)
        return size["jpegs"] / (time.perf_counter() - started)

    # The process's first device work (CUDA's context, cuDNN's and cuBLAS's handles, each kernel loaded at its first
    # launch) is done here, untimed: timm's path below is timed warm, and the first extract_features call would
    # otherwise pay seconds of it within a run of about two.
    warm = torch.zeros(size["batch"], 3, size["image"], size["image"], device=device)
    with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
        model.to(device, memory_format=memory_format)(warm.contiguous(memory_format=memory_format))
    synchronize(device)
    rates = {"extract_images_per_s": ours(False), "extract_device_resize_images_per_s": ours(True)}
    save(rates)  # kept if timm's path (an inductor compile first) does not finish in the time box
    compiled = torch.compile(model.to(device, memory_format=memory_format)) if cuda else model
    loader = timm_loader(size, data, preprocessing)
    batch = next(iter(loader))[0][: size["batch"]].to(device).contiguous(memory_format=memory_format)

    def infer(images: torch.Tensor) -> None:
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            compiled(images.contiguous(memory_format=memory_format))

    infer(batch)  # compilation
    synchronize(device)
    started = time.perf_counter()
    for images, _ in timm_loader(size, data, preprocessing):
        infer(images.to(device))
    synchronize(device)
    rates["timm_end_to_end_images_per_s"] = size["jpegs"] / (time.perf_counter() - started)
    repeats = max(1, size["jpegs"] // len(batch))
    rates["timm_in_memory_images_per_s"] = len(batch) * repeats / timed(lambda: infer(batch), repeats, device)
    rates["ratio"] = rates["extract_images_per_s"] / rates["timm_end_to_end_images_per_s"]
    rates["ratio_to_in_memory"] = rates["extract_images_per_s"] / rates["timm_in_memory_images_per_s"]
    return rates


def timm_loader(size: dict[str, Any], data: Path, preprocessing: Any) -> Any:
    """timm's evaluation loader (as its validate.py builds it) over the same files and preprocessing."""
    from timm.data import create_dataset, create_loader

    return create_loader(
        create_dataset("", root=str(data)),
        input_size=preprocessing.input_size,
        batch_size=size["batch"],
        is_training=False,
        use_prefetcher=size["device"] == "cuda",
        interpolation=preprocessing.interpolation,
        mean=preprocessing.mean,
        std=preprocessing.std,
        num_workers=size["workers"],
        crop_pct=preprocessing.crop_pct,
        pin_memory=size["device"] == "cuda",
        device=torch.device(size["device"]),
    )


def section_evaluate(size: dict[str, Any]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from simsiam_zoo.evaluate import knn_accuracy
    from simsiam_zoo.evaluate.linear_probe import fit_linear_probe, weight_decay_to_sklearn_c

    device, rng = size["device"], np.random.default_rng(0)
    centres = rng.normal(size=(10, 256)).astype(np.float32)

    def features(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, count)
        return (centres[labels] + 3 * rng.normal(size=(count, 256))).astype(np.float32), labels

    (x_train, y_train), (x_test, y_test) = features(size["train"]), features(size["test"])
    tensors = [torch.from_numpy(a).to(device) for a in (x_train, y_train, x_test, y_test)]
    results: dict[str, Any] = {}
    results["knn"] = _first_and_warm(lambda: knn_accuracy(*tensors, ks=(20,))[20], device)
    started = time.perf_counter()
    knn = KNeighborsClassifier(
        n_neighbors=20, algorithm="brute", metric="cosine", n_jobs=-1, weights=lambda d: np.exp((1 - d) / 0.07)
    ).fit(x_train, y_train)
    results["knn"].update(sklearn_s=time.perf_counter() - started, sklearn_top1=100 * knn.score(x_test, y_test))
    results["knn"]["sklearn_s"] = time.perf_counter() - started
    results["linear"] = _first_and_warm(
        lambda: fit_linear_probe(tensors[0], tensors[1], weight_decay=1e-3).accuracy(tensors[2], tensors[3]), device
    )
    started = time.perf_counter()
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=weight_decay_to_sklearn_c(1e-3, len(x_train)), max_iter=200)
    clf.fit(scaler.transform(x_train), y_train)
    results["linear"].update(
        sklearn_s=time.perf_counter() - started, sklearn_top1=100 * clf.score(scaler.transform(x_test), y_test)
    )
    for row in results.values():
        row["speed_ratio"] = row["sklearn_s"] / row["ours_s"]
        row["first_use_speed_ratio"] = row["sklearn_s"] / row["first_use_s"]
    bank = torch.randn(size["bank"], size["dim"], device=device, dtype=torch.float32)
    bank_labels = torch.randint(0, 1000, (size["bank"],), device=device)
    queries = torch.randn(size["queries"], size["dim"], device=device)
    started = time.perf_counter()
    knn_accuracy(bank, bank_labels, queries, bank_labels[: size["queries"]], ks=(20, 200), num_classes=1000)
    synchronize(device)
    results["large_knn"] = {
        "bank": list(bank.shape),
        "queries": size["queries"],
        "seconds": time.perf_counter() - started,
    }
    return results


def _first_and_warm(evaluate: Callable[[], float], device: str) -> dict[str, Any]:
    """Seconds of `evaluate` (which returns a top-1) the first time and again, warm: the figure that counts, as
    scikit-learn's own imports are done before it is timed. The first time pays one-off costs: torch's optimizers
    import torch._dynamo when the first one is built (about 1.5 s on a CPU), and CUDA loads each kernel at its
    first launch. The first H200 run timed only the first time, and showed the linear probe at 0.21x
    scikit-learn's speed."""
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        top1 = evaluate()
        synchronize(device)
        timings.append(time.perf_counter() - started)
    return {"first_use_s": timings[0], "ours_s": timings[1], "ours_top1": top1}


def section_demo(size: dict[str, Any], work: Path) -> dict[str, Any]:
    from simsiam_zoo.demo import run_demo

    started = time.monotonic()
    small = (
        {"eval_train_images": 300, "eval_test_images": 100, "monitor_bank": 60, "monitor_queries": 30}
        if size["device"] == "cpu"
        else {}
    )
    result = run_demo(
        out_dir=work / "demo",
        minutes=size["demo_minutes"],
        device=size["device"],
        progress=False,
        started=started,
        **small,
    )
    return {
        "minutes": size["demo_minutes"],
        "minimum_minutes": result.minimum_minutes,
        "wall_s": time.monotonic() - started,
        "table": result.table,
        "collapse": result.collapse,
    }


def run_section(name: str, out: Path, smoke: bool) -> None:
    from simsiam_zoo._io import atomic_write_text

    size = sizes(smoke)
    if size["device"] == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device; use --smoke on a CPU")
    started = time.perf_counter()

    def save(body: dict[str, Any], *, complete: bool = False) -> None:
        record = {
            "section": name,
            "smoke": smoke,
            "complete": complete,
            "seconds": time.perf_counter() - started,
            "sizes": size,
            "environment": environment(size["device"]),
            "result": body,
        }
        # A time-out may land in the write: the record is whole or the last one stays.
        atomic_write_text(out / f"{name}.json", json.dumps(record, indent=1, default=float) + "\n")

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        body = {
            "model": lambda: section_model(size, save),
            "pipeline": lambda: section_pipeline(size, work, save),
            "extract": lambda: section_extract(size, work, save),
            "evaluate": lambda: section_evaluate(size),
            "demo": lambda: section_demo(size, work),
        }[name]()
    save(body, complete=True)


def summary(out: Path) -> None:
    """summary.json (every section's record, or its failure) and summary.md (the ratios that count)."""
    records = {}
    for name in SECTIONS:
        path = out / f"{name}.json"
        try:
            records[name] = json.loads(path.read_text())
        except (OSError, ValueError):
            records[name] = {"section": name, "failed": True}
    (out / "summary.json").write_text(json.dumps(records, indent=1) + "\n")
    lines = ["| section | measure | value | goal |", "| --- | --- | --- | --- |"]
    for name, record in records.items():
        if record.get("failed"):
            lines.append(f"| {name} | failed or timed out (see gpu_check.log) | | |")
            continue
        if not record["complete"]:
            lines.append(f"| {name} | timed out after the part below (see gpu_check.log) | | |")
        for measure, value, goal in _rows(name, record["result"]):
            if value is not None:  # a part a timed-out section did not reach
                lines.append(f"| {name} | {measure} | {_fmt(value)} | {goal} |")
    env = next((r["environment"] for r in records.values() if "environment" in r), {})
    header = f"Environment: {json.dumps(env)}\n\n"
    (out / "summary.md").write_text(header + "\n".join(lines) + "\n")
    print(header + "\n".join(lines))


def _rows(name: str, result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(measure, value or None where a timed-out section did not reach it, goal) of a section's result."""
    rows = list(_ROWS[name])
    if name == "demo" and "minutes" in result:
        deadline = max(result["minutes"], result["minimum_minutes"]) * 60
        rows[0] = (*rows[0][:2], f"<= {deadline:.0f} + 5 (budget, or the demo's stated minimum)")
    return [(measure, where(result) if callable(where) else _at(result, where), goal) for measure, where, goal in rows]


def _at(result: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        try:
            result = result[key]
        except (KeyError, IndexError, TypeError):
            return None
    return result


def _top1_difference(part: str) -> Callable[[dict[str, Any]], float | None]:
    def difference(result: dict[str, Any]) -> float | None:
        ours, sklearn = _at(result, (part, "ours_top1")), _at(result, (part, "sklearn_top1"))
        return None if ours is None or sklearn is None else ours - sklearn

    return difference


_ROWS: dict[str, list[tuple[str, Any, str]]] = {
    "model": [
        ("eager images/s", ("eager", "images_per_s"), ""),
        ("compiled images/s", ("compiled", "images_per_s"), ">= 2,000 (H200)"),
        ("compile warm-up s", ("compiled", "warmup_s"), ""),
    ],
    "pipeline": [
        ("end to end, workers augment / model step", ("workers_vs_model",), ""),
        ("end to end, device augments / model step", ("device_vs_model",), ">= 0.9"),
        ("device augments images/s", ("device", "images_per_s"), ""),
        ("JPEG decode, one CPU core, images/s", ("decode", "cpu_one_core_images_per_s"), ""),
        ("JPEG decode, batched on the device, images/s", ("decode", "batched_on_device_images_per_s"), ""),
        ("loader alone (decode, crop, copy; no step) images/s", ("stages", "loader_images_per_s"), ""),
        ("batched finish alone on the device images/s", ("stages", "finish_images_per_s"), ""),
    ],
    "extract": [
        ("extract / timm loader + compiled bf16, same JPEGs", ("ratio",), ">= 0.8"),
        ("extract images/s (resize in workers, the default)", ("extract_images_per_s",), ""),
        ("extract images/s, resize on the device", ("extract_device_resize_images_per_s",), ""),
        ("timm loader + compiled bf16 images/s", ("timm_end_to_end_images_per_s",), ""),
        ("timm compiled bf16, in memory, images/s", ("timm_in_memory_images_per_s",), ""),
    ],
    "evaluate": [
        ("kNN speed vs scikit-learn", ("knn", "speed_ratio"), ""),
        ("kNN speed vs scikit-learn, first use of the device", ("knn", "first_use_speed_ratio"), ""),
        ("kNN top-1 ours - sklearn", _top1_difference("knn"), "|x| <= 0.5"),
        ("linear speed vs scikit-learn", ("linear", "speed_ratio"), ""),
        ("linear speed vs scikit-learn, first use of the device", ("linear", "first_use_speed_ratio"), ""),
        ("linear top-1 ours - sklearn", _top1_difference("linear"), "|x| <= 0.5"),
        ("kNN over the large bank, s", ("large_knn", "seconds"), "< 60 (1.28 M x 2048)"),
        ("large bank's shape", ("large_knn", "bank"), ""),
    ],
    "demo": [
        ("wall clock s", ("wall_s",), ""),
        ("SimSiam linear top-1", ("table", 0, "linear_top1"), ""),
    ],
}


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", choices=(*SECTIONS, "summary"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.section == "summary":
        summary(args.out)
    else:
        run_section(args.section, args.out, args.smoke)


if __name__ == "__main__":
    main()
