"""The one checkpoint reader and writer: every torch checkpoint (a training run's, another project's) is read here,
with tensors, plain containers and a short allow-list of data-only globals, never by unpickling arbitrary objects;
the training loops write theirs here, whole or not at all.

Also the one schema of the training loops' own checkpoints (`TrainingCheckpoint`, pretraining's and fine-tuning's
alike, with a reader for the layouts before it) and the names of a training run's files, which the training loop
writes and export and the loader read.
"""

from __future__ import annotations

import argparse
import io
import pickle
import pickletools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from simsiam_zoo._io import atomic_write_bytes, refuse_special_file
from simsiam_zoo.arguments import is_int
from simsiam_zoo.errors import ConversionError, SimsiamZooError, listed

CHECKPOINT_NAME = "checkpoint.pt"  # a training run's model, optimiser, step and monitor history
RECIPE_NAME = "recipe.yaml"  # the run's recipe; a hub folder of the run publishes it too


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """`state` (tensors and plain containers, so that `read_torch_checkpoint` reads it back) written atomically."""
    # Serialised in memory first: torch.save writing to a full disk raises a RuntimeError of its zip writer, where
    # the plain write raises the OSError (ENOSPC, EFBIG) that names the file and its exit code.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


TRAINING_FORMAT = 2  # the version of `TrainingCheckpoint`'s layout; files without one are the layouts before it
TrainingKind = Literal["pretraining", "finetune"]


@dataclass
class TrainingCheckpoint:
    """What a training loop saves to resume, pretraining's and fine-tuning's alike."""

    kind: TrainingKind
    run: dict[str, Any]  # what the run is, which a resume must match: pretraining's recipe, fine-tuning's settings
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    # The loop's own records: pretraining's epochs, logged steps, the epoch's running sums and the schedule's
    # horizon; fine-tuning's history and loss sum.
    records: dict[str, Any]

    def save(self, path: Path) -> None:
        save_checkpoint(path, {"format": TRAINING_FORMAT, **{f.name: getattr(self, f.name) for f in fields(self)}})


# The layouts before `TRAINING_FORMAT`: each kind's top-level keys, read into the run and the records.
_EARLIER_LAYOUTS: dict[TrainingKind, tuple[str, tuple[str, ...]]] = {
    "pretraining": ("recipe", ("epochs", "steps", "epoch_sums", "horizon")),
    "finetune": ("settings", ("history", "loss_sum")),
}


def read_training_checkpoint(path: str | Path, *, kind: TrainingKind) -> TrainingCheckpoint:
    """A training loop's checkpoint of `kind`, in this layout or the one before it; another file is a
    ConversionError naming it."""
    saved = read_torch_checkpoint(Path(path))
    checkpoint = training_checkpoint_from(saved, kind=kind, where=str(path))
    if checkpoint is None:
        found = f"a {saved['kind']} checkpoint" if isinstance(saved, dict) and "kind" in saved else "another file"
        raise ConversionError(f"{path}: not a {kind} checkpoint of this project ({found})")
    return checkpoint


def training_checkpoint_from(saved: Any, *, kind: TrainingKind, where: str) -> TrainingCheckpoint | None:
    """`saved` (the file `where` that `read_torch_checkpoint` read) as a checkpoint of `kind`, in this layout or the
    one before it; None when it is not one, a ConversionError naming `where` when it is one with a field missing or
    of another type (an edited file gave an AttributeError deep in an export)."""
    if not isinstance(saved, dict):
        return None
    if saved.get("format") == TRAINING_FORMAT:
        if saved.get("kind") != kind:
            return None
        missing = [f.name for f in fields(TrainingCheckpoint) if f.name not in saved]
        if missing:
            raise ConversionError(f"{where}: corrupt {kind} checkpoint: no {', '.join(missing)}")
        checkpoint = TrainingCheckpoint(**{f.name: saved[f.name] for f in fields(TrainingCheckpoint)})
    else:
        run_key, record_keys = _EARLIER_LAYOUTS[kind]
        if "format" in saved or not {run_key, "step", "model", "optimizer"} <= saved.keys():
            return None
        records = {key: saved[key] for key in record_keys if key in saved}
        checkpoint = TrainingCheckpoint(
            kind, saved[run_key], saved["step"], saved["model"], saved["optimizer"], records
        )
    problem = _type_problem(checkpoint)
    if problem:
        raise ConversionError(f"{where}: corrupt {kind} checkpoint: {problem}")
    return checkpoint


def _type_problem(checkpoint: TrainingCheckpoint) -> str | None:
    for name in ("run", "model", "optimizer", "records"):
        if not isinstance(getattr(checkpoint, name), dict):
            return f"its {name} is a {type(getattr(checkpoint, name)).__name__}, not a dict"
    if not is_int(checkpoint.step) or checkpoint.step < 0:
        return f"its step is {checkpoint.step!r}, not a count"
    odd = [key for key, value in checkpoint.model.items() if not isinstance(key, str) or not torch.is_tensor(value)]
    if odd:
        return f"its model holds {odd[0]!r}, not a name and a tensor"
    return None


