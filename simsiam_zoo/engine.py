"""The one training engine that pretraining (`pretrain.py`) and the classifier protocols (`finetune.py`) share: the
seeded augmentation, the learning-rate schedule, the optimizer and the step loop. Each caller keeps only what is
its own (the loss, what is logged, checkpoints, evaluation between epochs)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from simsiam_zoo.arguments import is_real
from simsiam_zoo.choices import Optimizer
from simsiam_zoo.data import NextIfUndecodable
from simsiam_zoo.errors import DataError, TrainingDiverged
from simsiam_zoo.model import seeded
from simsiam_zoo.options import folded_seed


@dataclass(frozen=True)
class Unread:
    """What stood in for an image that does not decode, for the training process to say: item `index` skipped for
    `problem` (the next one that decodes in its place), or with `fatal` the run's error (`strict`, or none decodes)."""

    index: int
    problem: str
    fatal: bool = False


class Augmented(Dataset):
    """`views` augmentations of an image and its label, for `(epoch, index)` keys (`EpochSampler`'s): seeded by
    (seed, epoch, index), so a batch is the same whatever the worker count and after a resume.

    An item is `(sample, unread)`: the sample `(*views, label)` and None, or an `Unread` where the image does not
    decode (its place taken by the next one that does, `NextIfUndecodable`; with `strict` the error). `batches`
    says those in the training process: a loader worker warned again in every epoch (each epoch's workers are new),
    and its error came wrapped in torch's traceback.
    """

    def __init__(
        self,
        dataset: Dataset,
        transform: Callable[[torch.Tensor], torch.Tensor],
        *,
        seed: int,
        views: int = 1,
        strict: bool = False,
    ):
        self.dataset, self.transform, self.seed, self.views = (
            NextIfUndecodable(dataset, strict=strict),
            transform,
            seed,
            views,
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[tuple[Any, ...] | None, Unread | None]:
        epoch, index = key
        try:
            (image, label), problem = self.dataset.next_decoding(index)
        except DataError as error:
            return None, Unread(index, str(error), fatal=True)
        # The CPU generator only, which the transforms draw from: torch.manual_seed would also queue a seed (and a
        # stack trace) for every accelerator, a millisecond per sample.
        with seeded(folded_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)):
            sample = (*(self.transform(image) for _ in range(self.views)), label)
        return sample, None if problem is None else Unread(index, problem)

    def batches(self, sampler: Sampler, *, batch_size: int, num_workers: int, pin_memory: bool) -> Iterator[Any]:
        """The collated samples of `sampler`'s batches of keys; an image skipped said once a run, or the error."""
        loader = DataLoader(
            self,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=num_workers,
            pin_memory=pin_memory,
            collate_fn=_collate_samples,
            generator=torch.Generator(),  # the workers' base seed: drawn from its own, not the caller's generator
        )
        for batch, unread in loader:
            for item in unread:
                self._say(item)
            yield batch

    def sample(self, key: tuple[int, int]) -> tuple[Any, ...]:
        """The sample of `key` alone, as a batch of `batches` has it (outside a loader: calibrations, benchmarks)."""
        sample, unread = self[key]
        if unread is not None:
            self._say(unread)
        return sample

    def _say(self, unread: Unread) -> None:
        if unread.fatal:
            raise DataError(unread.problem)
        self.dataset.say_skipped(unread.index, unread.problem)


def _collate_samples(items: list[tuple[Any, Unread | None]]) -> tuple[Any, list[Unread]]:
    """A batch of `Augmented` items: the samples collated and what stood in for images, or only the fatal ones."""
    unread = [item for _, item in items if item is not None]
    if any(item.fatal for item in unread):
        return None, [item for item in unread if item.fatal]
    return default_collate([sample for sample, _ in items]), unread


def prefetched(batches: Iterable[Any], to_device: Callable[[Any], Any], device: torch.device) -> Iterator[Any]:
    """`to_device` of each batch; on CUDA the copy of the next batch is queued on a side stream while the current
    one trains (with pinned loader memory, `non_blocking` copies overlap the compute)."""
    if device.type != "cuda":
        yield from map(to_device, batches)
        return
    side = torch.cuda.Stream(device)
    ahead = None
    for batch in batches:
        with torch.cuda.stream(side):
            moved = to_device(batch)
        if ahead is not None:
            yield ahead
        torch.cuda.current_stream(device).wait_stream(side)
        _record_on_current_stream(moved, device)
        ahead = moved
    if ahead is not None:
        yield ahead


