from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.recipe import Recipe, load_recipe
from tests.builders import build_hub_folder, build_image_folder

# Importing registers the loopback servers' fixtures: the Hub (hub_server, hub, hub_datasets) and source URLs.
from tests.hub_server import hub_datasets_env, hub_env, hub_server  # noqa: F401
from tests.source_server import source_server  # noqa: F401

# pyproject runs the suite in two pytest-xdist workers, which share the cores: one thread each. Run serially (`-n 0`;
# addopts gives `-n`, so xdist stays loaded), a test has up to two. The commands the tests start get the same count:
# a test that compares a command's result with the library's, bit for bit, needs both on one count.
_THREADS = 1 if "PYTEST_XDIST_WORKER" in os.environ else min(2, os.cpu_count() or 1)
os.environ["OMP_NUM_THREADS"] = str(_THREADS)
torch.set_num_threads(_THREADS)


def _remove_what_was_made(request: pytest.FixtureRequest, basetemp: Path) -> Iterator[None]:
    """Remove the temp dirs made while this fixture was up, unless a test failed meanwhile (its files tell why)."""
    before, failed = set(basetemp.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed == failed:
        for path in set(basetemp.iterdir()) - before:
            shutil.rmtree(path, ignore_errors=True)


# pytest removes a passing test's `tmp_path` (pyproject's retention policy), but not the dirs that `mktemp` makes for
# caches, servers and module fixtures: kept to the session's end, a suite's trained runs and checkpoints came to 15 GB
# and filled a CI machine's disk. These two remove them when their test, or their module, is done.
@pytest.fixture(scope="module", autouse=True)
def module_temp_dirs_removed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    yield from _remove_what_was_made(request, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def temp_dirs_of_each_test_removed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    # Module fixtures are set up before any function fixture (pytest orders by scope), so they are not this test's.
    yield from _remove_what_was_made(request, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def isolated_hf_cache(
    temp_dirs_of_each_test_removed: None, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every Hugging Face and torch cache path points at a temp dir: no test reads or writes ~/.cache. Made after
    the remover is up (pytest sets up a conftest's autouse fixtures by name), so that it goes with its test."""
    home = tmp_path_factory.mktemp("hf_home")
    for variable in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # A zoo entry fetched by accident goes to a closed local port, never to its real host (tests/source_server.py
    # serves the ones a test means to fetch).
    monkeypatch.setenv("SIMSIAM_ZOO_SOURCE_MIRROR", "http://127.0.0.1:9/no-internet-in-tests")
    return home


@pytest.fixture
def tiny_recipe() -> Recipe:
    """Tiny ResNet-18 heads on 32 px fake images: 4 steps an epoch, 2 epochs, seconds on a CPU."""
    return load_recipe("tiny_fake").replace({"optim.base_lr": 0.5})


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init ResNet-18 hub folder at 32 px, as `export` writes them (`builders.build_hub_folder`)."""
    return build_hub_folder(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ and val/ class folders of coloured PNGs (`builders.build_image_folder`)."""
    return build_image_folder(tmp_path_factory.mktemp("colours"))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread, for modules whose batches are too small to gain from two (and lose much when a core is
    busy): `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def loaded(hub_folder: Path) -> LoadedBackbone:
    """`hub_folder` loaded by `load_backbone`."""
    return load_backbone(hub_folder)
