"""The distributed layer: torchrun environment, DDP and synchronised BatchNorm.

Training and extraction call `init_distributed` once; with no torchrun variables and no process group it is a
single process and nothing here does anything. `on_main` and `all_outcomes` carry one rank's result or exception
to the others, so that an error on one rank is raised on every rank instead of leaving the others waiting.
torch's SyncBatchNorm only runs on accelerators, so CPU (gloo) runs get `CPUSyncBatchNorm`, the same statistics
computed with torch.distributed's differentiable all_reduce.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn

from simsiam_zoo.errors import SimsiamZooError

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def check_device(name: str) -> str:
    """`name` if it is a device this machine has, else ValueError saying what is wrong and what there is."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name!r} is not a device name (cpu, cuda, cuda:1, mps)") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise ValueError(
            f"{name!r}: this machine has no such device (it has: "
            f"{', '.join(kind for kind, there in available.items() if there)})"
        )
    if device.type != "cuda" and device.index not in (None, 0):  # torch takes "cpu:5" as the CPU
        raise ValueError(f"{name!r}: this machine has one {device.type} device, {device.type}:0")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


def device_named(name: str | torch.device) -> torch.device:
    """The device `name`, where this machine has it; else `check_device`'s ValueError (torch's own error said
    'gpu' is not a device type only deep inside a run, and a missing CUDA only at its first copy)."""
    return torch.device(check_device(str(name)))


def launched_rank() -> int:
    """This process's rank as torchrun set it, 0 when not launched by torchrun (the group need not exist)."""
    return int(os.environ.get("RANK", "0"))


def joined_context() -> DistributedContext:
    """The process group this process has joined, else one process (none is joined here)."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistributedContext()


def launched_world_size() -> int:
    """The number of ranks of this job (the caller's process group, or torchrun's), before any group is joined."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return max(int(os.environ.get("WORLD_SIZE", "1")), 1)


