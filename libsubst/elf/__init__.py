"""The ELF64 x86-64 reader: for ``libsubst run``'s start-up and for the rewriter.

One :class:`ElfFile` serves both.  It reads a bytes-like buffer:
``ElfFile.open(path)`` maps the file read-only, so the start-up path touches
only the pages it reads (headers, dynamic section, strings, notes) and copies
no library in; ``ElfFile(data, path)`` reads bytes already in memory (the
rewriter's output, checked before it is written).

The ELF header and the program headers are parsed at once: every caller needs
them, and they decide whether this is an ELF libsubst runs at all.  The rest
is parsed on first use.  Section headers especially: ld.so never reads them,
so the run path accepts a program whose section headers are stripped or odd,
and only the rewriter's methods (``sections`` and what uses it,
:meth:`ElfFile.check_layout`) look at them.  Where the gABI leaves a choice
(two ``PT_DYNAMIC``, a tag given twice), the reader does what glibc's ld.so
does.

Whatever bytes a file holds, a failure is a :class:`LibsubstError` with a
one-line message — :class:`NotAnElf`, :class:`ForeignElf` (another class or
machine: ld.so skips those while searching), :class:`UnsupportedElf`, or
:class:`CorruptElf`, all in :mod:`libsubst.errors` — never an ``IndexError``
or ``struct.error``: every offset and size read from the file is checked
against its size before it is followed.  A mapped file must not shrink while
it is open (a read past its new end is SIGBUS); ld.so and the kernel map the
same files on the same terms.

The reader is one class in parts, a module per concern: the file, its ELF
header, program headers and addresses here; the section headers
(:mod:`.sections`, the rewriter's); the dynamic section, PT_INTERP and notes
(:mod:`.dynamic`, the run path's); symbols and relocations
(:mod:`.relocations`); the format's numbers and records (:mod:`.abi`).

Nothing but the standard library's :mod:`struct`, :mod:`mmap` and :mod:`os`
(with :mod:`stat` and ``namedtuple``) is imported: pyelftools alone costs
~59 ms to import, and ``libsubst run``'s start-up is measured.  Names follow
elf(5), the System V gABI and the x86-64 psABI.
"""

import mmap
import os
import stat

from ..errors import CorruptElf, ForeignElf, NotAnElf, ProgramNotFound, UnsupportedElf
from .abi import EHDR, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, EM_X86_64, \
    ET_CORE, ET_DYN, ET_EXEC, ET_REL, EV_CURRENT, PHDR, PT_LOAD, USER_SPACE_END, Segment
from .dynamic import Dynamic
from .relocations import Relocations
from .sections import Sections

# Names for e_machine and e_type values a user is likely to meet, for messages.
_MACHINES = {
    2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390",
    40: "arm", 43: "sparcv9", 50: "ia64", 183: "aarch64", 243: "riscv",
    258: "loongarch",
}
_TYPES = {0: "an ELF of type ET_NONE", ET_REL: "a relocatable object (.o)",
          ET_CORE: "a core dump"}


def _contents(fd, size, path, file_error):
    """The *size* bytes of the file open on *fd*: mapped, or read if it cannot be."""
    if size == 0:
        return b""                  # mmap refuses an empty file; it is no ELF anyway
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    except OSError:
        pass                        # a file system without mmap (some FUSE ones)
    try:
        return os.pread(fd, size, 0)
    except OSError as e:
        raise file_error(f"{path}: cannot read it: {e.strerror}") from None


