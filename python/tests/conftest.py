"""Shared setup: import the package from this source tree, find the built library, the CLI
binary and the shared datasets. ctest sets ANE_TRAINER_LIB, ANET_BIN and ANET_SHARED_DIR;
by hand (python3 -m pytest python/tests from the repo root) the defaults below apply."""
import os
import sys
from pathlib import Path

import pytest

PYDIR = Path(__file__).resolve().parent.parent
REPO = PYDIR.parent
sys.path.insert(0, str(PYDIR))

BUILD = Path(os.environ["ANE_TRAINER_LIB"]).parent if os.environ.get("ANE_TRAINER_LIB") else REPO / "build"
SHARED = Path(os.environ.get("ANET_SHARED_DIR", REPO.parent / "shared"))
CLI = Path(os.environ.get("ANET_BIN", BUILD / "ane_trainer"))
MNIST10K = SHARED / "datasets" / "mnist-10k"
FIXTURES = SHARED / "fixtures" / "coreml"


@pytest.fixture(scope="session")
def mnist():
    import ane_trainer
    if not MNIST10K.is_dir():
        pytest.fail("dataset %s not found (set ANET_SHARED_DIR)" % MNIST10K)
    return ane_trainer.datasets.load(str(MNIST10K))


@pytest.fixture(scope="session")
def cli():
    if not CLI.is_file():
        pytest.fail("CLI binary %s not found (set ANET_BIN)" % CLI)
    return str(CLI)
