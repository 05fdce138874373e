"""The epoch order: a seeded global or local shuffle, and the stretches of DATA each rank reads."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from simsiam_zoo.data.source import SourceImages
from simsiam_zoo.errors import DataError
from simsiam_zoo.options import folded_seed


def rank_stretches(size: int, world_size: int, *, tar_starts: Sequence[int] = ()) -> list[range]:
    """`world_size` consecutive stretches of `range(size)`, of equal length; with at least as many tar shards as
    ranks each cut moves on to where the next tar begins, so that a rank's stretch is whole tar shards."""
    firsts = [0, *tar_starts]

    def cut(rank: int) -> int:
        even = -(-rank * size // world_size)
        if len(firsts) < world_size:
            return even
        later = bisect.bisect_left(firsts, even)
        return firsts[later] if later < len(firsts) else size

    cuts = [cut(rank) for rank in range(world_size)] + [size]
    return [range(cuts[rank], cuts[rank + 1]) for rank in range(world_size)]


def dataset_stretches(dataset: Dataset, world_size: int) -> list[range]:
    """`rank_stretches` of a dataset: its tar shards' when it has them (`SourceImages`), else equal ones."""
    tar_starts = dataset.tar_starts() if isinstance(dataset, SourceImages) else []
    return rank_stretches(len(dataset), world_size, tar_starts=tar_starts)


class EpochSampler(Sampler):
    """Shuffled per epoch from (seed, epoch), split across ranks, whole batches only.

    Yields `(epoch, index)` so the dataset can seed each sample's augmentation; `start_batch` skips the
    batches a resumed run has already trained on.

    Global shuffling (the default): global batch b is the b-th run of one permutation of every index, each rank
    taking its slice, so any number of ranks trains on the batches of one process. With `stretches` (one per rank,
    `dataset_stretches`), local shuffling: each rank permutes its own stretch only, so it reads only its own tar
    shards, which its node's page cache can keep; an epoch is the batches the smallest stretch gives. One rank's
    stretch is everything, so a single process shuffles as globally.
    """

    def __init__(
        self,
        size: int,
        *,
        batch_size: int,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        stretches: Sequence[range] | None = None,
    ):
        if stretches is not None and (len(stretches) != world_size or sum(map(len, stretches)) != size):
            raise ValueError(
                f"{len(stretches)} stretches of {sum(map(len, stretches))} indices for {world_size} "
                f"ranks and {size} indices"
            )
        per_rank = size // world_size if stretches is None else min(map(len, stretches))
        self.batches_per_epoch = per_rank // batch_size
        if self.batches_per_epoch == 0 and stretches is None:
            raise DataError(f"{size} images are fewer than one global batch of {batch_size * world_size}")
        if self.batches_per_epoch == 0:
            raise DataError(
                f"the smallest rank's stretch of the data holds {per_rank} images, fewer than one batch of {batch_size}"
            )
        self.size, self.batch_size, self.seed, self.epoch = size, batch_size, seed, epoch
        self.rank, self.world_size, self.start_batch, self.stretches = rank, world_size, start_batch, stretches

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        taken = self.batches_per_epoch * self.batch_size
        if self.stretches is None:
            g = torch.Generator().manual_seed(folded_seed(self.seed * 100_003 + self.epoch))
            order = torch.randperm(self.size, generator=g)[: taken * self.world_size]
            # Global batch b holds order[b*B*W:(b+1)*B*W]; rank r takes its r-th slice of B.
            mine = order.view(self.batches_per_epoch, self.world_size, self.batch_size)[self.start_batch :, self.rank]
        else:
            # A seed per rank, or equal stretches would be permuted alike; rank 0's is global shuffling's, so that a
            # single process shuffles as globally.
            g = torch.Generator().manual_seed(folded_seed(self.seed * 100_003 + self.epoch + self.rank * 1_000_000_007))
            stretch = self.stretches[self.rank]
            order = torch.randperm(len(stretch), generator=g)[:taken] + stretch.start
            mine = order.view(self.batches_per_epoch, self.batch_size)[self.start_batch :]
        for index in mine.reshape(-1).tolist():
            yield self.epoch, index