def _record_on_current_stream(batch: Any, device: torch.device) -> None:
    """Tell the caching allocator that the compute stream uses tensors allocated on the side stream."""
    if isinstance(batch, torch.Tensor):
        if batch.device.type == "cuda":
            batch.record_stream(torch.cuda.current_stream(device))
    elif isinstance(batch, (list, tuple)):
        for item in batch:
            _record_on_current_stream(item, device)


def cosine_lr(base_lr: float, step: int, total_steps: int, *, warmup_steps: float = 0) -> float:
    """Linear warm-up over `warmup_steps` (a fraction of an epoch's steps may end between two), then a half-cosine
    from `base_lr` to 0 at `total_steps` (and 0 after it), per step."""
    if step < warmup_steps:  # never above base_lr: 2.5 warm-up steps gave 1.2x it, 1e-300 an overflow in the step
        return base_lr * min(1.0, (step + 1) / warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1.0, total_steps - warmup_steps))
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(
    groups: list[dict[str, Any]], *, kind: Optimizer, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """SGD or LARS over parameter groups (dicts with `params` and any keys of the caller's, such as `fix_lr`).

    SGD decays every parameter, as the official SimSiam code. LARS follows the LARS paper, BYOL's and SimSiam's
    large-batch set-up and solo-learn: weight matrices get weight decay and the trust ratio (also without weight
    decay, hence `always_adapt`); biases and BN parameters (1-d) get neither.
    """
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    from timm.optim import Lars  # the only other kind

    split = []
    for group in groups:
        matrices = [p for p in group["params"] if p.ndim > 1]
        vectors = [p for p in group["params"] if p.ndim <= 1]
        if matrices:
            split.append({**group, "params": matrices, "always_adapt": True})
        if vectors:
            split.append({**group, "params": vectors, "weight_decay": 0.0, "always_adapt": False})
    return Lars(split, lr=lr, momentum=momentum, weight_decay=weight_decay)


class StepTask(Protocol):
    """What `run_steps` trains: pretraining and fine-tuning are each one."""

    optimizer: torch.optim.Optimizer
    steps_per_epoch: int

    def batches(self, epoch: int, start_batch: int) -> Iterable[Any]:
        """The epoch's batches from `start_batch` on."""

    def loss_of(self, batch: Any) -> tuple[torch.Tensor, Any]:
        """The loss of a batch (and anything `after_step` wants of the forward pass)."""

    def lr_at(self, step: int) -> float: ...

    def syncs_at(self, step: int) -> bool:
        """Whether the task reads values after this step (logging, checkpoints): the host then waits for the device."""

    def after_step(self, step: int, loss: torch.Tensor, extra: Any, lr: float) -> None: ...

    def advice(self) -> str:
        """What to try when the loss diverged."""


def run_steps(
    task: StepTask, *, start_step: int, stop_step: int, stop_after: Callable[[int], bool] | None = None
) -> int:
    """Train `task` from global step `start_step` to `stop_step`, or to the first step after which `stop_after`
    says to stop (a deadline passed); return the step reached.

    Each step sets the lr `task.lr_at` gives on every group not marked `fix_lr`, takes `loss, extra =
    task.loss_of(batch)`, steps the optimizer, then calls `task.after_step(step, loss, extra, lr)` with the step
    count reached and the loss detached, still on the device.

    The host waits for the device only where the task reads values (`task.syncs_at(step)`) and where the run stops,
    so that it can queue the next steps meanwhile. There the losses since the last such point are checked, before
    `after_step` can write anything: a non-finite one stops the run with TrainingDiverged naming its step (and
    `task.advice()`).
    """
    with _interrupt_at_step_end() as interrupted:
        return _steps(task, start_step=start_step, stop_step=stop_step, stop_after=stop_after, interrupted=interrupted)


def _steps(
    task: StepTask,
    *,
    start_step: int,
    stop_step: int,
    stop_after: Callable[[int], bool] | None,
    interrupted: Callable[[], bool],
) -> int:
    step, unchecked = start_step, _UncheckedLosses(start_step)
    while step < stop_step:
        epoch, start_batch = divmod(step, task.steps_per_epoch)
        for batch in task.batches(epoch, start_batch):
            lr = task.lr_at(step)
            for group in task.optimizer.param_groups:
                if not group.get("fix_lr"):
                    group["lr"] = lr
            loss, extra = task.loss_of(batch)
            task.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            task.optimizer.step()
            step += 1
            unchecked.add(loss.detach())
            stopping = step >= stop_step or (stop_after is not None and stop_after(step))
            if stopping or task.syncs_at(step):
                unchecked.check(task.optimizer, task.steps_per_epoch, task.advice)
            task.after_step(step, loss.detach(), extra, lr)
            if interrupted():
                raise KeyboardInterrupt
            if stopping:
                return step
    return step


@contextlib.contextmanager
def _interrupt_at_step_end() -> Iterator[Callable[[], bool]]:
    """Ctrl-C during the steps is noted and acted on where the step ends (after its checkpoint, if it writes one),
    by raising KeyboardInterrupt there: raised wherever the signal lands, inside a finaliser or a library's broad
    handler, it can be swallowed and the run goes on. A second Ctrl-C interrupts at once. Only where Python's own
    handler is in place (the main thread, no handler of the caller's)."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield lambda: False
        return
    received: list[int] = []

    def note(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)

    signal.signal(signal.SIGINT, note)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class _UncheckedLosses:
    """The losses of the steps since the last check, kept on the device; `check` is one host sync for all."""

    def __init__(self, first_step: int):
        self.first_step, self.losses = first_step, []

    def add(self, loss: torch.Tensor) -> None:
        self.losses.append(loss)

    def check(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int, advice: Callable[[], str]) -> None:
        """A non-finite loss, or weights (`optimizer`'s) gone non-finite with the loss still finite (bf16 on a CPU
        made NaN of kernel positions that see only padding): TrainingDiverged naming the step, before anything is
        written of it."""
        finite = torch.isfinite(torch.stack(self.losses)).tolist()
        if not all(finite):
            bad = finite.index(False)
            step = self.first_step + bad + 1  # counted from 1, as steps.csv and metrics.csv count steps and epochs
            epoch = (step - 1) // steps_per_epoch + 1
            raise TrainingDiverged(f"loss is {self.losses[bad].item()} at step {step} (epoch {epoch}); {advice()}")
        shape = _non_finite_parameter(optimizer)
        if shape is not None:
            first, last = self.first_step + 1, self.first_step + len(self.losses)
            steps = f"step {last}" if first == last else f"steps {first} to {last}"
            raise TrainingDiverged(
                f"weights became NaN or inf (a parameter of shape {shape}) in {steps} (epoch "
                f"{(last - 1) // steps_per_epoch + 1}), the loss still finite; {advice()}"
            )
        self.first_step, self.losses = self.first_step + len(self.losses), []


def _non_finite_parameter(optimizer: torch.optim.Optimizer) -> list[int] | None:
    """The shape of the first parameter `optimizer` trains that holds a NaN or inf, or None; one host sync."""
    params = [param for group in optimizer.param_groups for param in group["params"]]
    if not params:
        return None
    finite = torch.stack([param.detach().isfinite().all() for param in params])
    if bool(finite.all()):
        return None
    return list(params[int((~finite).nonzero()[0])].shape)


def rows_whole(rows: Any, fields: tuple[str, ...], *, optional: frozenset[str] | set[str] = frozenset()) -> bool:
    """Rows of a table as a training loop writes them into its checkpoint: dicts of numbers, with each of `fields`
    but the `optional` ones (a checkpoint's edited rows failed in the tables' writer or the report at the end)."""
    return isinstance(rows, list) and all(
        isinstance(row, dict)
        and set(fields) - set(optional) <= row.keys() <= set(fields)
        and all(is_real(value) for value in row.values())
        for row in rows
    )