def non_finite_keys(state: Mapping[str, torch.Tensor]) -> str:
    """The names of the float tensors holding NaN or inf (the first five, and how many more), or ""."""
    keys = [key for key, value in state.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    return listed(keys, limit=5)


def is_integer_tensor(tensor: torch.Tensor) -> bool:
    """An integer tensor, as BatchNorm's counters are: not floating, complex, quantized or bool (a bool or float
    counter, and an integer weight, are cast in silence by a load)."""
    return not (tensor.is_floating_point() or tensor.is_complex() or tensor.is_quantized or tensor.dtype == torch.bool)


def read_safetensors(path: Path, *, error: type[SimsiamZooError]) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors on the CPU, as stored (the caller decides about dtypes); `error` (the caller's
    kind: a hub folder's, a conversion's) names a missing, truncated or non-safetensors file."""
    refuse_special_file(path, error)
    try:
        path.open("rb").close()  # safetensors says "No such file" of a file it may not read
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise error(f"{path}: missing") from None
    except PermissionError:
        raise error(f"{path}: permission denied: cannot be read") from None
    except (SafetensorError, OSError, ValueError) as problem:
        raise error(f"{path}: not a readable safetensors file (truncated or corrupt?): {problem}") from None


# Globals these checkpoints hold besides tensors, each rebuilt by something that only sets data. DINO and other
# argparse-driven trainers pickle their `args`; Lightning checkpoints (lightly's benchmarks) their hyper-parameters
# as an `AttributeDict`, a dict subclass, which is rebuilt as a plain dict without importing Lightning.
_DATA_GLOBALS: list[Any] = [
    argparse.Namespace,
    *(
        (dict, name)
        for name in (
            "lightning_fabric.utilities.data.AttributeDict",
            "lightning.fabric.utilities.data.AttributeDict",
            "pytorch_lightning.utilities.parsing.AttributeDict",
            "lightning.pytorch.utilities.parsing.AttributeDict",
        )
    ),
]


def read_torch_checkpoint(path: str | Path) -> Any:
    """`torch.load` restricted to tensors, plain containers and `_DATA_GLOBALS`; anything else is refused, never
    run, and the refusal names what the file would have imported. Errors are `ConversionError`s."""
    refuse_special_file(Path(path), ConversionError)
    try:
        # torch warns about what it meets in an odd file (a pickle protocol, sparse or quantized tensors) on stderr;
        # the file is judged here instead, in the one line of its error.
        with torch.serialization.safe_globals(_DATA_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        kind = _kind_of_file(Path(path))
        if kind is not None:
            raise ConversionError(f"{path}: not a torch checkpoint: {kind}") from exc
        if _pickles_cut_short(Path(path)):  # torch took the cut name of a global as a global to refuse
            raise ConversionError(
                f"{path}: cannot read torch checkpoint (truncated or corrupt?): a pickle ends early"
            ) from None
        names = _unsafe_globals(path, exc)
        listed = f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""
        raise ConversionError(
            f"{path}: refused to load: unpickling it needs arbitrary code{listed}: it holds objects other than "
            "tensors and plain containers, which could run anything. If you trust its source, re-save its "
            "state_dict elsewhere and convert that."
        ) from exc
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except Exception as exc:  # a truncated or corrupt file fails anywhere in torch's reader, with any error
        kind = _kind_of_file(Path(path))  # a text file fails with a KeyError of a number read from its bytes
        if kind is not None:
            raise ConversionError(f"{path}: not a torch checkpoint: {kind}") from None
        reason = str(exc).strip() or type(exc).__name__
        raise ConversionError(f"{path}: cannot read torch checkpoint (truncated or corrupt?): {reason}") from exc


def _unsafe_globals(path: str | Path, refusal: Exception) -> list[str]:
    """What the refused file would import: every such global of a zip archive, or the first of a pre-1.6 pickle
    file as torch's refusal names it."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip archive
        # torch's two wordings: "GLOBAL x.y was not an allowed global", "GLOBAL x.y whose module x is blocked".
        return re.findall(r"GLOBAL ([\w.]+) (?:was not an allowed|whose module)", str(refusal))[:1]


def _pickles_cut_short(path: Path) -> bool:
    """Whether a pickle file ends inside one of its pickles (torch's format before 1.6 is five of them, then the
    tensors' bytes; a pickle.dump is one). A zip archive is not one."""
    try:
        with open(path, "rb") as f:
            if not f.peek(1).startswith(b"\x80"):
                return False
            for _ in range(5):
                if not f.peek(1):
                    return False
                for _ in pickletools.genops(f):
                    pass
    except ValueError:  # "pickle exhausted before seeing STOP", or a byte that is no opcode
        return True
    except OSError:
        return False
    return False


def _kind_of_file(path: Path) -> str | None:
    """What a file that is neither a torch zip archive nor a pickle looks like (an HTML error page a server sent
    instead of the file, say); None for a zip or a pickle."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return None
    if head.lstrip().startswith(b"<"):  # <!DOCTYPE html>, <html>, <?xml ...>
        return f"it is a web page or XML document (it starts with {head.lstrip()[:20]!r}), not the file itself"
    # A pickle of protocol 0 or 1 has no header byte either: torch.save writes one only when asked.
    return (
        f"it starts with {head[:16]!r}, which is neither a zip archive nor a pickle of protocol 2 or later "
        "(what torch.save writes by default)"
    )
