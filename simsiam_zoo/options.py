"""The typed options of what runs after pretraining: how the classifier protocols train and run (`Schedule`,
`LinearProtocolSchedule`, `RunOptions`) and how extraction runs (`ExtractOptions`), without importing torch: the
CLI takes its options' defaults from these dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, get_args

from simsiam_zoo.arguments import check_bool, check_real, is_int
from simsiam_zoo.choices import MAX_NUM_WORKERS, FeatureDtype, FeatureFormat, Optimizer, Precision, Shuffle

# Fine-tuning's default batch, halved on small train sets until an epoch has this many steps: with 600 labels
# (1% of Fashion-MNIST) batch 256 gives 2 steps an epoch, and 30 epochs leave the new head near its init.
DEFAULT_BATCH_SIZE, MIN_STEPS_PER_EPOCH, MIN_BATCH_SIZE = 256, 16, 8
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


# The largest finite float32: hyper-parameters beyond it overflow in the optimizers' float32 arithmetic.
FLOAT32_MAX = 3.4028234663852886e38


MAX_CLASSES = 1_000_000  # a label or class count beyond it is a mistake (2**40 asked for 44 TB of votes)


def check_class_count(num_classes: object) -> None:
    """A number of classes from 1 to MAX_CLASSES: 0 failed in timm, 10**12 asked the allocator for 40 TB."""
    if not (is_int(num_classes) and 1 <= num_classes <= MAX_CLASSES):
        raise ValueError(f"num_classes must be a whole number from 1 to {MAX_CLASSES:_}, got {num_classes!r}")


def check_seed(seed: object, *, name: str = "seed") -> None:
    """A seed torch.manual_seed takes: 0.5 was truncated in silence, "x" failed after the work it seeded."""
    if not (is_int(seed) and -(2**63) <= seed < 2**64):
        raise ValueError(f"{name} must be a whole number in [-2**63, 2**64), got {seed!r}")


def folded_seed(mixed: int) -> int:
    """A seed mixed from a run's seed and more (an epoch, an index, a rank), folded into torch's seed range where it
    leaves it (a recipe's seed of 2,000,000 overflowed at the first sample). Mixes inside the range are kept, so every
    seed that ran before draws what it drew."""
    return mixed if -(2**63) <= mixed < 2**64 else mixed % 2**64


def check_num_workers(num_workers: object, *, default_allowed: bool = True) -> None:
    """A count of decoding processes from 0 to MAX_NUM_WORKERS, or None (the command's default) where allowed."""
    if (num_workers is not None or not default_allowed) and not (
        is_int(num_workers) and 0 <= num_workers <= MAX_NUM_WORKERS
    ):
        raise ValueError(f"num_workers must be a whole number from 0 to {MAX_NUM_WORKERS}, got {num_workers!r}")


def check_flags(options: object, *names: str) -> None:
    """Each named field a bool: "no" is true in Python, and was taken as True."""
    for name in names:
        check_bool(name, getattr(options, name))


@dataclass(frozen=True, kw_only=True)
class _Training:
    """The fields both schedules have, with the fine-tuning defaults, and their checks."""

    epochs: int = 30
    batch_size: int | None = None
    weight_decay: float = 0.0
    optimizer: Optimizer = "sgd"
    momentum: float = 0.9
    lr_field: ClassVar[str]

    def __post_init__(self) -> None:
        """Raise a ValueError naming the first field out of range; the comparisons are written so that NaN fails."""
        lr = getattr(self, self.lr_field)
        for name in (self.lr_field, "weight_decay", "momentum"):
            check_real(name, getattr(self, name))
        if not (is_int(self.epochs) and self.epochs >= 1):
            raise ValueError(f"epochs must be >= 1, got {self.epochs!r}")
        if self.batch_size is not None and not (is_int(self.batch_size) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        # The optimizers compute in float32: a larger number overflows inside torch's step.
        if not 0 < lr <= FLOAT32_MAX:
            raise ValueError(f"{self.lr_field} must be a finite number > 0, got {lr!r}")
        if not 0 <= self.weight_decay <= FLOAT32_MAX:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")


@dataclass(frozen=True, kw_only=True)
class Schedule(_Training):
    """How `finetune` trains: `epochs` over the train set in batches of `batch_size`, SGD or LARS with `momentum`
    and `weight_decay`, the lr following a per-step cosine from `lr` to 0.

    The defaults are the fine-tuning protocols' (semi-supervised, transfer, `finetune` command), chosen as README's
    fine-tuning section measures; they are also the CLI's, which reads them from here. `batch_size` None is 256,
    halved on a small train set until an epoch has 16 steps (`batch_for`).
    """

    lr: float = 0.1
    lr_field: ClassVar[str] = "lr"

    def batch_for(self, num_train: int) -> int:
        """The batch `finetune` uses on `num_train` images: `batch_size` (or the default rule), at most all."""
        batch = self.batch_size
        if batch is None:
            batch = DEFAULT_BATCH_SIZE
            while batch > MIN_BATCH_SIZE and num_train < MIN_STEPS_PER_EPOCH * batch:
                batch //= 2
        return max(1, min(batch, num_train))


@dataclass(frozen=True, kw_only=True)
class LinearProtocolSchedule(_Training):
    """The paper's linear protocol schedule: as `Schedule`, but the lr is `base_lr` x batch / 256 for the batch
    actually used (`at_batch`), so one `base_lr` holds for any batch size. Paper: 90 epochs, batch 4096, LARS,
    base_lr 0.02 (the official code's default is 0.1), no weight decay."""

    epochs: int = 90
    batch_size: int = 4096
    base_lr: float = 0.02
    optimizer: Optimizer = "lars"
    lr_field: ClassVar[str] = "base_lr"

    def at_batch(self, batch_size: int) -> Schedule:
        """The `Schedule` that trains with batches of `batch_size` images, its lr scaled from `base_lr`."""
        return Schedule(
            epochs=self.epochs,
            batch_size=batch_size,
            lr=self.base_lr * batch_size / 256,
            weight_decay=self.weight_decay,
            optimizer=self.optimizer,
            momentum=self.momentum,
        )


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a protocol runs, apart from what it trains (its schedule).

    `train_limit` / `test_limit` cap the splits (see the module doc); `hub_dir` is the local hub directory a model
    name is loaded from; `seed` seeds the caps, label subsets, head initialisation, augmentation and batch order;
    `checkpoint_dir` holds a checkpoint per network trained (after each epoch), from which the same call resumes;
    `strict` makes an image that does not decode an error (otherwise a training image is skipped, its place in the
    batch taken by the next one, and an image of an extracted split a listed skip); `shuffle` is the batch order
    under several ranks (`data.EpochSampler`: global, or local to each rank's own stretch of the data).
    """

    train_limit: int | None = None
    test_limit: int | None = None
    hub_dir: str | Path | None = None
    checkpoint_dir: str | Path | None = None
    device: str = "cpu"
    seed: int = 0
    num_workers: int = 0
    progress: bool = True
    strict: bool = False
    shuffle: Shuffle = "global"

    def __post_init__(self) -> None:
        for name in ("train_limit", "test_limit"):
            limit = getattr(self, name)
            if limit is not None and not (is_int(limit) and limit >= 1):
                raise ValueError(f"{name} must be None or >= 1, got {limit!r}")
        check_num_workers(self.num_workers)
        check_seed(self.seed)
        check_flags(self, "progress", "strict")
        if self.shuffle not in get_args(Shuffle):
            raise ValueError(f"shuffle must be one of {', '.join(get_args(Shuffle))}, got {self.shuffle!r}")


@dataclass(frozen=True, kw_only=True)
class ExtractOptions:
    """How `extract_features` runs; ValueError naming the option when a value cannot be used (TypeError for a
    flag that is no bool).

    `num_workers` decoding processes (None: none on a CPU, up to 8 beside an accelerator); the float conversion
    and normalisation always run on `device`, on the whole uint8 batch; `device_preprocessing` moves the resize and
    crop there too, one image at a time in the main process (worth it only where few decoding cores feed a device;
    README has the measurement). `strict` makes an unreadable image an error instead of a
    listed skip; `limit` keeps the source's first `limit` images (and the entries skipped before them) only."""

    batch_size: int = 256
    shard_size: int = 8192
    num_workers: int | None = None
    device: str = "cpu"
    device_preprocessing: bool = False
    precision: Precision = "fp32"
    dtype: FeatureDtype = "float32"
    output_format: FeatureFormat = "safetensors"
    strict: bool = False
    compile: bool = False
    channels_last: bool = True
    limit: int | None = None

    def __post_init__(self) -> None:
        for name, choices in (("precision", Precision), ("dtype", FeatureDtype), ("output_format", FeatureFormat)):
            if getattr(self, name) not in get_args(choices):
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {', '.join(get_args(choices))}")
        for name in ("batch_size", "shard_size", "limit"):
            value = getattr(self, name)
            if value is not None and not (is_int(value) and value >= 1):
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        check_num_workers(self.num_workers)
        check_flags(self, "device_preprocessing", "strict", "compile", "channels_last")


EXTRACT = ExtractOptions()
# The largest time budget a command takes, a year: more is a typo, and 1e308 minutes overflowed the demo's plan.
MAX_MINUTES = 366 * 24 * 60
BENCHMARK_PROTOCOLS = ("knn", "linear", "fewshot")


@dataclass(frozen=True, kw_only=True)
class BenchmarkOptions:
    """How `run_benchmark` runs: which protocols (`knn`: k=20 and 200, T=0.07; `linear`: L-BFGS, weight decay chosen
    on a held-out part of train; `fewshot`: `shots` images a class, `draws` seeded draws each, linear and kNN), the
    fair baselines (`random-init`, `pixels`), the caps on each split, and where the features are computed."""

    protocols: tuple[str, ...] = BENCHMARK_PROTOCOLS
    shots: tuple[int, ...] = (1, 5, 10)
    draws: int = 3
    baselines: bool = True
    device: str = "cpu"
    batch_size: int = 256
    num_workers: int | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.protocols) - set(BENCHMARK_PROTOCOLS))
        if unknown or not self.protocols or len(set(self.protocols)) < len(self.protocols):
            raise ValueError(
                f"protocols must be some of {', '.join(BENCHMARK_PROTOCOLS)}, each once, got {list(self.protocols)}"
            )
        if "fewshot" in self.protocols and (
            not self.shots
            or not all(is_int(shots) and shots >= 1 for shots in self.shots)
            or len(set(self.shots)) < len(self.shots)
        ):
            raise ValueError(f"shots must be distinct positive numbers of images a class, got {list(self.shots)}")
        for name in ("draws", "batch_size", "train_limit", "test_limit"):
            value = getattr(self, name)
            if (value is not None or name in ("draws", "batch_size")) and not (is_int(value) and value >= 1):
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        check_num_workers(self.num_workers)
        check_seed(self.seed)
        if "fewshot" in self.protocols:  # the draws are seeded seed, seed + 1, ...: each a seed torch takes
            check_seed(self.seed + self.draws - 1, name=f"seed + draws - 1 (seed {self.seed}, draws {self.draws})")
        check_flags(self, "baselines")
