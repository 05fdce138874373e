"""Image folders (a sub-folder a class, as torchvision's ImageFolder) and list files as `ImageSource`s."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from simsiam_zoo._io import read_marker
from simsiam_zoo.data.decode import IMAGE_EXTENSIONS
from simsiam_zoo.data.source import ImageSource
from simsiam_zoo.errors import DataError


def scan_folder(root: Path) -> ImageSource:
    """Every visible entry below root, sorted; label = index of its top-level sub-folder, -1 at the top.

    Classes are all visible top-level sub-folders (sorted), empty ones too, so that a train and a val
    folder with the same class folders agree on the labels. Links to folders are followed (a class folder is
    often one), except to a folder already listed: a loop, or a second path to the same images.
    """
    root = root.resolve()
    entries: dict[tuple[str, ...], str | None] = {}  # relative parts -> reason skipped before decoding
    classes: list[str] = []
    listed = {(root.stat().st_dev, root.stat().st_ino)}  # folders by identity, so that a link to one shows

    def unreadable(error: OSError) -> None:
        if Path(error.filename) == root:
            raise DataError(f"{root}: cannot list folder: {error.strerror}")
        entries[Path(error.filename).relative_to(root).parts] = f"cannot list folder: {error.strerror}"

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(dirpath)
        parts = here.relative_to(root).parts
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            if read_marker(here / name) is not None:
                continue  # this project's own output (features, a run, a hub folder): never data, never listed
            try:
                stat = (here / name).stat()
            except OSError as e:
                entries[(*parts, name)] = f"cannot list folder: {e.strerror}"
                continue
            if (stat.st_dev, stat.st_ino) in listed:
                entries[(*parts, name)] = (
                    "a second path to a folder already listed (a link to it, or a loop), not followed"
                )
            else:
                listed.add((stat.st_dev, stat.st_ino))
                kept.append(name)
        dirnames[:] = kept
        if here == root:
            classes = list(kept)
        for name in filenames:
            if not name.startswith("."):
                is_image = os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                entries[(*parts, name)] = None if is_image else "not an image file extension"
    # Sorting by parts keeps each folder's entries together ("a/x" before "a b/y").
    ordered = sorted(entries)
    names = _class_names(root, classes)
    numbers = {name: number for number, name in enumerate(names)}
    class_index = {folder: numbers[unicodedata.normalize("NFC", folder)] for folder in classes}
    return ImageSource(
        "folder",
        str(root),
        ["/".join(p) for p in ordered],
        [class_index[p[0]] if len(p) > 1 else -1 for p in ordered],
        names,
        files=[root.joinpath(*p) for p in ordered],
        skipped={i: entries[p] for i, p in enumerate(ordered) if entries[p] is not None},
    )


def _class_names(root: Path, folders: list[str]) -> list[str]:
    """The class folders' names in Unicode's composed form (NFC), sorted: a folder copied from macOS has the
    decomposed form (NFD), and `café` in train and val was two classes that printed alike (refused, or numbered
    apart). Two folders of one name in both forms are refused."""
    composed = {unicodedata.normalize("NFC", folder): folder for folder in folders}
    if len(composed) < len(folders):
        twins = sorted(folder for folder in folders if composed[unicodedata.normalize("NFC", folder)] != folder)
        raise DataError(
            f"{root}: class folders {ascii(twins[0])} and another are one name in two Unicode forms; rename one"
        )
    return sorted(composed)


def read_list(list_file: Path) -> ImageSource:
    """One image path a line, relative to the list's folder or absolute; blank lines and `#` comments skipped."""
    list_file = list_file.resolve()
    if list_file.suffix.lower() in IMAGE_EXTENSIONS:
        raise DataError(f"{list_file}: is an image; DATA must be a folder, a text file of paths or a named dataset")
    try:
        raw = list_file.read_bytes()
    except OSError as e:
        raise DataError(f"{list_file}: cannot read: {e.strerror}") from None
    if b"\0" in raw:
        raise DataError(f"{list_file}: not a text file of image paths")
    # utf-8-sig: a list saved by a Windows editor begins with a byte-order mark, which is no part of its first path.
    lines = [line.strip() for line in raw.decode("utf-8-sig", errors="surrogateescape").splitlines()]
    paths = [line for line in lines if line and not line.startswith("#")]
    files = [list_file.parent / p for p in paths]
    return ImageSource("list", str(list_file), paths, [-1] * len(paths), [], files=files)