def _regular_stat(fd, path, file_error):
    """fstat of the file open on *fd*, which must be a regular file."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise file_error(f"{path} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise file_error(f"{path} is not a regular file")
    return st


def open_regular(path, file_error=ProgramNotFound):
    """A read-only fd of the regular file at *path*, or *file_error* saying
    why not.  O_NONBLOCK: opening a FIFO must not hang (it is refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise file_error(f"{path}: no such file") from None
    except (OSError, ValueError) as e:          # ValueError: a NUL in the path
        reason = e.strerror if isinstance(e, OSError) else str(e)
        raise file_error(f"{path}: {reason}") from None
    try:
        _regular_stat(fd, path, file_error)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ElfFile(Sections, Dynamic, Relocations):
    """An ELF64 x86-64 executable or shared object.

    ``ElfFile.open(path)`` (close it with :meth:`close` or a ``with`` block),
    or ``ElfFile(data, path)`` over bytes in memory.
    """

    def __init__(self, data, path="<bytes>", check_loads=True):
        """Read *data* (bytes, or a read-only mmap), named *path* in messages.
        Without *check_loads*, a PT_LOAD past the file's end or with
        p_filesz > p_memsz is let through: only the headers may be read
        then (:meth:`interp`), as the run path does for a program it leaves
        to the guest kernel's exec, which fails it as Linux's does."""
        self.data = data
        self.path = path
        self.size = len(data)
        # (st_dev, st_ino) of an opened file: how ld.so tells one object
        # loaded under two names.
        self.file_id = None
        # (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns): this version
        # of the file, for what is worked out from its bytes once (search.py)
        self.stamp = None
        self._mapping = None
        self._sections = None
        self._shstrndx = 0
        self._dynamic = None
        self._dyn_values = None
        self._strtab = None
        self._read_header()
        self.segments = self._read_segments(check_loads)
        self.loads = [s for s in self.segments if s.p_type == PT_LOAD]

    @classmethod
    def open(cls, path, file_error=ProgramNotFound, check_loads=True):
        """Map and read the ELF file at *path*.

        A path that cannot be opened, or is no regular file, raises
        *file_error*: ProgramNotFound suits a program to run; the rewriter,
        whose input is just a bad argument then, passes UnsupportedElf.
        *check_loads* as for the constructor.
        """
        path = os.fspath(path)
        return cls.from_fd(open_regular(path, file_error), path, file_error, check_loads)

    @classmethod
    def from_fd(cls, fd, path, file_error=ProgramNotFound, check_loads=True):
        """Read the file of *path* open on *fd*, which this closes (a mapping
        outlives its descriptor).  *file_error* and *check_loads* as for
        :meth:`open`."""
        try:
            st = _regular_stat(fd, path, file_error)
            data = _contents(fd, st.st_size, path, file_error)
        finally:
            os.close(fd)
        mapping = data if isinstance(data, mmap.mmap) else None
        try:
            elf = cls(data, path, check_loads)
        except BaseException:
            if mapping is not None:
                mapping.close()
            raise
        elf.file_id = (st.st_dev, st.st_ino)
        elf.stamp = (*elf.file_id, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        elf._mapping = mapping
        return elf

    def close(self):
        """Unmap an opened file; the object is unusable afterwards."""
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<ElfFile {self.path!r}>"

    # -- bounds-checked access ---------------------------------------------

    def _corrupt(self, what):
        return CorruptElf(f"{self.path}: truncated or corrupt ELF ({what})")

    def _check(self, offset, size, what):
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self._corrupt(f"{what} at file offset {offset:#x}+{size:#x} lies outside "
                                f"the {self.size:#x}-byte file")

    def bytes_at(self, offset, size, what):
        """*size* bytes at file *offset*, or CorruptElf naming *what*."""
        self._check(offset, size, what)
        return self.data[offset:offset + size]

    # -- headers -----------------------------------------------------------

    def _read_header(self):
        head = self.data[:EHDR.size]
        if head[:4] != ELFMAG:
            if head[:2] == b"#!":
                raise NotAnElf(f"{self.path} is a '#!' script, not an ELF file")
            raise NotAnElf(f"{self.path} is not an ELF file")
        # Class and byte order first: they give the clearest message even for
        # a file too short to hold an Elf64_Ehdr (an Elf32_Ehdr is 52 bytes).
        ei_class = head[4] if len(head) > 4 else 0
        if ei_class == ELFCLASS32:
            raise ForeignElf(f"{self.path} is a 32-bit ELF; only 64-bit x86-64 is supported")
        if ei_class != ELFCLASS64:
            raise self._corrupt(f"invalid ELF class {ei_class}")
        if len(head) > 5 and head[5] == ELFDATA2MSB:
            raise UnsupportedElf(f"{self.path} is a big-endian ELF; only x86-64 is supported")
        if len(head) < EHDR.size:
            raise self._corrupt("file too short for an ELF header")
        (ident, self.e_type, self.e_machine, self.e_version, self.e_entry, self.e_phoff,
         self.e_shoff, self.e_flags, self.e_ehsize, self.e_phentsize, self.e_phnum,
         self.e_shentsize, self.e_shnum, self.e_shstrndx) = EHDR.unpack(head)
        if ident[5] != ELFDATA2LSB or ident[6] != EV_CURRENT:
            raise self._corrupt("bad byte order or version in e_ident")
        if self.e_machine != EM_X86_64:
            name = _MACHINES.get(self.e_machine, str(self.e_machine))
            raise ForeignElf(f"{self.path} is an ELF for machine {name}; "
                             "only x86-64 is supported")
        if self.e_type not in (ET_EXEC, ET_DYN):
            kind = _TYPES.get(self.e_type, f"an ELF of type {self.e_type}")
            raise UnsupportedElf(f"{self.path} is {kind}, not an executable or shared library")

    def _read_segments(self, check_loads):
        if self.e_phnum == 0:
            raise self._corrupt("no program headers")
        if self.e_phentsize != PHDR.size:
            raise self._corrupt(f"e_phentsize is {self.e_phentsize}, not {PHDR.size}")
        table = self.bytes_at(self.e_phoff, self.e_phnum * PHDR.size, "program header table")
        segs = [Segment(i, *fields) for i, fields in enumerate(PHDR.iter_unpack(table))]
        for s in segs:
            # A loadable segment past the end of the file means a truncated
            # copy: the kernel would map it and the program die of SIGBUS.
            if s.p_type == PT_LOAD and check_loads:
                if s.p_offset + s.p_filesz > self.size:
                    raise self._corrupt(f"PT_LOAD {s.index} extends past the end of the file")
                if s.p_filesz > s.p_memsz:
                    raise self._corrupt(f"PT_LOAD {s.index} has p_filesz > p_memsz")
        return segs

    def check_layout(self):
        """Raise CorruptElf unless the file is laid out as the rewriter assumes.

        That is: PT_LOAD segments, sorted by address, disjoint and in user
        space, and section headers (if any) inside the file.  ld.so demands
        none of this, so the run path never calls it.
        """
        if not self.loads:
            raise self._corrupt("no PT_LOAD segments")
        for s in self.loads:
            if s.p_vaddr + s.p_memsz >= USER_SPACE_END:
                raise self._corrupt(f"PT_LOAD {s.index} lies outside user space")
        for a, b in zip(self.loads, self.loads[1:]):
            if b.p_vaddr < a.p_vaddr + a.p_memsz:
                raise self._corrupt("PT_LOAD segments overlap or are not sorted by address")
        self._section_table()

    # -- addresses ---------------------------------------------------------

    def _load_at(self, vaddr, size=1):
        """The PT_LOAD whose file bytes hold the *size* bytes at *vaddr*, or None."""
        for s in self.loads:
            if s.p_vaddr <= vaddr and vaddr + size <= s.p_vaddr + s.p_filesz:
                return s
        return None

    def vaddr_to_offset(self, vaddr, size=1):
        """The file offset of the *size* bytes at *vaddr*, if a PT_LOAD maps them from the file."""
        s = self._load_at(vaddr, size)
        return None if s is None else vaddr - s.p_vaddr + s.p_offset

    def read(self, vaddr, size):
        """The *size* bytes at *vaddr*, or None if no PT_LOAD maps them from the file."""
        off = self.vaddr_to_offset(vaddr, size)
        return None if off is None else self.data[off:off + size]
