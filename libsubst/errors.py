"""One exception hierarchy for everything libsubst reports to a user.

Every message is a single line a user can act on; the CLI prints it as
``libsubst: <message>`` and exits non-zero, never with a traceback.
"""

import subprocess


class LibsubstError(Exception):
    """Base of every error libsubst reports to its user."""

    exit_code = 2


class ProgramNotFound(LibsubstError):
    """The program named on the command line does not exist or is not runnable."""

    exit_code = 127


class NotAnElf(LibsubstError):
    """The file is not an ELF object (and not a ``#!`` script where one is allowed)."""


class UnsupportedElf(LibsubstError):
    """An ELF file libsubst cannot run: wrong class, machine, type, or truncated."""


class ForeignElf(UnsupportedElf):
    """A well-formed ELF for another class or machine.

    ld.so(8) silently skips such a candidate while searching for a library
    (glibc elf/dl-load.c ``open_verify``), unlike other malformed files.
    """


class CorruptElf(UnsupportedElf):
    """A truncated ELF file, or one whose headers point outside it or contradict each other."""


class LibraryNotFound(LibsubstError):
    """A ``DT_NEEDED`` library could not be resolved with the dynamic linker's rules."""


class VolumeError(LibsubstError):
    """A ``--volume`` is malformed or its host path does not exist."""


class ImageError(LibsubstError):
    """A guest image is malformed, truncated or of an unsupported version."""


class BuildError(LibsubstError):
    """The guest kernel or the ABI module is missing from the installation."""


class BadReference(LibsubstError):
    """A string that is not an OCI image reference (``[REGISTRY/]REPO[:TAG][@DIGEST]``)."""


class RegistryError(LibsubstError):
    """A registry refused a request, could not be reached, or sent content that
    does not match its digest."""


class StoreError(LibsubstError):
    """The local image store has no such image, or an entry in it is damaged."""


class GuestError(LibsubstError, subprocess.CalledProcessError):
    """``run(..., check=True)``: the guest exited with a non-zero status.

    A subprocess.CalledProcessError too: ``returncode`` (as a shell shows it:
    128+N for a guest killed by signal N), ``cmd`` (its argv), ``stdout``,
    ``stderr`` (what it wrote to a PIPE)."""

    def __init__(self, returncode, cmd, output=None, stderr=None):
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.exit_code = returncode

    __str__ = subprocess.CalledProcessError.__str__


class GuestTimeout(LibsubstError, subprocess.TimeoutExpired):
    """``run(..., timeout=T)``: the guest ran longer than T seconds and was
    killed.  A subprocess.TimeoutExpired too (``timeout``, ``cmd``,
    ``stdout``, ``stderr``)."""

    def __init__(self, cmd, timeout, output=None, stderr=None):
        subprocess.TimeoutExpired.__init__(self, cmd, timeout, output, stderr)

    __str__ = subprocess.TimeoutExpired.__str__
