"""The executables a run starts beside the package's files (_bin/): the
guest kernel, the native supervisor a run hands over to, and the command of
its epilogue."""

from __future__ import annotations

import os
import sys

from ..errors import BuildError


def bin_path(name: str) -> str:
    """An executable the build put beside the package's files (_bin/NAME)."""
    # An exec needs a real file, and importlib.resources would add ~6 ms of
    # imports to every run.
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin", name)


def supervisor_path() -> str:
    """The native supervisor a run hands over to (c_src/tender/supervise.c)."""
    return bin_path("libsubst-supervise")


def epilogue_command() -> list[str]:
    """The supervisor's EPILOGUE_COMMAND (monitor/epilogue.py), before its
    --bootinfo FD: a planned run's (Guest.hand_over) and a cached plan's,
    which the native front end gives the supervisor (plancache.h)."""
    return [sys.executable, *(("-P",) if sys.version_info >= (3, 11) else ()),
            "-m", "libsubst.monitor.epilogue"]


def kernel_path() -> str:
    """The installed guest kernel binary."""
    path = bin_path("libsubst-kernel")
    if not os.access(path, os.X_OK):
        raise BuildError(f"the guest kernel is missing ({path}): reinstall libsubst with pip")
    return path
