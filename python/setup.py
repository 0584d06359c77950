"""Puts the C library into the package when it is built, so `pip install ./python` gives a
working install without copying libane_trainer by hand. The library taken: $ANE_TRAINER_LIB when
set, else one already next to the package (python/ane_trainer/), else the source tree's build
directory (../build, `cmake --build build`). None found: the build stops and says how to make it.
Metadata is in pyproject.toml."""
import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LIBNAME = "libane_trainer.dylib" if sys.platform == "darwin" else "libane_trainer.so"
HERE = Path(__file__).resolve().parent


def find_library():
    env = os.environ.get("ANE_TRAINER_LIB")
    if env:
        if not os.path.isfile(env):
            sys.exit("ane_trainer setup: ANE_TRAINER_LIB=%s: no such file" % env)
        return Path(env)
    for p in (HERE / "ane_trainer" / LIBNAME, HERE.parent / "build" / LIBNAME):
        if p.is_file():
            return p
    sys.exit("ane_trainer setup: %s not found in %s or %s: build it first (cmake -S . -B build && "
             "cmake --build build in the source tree) or set ANE_TRAINER_LIB to its path"
             % (LIBNAME, HERE / "ane_trainer", HERE.parent / "build"))


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = find_library()
        dest = Path(self.build_lib) / "ane_trainer" / LIBNAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        if lib.resolve() != dest.resolve():
            shutil.copyfile(lib, dest)
        print("ane_trainer setup: bundled %s" % lib)


setup(cmdclass={"build_py": BuildWithLibrary})