def init_distributed(device: torch.device) -> DistributedContext:
    """The process group the caller initialised, or join torchrun's when launched by it (WORLD_SIZE > 1)."""
    if dist.is_available() and dist.is_initialized():
        return joined_context()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    unset = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if unset:  # torch's ValueError traceback, or a wait of 30 minutes for ranks that were never started
        raise SimsiamZooError(
            f"WORLD_SIZE={world_size} is set but {', '.join(unset)} not: launch the ranks with torchrun, or unset "
            "WORLD_SIZE for one process"
        )
    context = DistributedContext(launched_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    # The group this joined is left at exit: a process that exits holding it can abort in its threads' teardown.
    atexit.register(dist.destroy_process_group)
    return context


def local_device(device: str, context: DistributedContext) -> torch.device:
    if device == "cuda" and context.enabled:
        torch.cuda.set_device(context.local_rank)
        return torch.device("cuda", context.local_rank)
    return torch.device(device)


def all_outcomes(context: DistributedContext, work: Callable[[], T]) -> list[T]:
    """`work()` on every rank; every rank's result in rank order, or on every rank the first rank's exception."""
    try:
        outcome: tuple[bool, Any] = (True, work())
    except Exception as error:  # given to every rank below, then raised
        outcome = (False, error)
    outcomes = [outcome]
    if context.enabled:
        outcomes = [None] * context.world_size
        dist.all_gather_object(outcomes, outcome)
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def on_main(context: DistributedContext, work: Callable[[], T]) -> T:
    """`work()` on rank 0 only; its result, or its exception, on every rank."""
    if not context.enabled:
        return work()
    outcome: list[Any] = [None]
    if context.is_main:
        try:
            outcome = [(True, work())]
        except Exception as error:  # given to every rank below, then raised
            outcome = [(False, error)]
    dist.broadcast_object_list(outcome, src=0)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def check_same_on_every_rank(context: DistributedContext, **values: Any) -> None:
    """SimsiamZooError (bad input) on every rank when a rank was launched with other `values` (options) than rank 0:
    the ranks of one job would each follow their own (a rank's other lr trained in silence, another max_steps made
    the others fail)."""
    gathered = all_outcomes(context, lambda: values)
    for rank, theirs in enumerate(gathered[1:], start=1):
        differ = sorted(name for name in values if theirs.get(name) != gathered[0].get(name))
        if differ:
            raise SimsiamZooError(
                f"rank {rank} was launched with other {', '.join(differ)} than rank 0; launch every rank alike"
            )


def check_same_state(context: DistributedContext, value: Any, *, refusal: Callable[[int, Any, Any], str]) -> None:
    """SimsiamZooError on every rank, `refusal(rank, its value, rank 0's value)`, where a rank found another `value`
    than rank 0 (the checkpoint it resumed: a node's own disk at the same path held another, or none)."""
    if not context.enabled:
        return
    gathered = all_outcomes(context, lambda: value)
    for rank, theirs in enumerate(gathered[1:], start=1):
        if theirs != gathered[0]:
            raise SimsiamZooError(refusal(rank, theirs, gathered[0]))


def check_same_resume(context: DistributedContext, step: int, *, where: Path | None, folder: str) -> None:
    """SimsiamZooError on every rank where a rank resumes at another step than rank 0: the ranks see other
    checkpoints at `where` (a node's own disk at the path); `folder` names what to give instead."""
    check_same_state(
        context,
        step,
        refusal=lambda rank, theirs, main: (
            f"{where}: rank {rank} resumes at step {theirs} where rank 0 resumes at step {main}: the ranks see other "
            f"checkpoints at this path; give {folder} that every rank sees (a shared disk, not each node's own)"
        ),
    )


def job_options(options: Any, *, prefix: str = "") -> dict[str, Any]:
    """The fields of an options dataclass that every rank of one job shares, each named `prefix + field`: all but a
    rank's own device (`cuda:1`), progress bar and decoding workers (their count changes no byte)."""
    own = ("device", "progress", "num_workers")
    return {prefix + name: value for name, value in dataclasses.asdict(options).items() if name not in own}


def on_every_rank(context: DistributedContext, work: Callable[[], T]) -> T:
    """`work()` on every rank, each rank's result its own; a failure on any rank is that error on every rank (the
    others waited for the failed rank in their next collective until torchrun stopped them)."""
    return work() if not context.enabled else _raised_on_every_rank(context, work)


def main_only(context: DistributedContext, work: Callable[[], T]) -> T | None:
    """`work()` on rank 0 alone (a write to the run's folder), its result there, None elsewhere; its failure is
    raised on every rank (the others trained on until gloo's traceback, after rank 0's read-only folder)."""
    if not context.enabled:
        return work()
    return _raised_on_every_rank(context, work if context.is_main else lambda: None)


def any_rank(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """Whether `flag` holds on some rank: one answer on every rank, so that they stop at one step (each rank's own
    clock stopped it at its own step, the others then waiting on a collective it never joined)."""
    if not context.enabled:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def main_first(context: DistributedContext, work: Callable[[], T]) -> T:
    """`work()` on rank 0, then on the others (a download or cache fill that ranks must not race on); each rank's
    result is its own. A failure on any rank is that error on every rank: a rank left waiting for it died with
    gloo's traceback (a model missing from one rank's own --hub-dir)."""
    if not context.enabled:
        return work()
    first = _raised_on_every_rank(context, work if context.is_main else lambda: None)
    return _raised_on_every_rank(context, (lambda: first) if context.is_main else work)


def _raised_on_every_rank(context: DistributedContext, work: Callable[[], T]) -> T:
    """`work()`'s result on this rank, once every rank's succeeded; else the first rank's exception on every rank.
    Only the exceptions travel (a result may be a model)."""
    try:
        result, failure = work(), None
    except Exception as error:  # given to every rank below, then raised
        result, failure = None, error
    failures: list[Any] = [None] * context.world_size
    dist.all_gather_object(failures, failure)
    for raised in failures:
        if raised is not None:
            raise raised
    return result  # type: ignore[return-value]


def _summed_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The differentiable all-reduce. torch marks it deprecated for a private module's, without autograd on every
    backend; its FutureWarning, once per BatchNorm a step, was hundreds of lines in a fine-tune's output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_reduce is deprecated")
        return dist_fn.all_reduce(tensor)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics cover the global batch of all ranks (any device)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        reduce_dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        count = _summed_over_ranks(local_count)
        mean = _summed_over_ranks(x.sum(reduce_dims)) / count
        centred = x - mean.view(shape)
        # Two passes (mean, then centred squares) keep the variance as exact as the one-process BN.
        var = _summed_over_ranks(centred.pow(2).sum(reduce_dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / (count - 1), momentum)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    converted = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        converted = CPUSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        # Reuse the parameter and buffer objects so an optimiser built before conversion still owns them.
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        if module.track_running_stats:
            converted.running_mean, converted.running_var = module.running_mean, module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
    for name, child in module.named_children():
        converted.add_module(name, _convert_cpu(child))
    return converted


def all_reduce_sum(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    value = value.detach()
    if not context.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value


def all_reduce_mean(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    return all_reduce_sum(value, context) / context.world_size
