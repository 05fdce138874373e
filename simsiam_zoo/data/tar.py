"""WebDataset tar shards as an `ImageSource`: samples grouped by key, `.cls` labels, read through one open file."""

from __future__ import annotations

import math
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from simsiam_zoo._io import refuse_special_file
from simsiam_zoo.data.decode import IMAGE_EXTENSIONS
from simsiam_zoo.data.source import ImageSource
from simsiam_zoo.errors import DataError

# Above this many names, a shard pattern is taken for a mistyped range (`{0000000..9999999}`), refused before the
# names are written out (ten million of them took 4.5 GB and minutes).
MAX_SHARDS = 1_000_000

_BRACES = re.compile(r"\{([^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """WebDataset's shard patterns: `{000..099}` (zero-padded as written) and `{a,b}`, any number of them, not
    nested; more than `MAX_SHARDS` names are refused, counted before they are written out."""
    if _BRACES.search(_BRACES.sub("", pattern)):
        raise DataError(f"{pattern}: braces inside braces; write the choices out (`{{a,b1,b2}}`)")
    count = math.prod(_count(body) for body in _BRACES.findall(pattern))
    if count > MAX_SHARDS:
        raise DataError(f"{pattern}: names {count:,} files, more than {MAX_SHARDS:,}: a mistyped range?")
    return _expand(pattern)


_NUMBERS = re.compile(r"(\d+)\.\.(\d+)")


def _count(body: str) -> int:
    """How many choices one brace stands for, without writing them out."""
    numbers = _NUMBERS.fullmatch(body)
    return max(0, int(numbers[2]) - int(numbers[1]) + 1) if numbers else len(body.split(","))


def _expand(pattern: str) -> list[str]:
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, body, tail = pattern[: match.start()], match.group(1), pattern[match.end() :]
    numbers = _NUMBERS.fullmatch(body)
    if numbers:
        first, last = numbers.groups()
        choices = [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    else:
        choices = body.split(",")
    return [expanded for choice in choices for expanded in _expand(head + choice + tail)]


def read_tars(pattern: str) -> ImageSource:
    """Samples of WebDataset tar shards: members grouped by key (the name up to the basename's first dot), the image
    by its extension, the label from `.cls`; a sample without an image is a listed skip, a missing shard an error."""
    # Absolute, so that the listing is the same from any working directory, a resume from elsewhere included.
    shards = [Path(os.path.abspath(name)) for name in expand_braces(pattern)]
    for shard in shards:
        refuse_special_file(shard, DataError)
        if shard.is_dir():
            raise DataError(f"{shard}: a folder, not a tar shard")
        if not shard.is_file():
            raise DataError(f"{shard}: no such tar shard")
    paths, labels, files, members, skipped = [], [], [], [], {}
    # Samples are named SHARD/KEY by the shard's file name, or by its path where two shards share a name.
    by_name = len({shard.name for shard in shards}) == len(shards)
    for shard in shards:
        for key, sample, label, repeated in _samples(shard):
            image, problem = _image_member(sample)
            paths.append(f"{shard.name if by_name else shard}/{key}")
            labels.append(-1 if label is None else label)
            files.append(Path(f"{shard}/{key}.{image}" if image else f"{shard}/{key}"))
            members.append(sample[image] if image else (shard, 0, 0))
            if repeated:
                skipped[len(paths) - 1] = (
                    f"a second sample {key} in the shard ({', '.join(sorted(sample))}): "
                    "WebDataset keys must be unique; the first one is used"
                )
            elif problem is not None:
                skipped[len(paths) - 1] = problem
    num_classes = max(labels, default=-1) + 1
    return ImageSource(
        "tar",
        os.path.abspath(pattern),  # the pattern as given from anywhere (`./tars/x.tar`, `tars/x.tar`)
        paths,
        labels,
        [str(i) for i in range(num_classes)],
        files=files,
        skipped=skipped,
        members=members,
    )


_TAR_IMAGE_TYPES = [extension.lstrip(".") for extension in IMAGE_EXTENSIONS]  # in order of preference

# A member of a sample: (shard, offset, size) of a regular file, else what the member is (a link WebDataset does not
# read, kept so that its sample is a listed skip rather than lost).
_Member = tuple[Path, int, int] | str


def _image_member(sample: dict[str, _Member]) -> tuple[str | None, str | None]:
    """The extension of the sample's image, or None and why: a member KEY.EXT of an image EXT, the first in
    `IMAGE_EXTENSIONS`' order (`jpg` before `png`, as WebDataset's `to_tuple("jpg;png")` reads a JPEG and its PNG
    mask; and `a.jpg` rather than `a.seg.png`), else the one member whose last extension is an image's; links are
    never the image, as WebDataset reads regular files only."""
    files = [kind for kind, member in sample.items() if not isinstance(member, str)]
    whole = [kind for kind in _TAR_IMAGE_TYPES if kind in files]
    if whole:
        return whole[0], None
    images = sorted(kind for kind in files if kind.rpartition(".")[2] in _TAR_IMAGE_TYPES)
    links = sorted((kind, member) for kind, member in sample.items() if isinstance(member, str))
    if not images and links:
        return None, f"its image ({links[0][0]}) is {links[0][1]} in the tar, which WebDataset does not read"
    if not images:
        return None, f"no image in the sample (members: {', '.join(sorted(sample))})"
    if len(images) > 1:
        return None, f"several images in the sample ({', '.join(images)}), so none is taken for its image"
    return images[0], None


_LINKS = {tarfile.LNKTYPE: "a hard link", tarfile.SYMTYPE: "a symbolic link"}


def _member(shard: Path, member: tarfile.TarInfo, extension: str) -> _Member | None:
    """Where a regular member's bytes lie; what a link named as an image is; None for the rest (folders, other
    links), which are no part of a sample. A sparse member is refused: its bytes are not where the tar lists them."""
    if member.issparse():
        raise DataError(
            f"{shard}: {member.name}: a sparse member, whose bytes are not stored as one run in the shard; "
            "write shards without tar's --sparse (as WebDataset writes them)"
        )
    if member.isfile():
        return shard, member.offset_data, member.size
    if member.type in _LINKS and extension.rpartition(".")[2] in _TAR_IMAGE_TYPES:
        return _LINKS[member.type]
    return None


# gzip, bzip2, xz, zstd: a member's offset in such a file is not where its bytes lie.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


# Above this, a `.cls` label is taken for a mistake: the classes are numbered up to the largest label.
MAX_CLASS_LABEL = 999_999


def _samples(shard: Path) -> Iterator[tuple[str, dict[str, _Member], int | None, bool]]:
    """(key, {extension: `_Member`}, label from `.cls` or None, repeated) per sample, in the shard's
    order, extensions in lower case (as WebDataset reads them); `repeated`: the key came before in the shard (a
    second sample of that key). A shard that ends before its end-of-archive block is refused (`_check_end`)."""
    with open(shard, "rb") as f:
        if f.read(6).startswith(_COMPRESSED_MAGIC):
            raise DataError(
                f"{shard}: a compressed tar; images are read where they lie in the file, so shards must "
                "be plain .tar (WebDataset's default): decompress it (e.g. gunzip)"
            )
    try:
        with tarfile.open(shard, mode="r:") as tar:
            key, sample, label, repeated, seen = None, {}, None, False, set()
            for member in tar:
                folder, _, base = member.name.rpartition("/")
                stem, _, extension = base.partition(".")
                name, extension = f"{folder}/{stem}" if folder else stem, extension.lower()
                where = _member(shard, member, extension)
                if where is None:
                    continue
                if key is not None and (name != key or extension in sample):
                    yield key, sample, label, repeated
                    sample, label = {}, None
                if not sample:
                    repeated = name in seen
                    seen.add(name)
                key = name
                sample[extension] = where
                if extension == "cls":
                    label = _class_label(shard, member, tar.extractfile(member).read())
            _check_end(shard, tar)
            if key is not None:
                yield key, sample, label, repeated
    except tarfile.TarError as error:
        raise DataError(f"{shard}: not a readable tar file ({error})") from None


def _check_end(shard: Path, tar: tarfile.TarFile) -> None:
    """Python's tarfile ends its listing in silence at a header cut short or missing, as an interrupted copy
    leaves it (the members after the cut were lost unsaid): the archive must go on with its end-of-archive block."""
    assert tar.fileobj is not None
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise tarfile.ReadError(
            f"it ends without the tar's end-of-archive block after byte {tar.offset:,}: cut short, as an "
            "interrupted copy leaves it?"
        )


def _class_label(shard: Path, member: tarfile.TarInfo, data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) > MAX_CLASS_LABEL:
        raise DataError(
            f"{shard}: {member.name}: a class label must be a decimal number from 0 to "
            f"{MAX_CLASS_LABEL:,}, got {text[:20]!r}"
        )
    return int(text)
