"""A small, lazy ELF64 reader for the start-up path of ``libsubst run``.

Reads only what the loader needs — the ELF header, program headers, the
dynamic section, its strings and notes — with ``struct`` and ``os.pread``,
because importing pyelftools alone costs ~59 ms (DESIGN.md §3).  Field and
method names follow elf(5) and the System V gABI, in pyelftools' style.

Whatever bytes a file holds, every failure is a :class:`LibsubstError`
subclass with a one-line message; offsets and sizes read from the file are
checked against the file's size before anything is read or allocated.
"""

import os
import stat
import struct
from collections import namedtuple

from libsubst.errors import ForeignElf, LibsubstError, NotAnElf, ProgramNotFound, UnsupportedElf

# elf(5) constants used here.
ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
EM_X86_64 = 62
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_NODEFLIB, DF_1_PIE = 0x800, 0x08000000
NT_GNU_BUILD_ID = 3

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
_DYN = struct.Struct("<qQ")  # Elf64_Dyn, 16 bytes
_NHDR = struct.Struct("<III")  # Elf64_Nhdr: n_namesz, n_descsz, n_type

# Names for e_machine values a user is likely to meet, for error messages.
_MACHINES = {
    2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390",
    40: "arm", 43: "sparcv9", 50: "ia64", 183: "aarch64", 243: "riscv",
    258: "loongarch",
}
_TYPES = {0: "an ELF of type ET_NONE", ET_REL: "a relocatable object (.o)",
          ET_CORE: "a core dump"}

Segment = namedtuple(
    "Segment", "p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align")
DynEntry = namedtuple("DynEntry", "d_tag d_val")


def _align_up(n, align):
    return -(-n // align) * align


class ElfFile:
    """An ELF64 x86-64 executable or shared object, read lazily.

    Use :meth:`open`; close with :meth:`close` or a ``with`` block.
    """

    def __init__(self, fd, path):
        """Take ownership of the open descriptor *fd* of *path*; validate it."""
        self.path = path
        self._fd = fd
        self._dynamic = None
        self._strtab = None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise ProgramNotFound(f"{path} is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise ProgramNotFound(f"{path} is not a regular file")
            self.size = st.st_size
            # What ld.so compares to notice one file loaded under two names.
            self.file_id = (st.st_dev, st.st_ino)
            self._read_headers()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path):
        """Open and validate the ELF file at *path*."""
        path = os.fspath(path)
        try:
            # O_NONBLOCK: opening a FIFO must not hang; it is rejected below.
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            raise ProgramNotFound(f"{path}: no such file") from None
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) else str(e)
            raise ProgramNotFound(f"{path}: {reason}") from None
        return cls(fd, path)

    def close(self, _close=os.close):
        # _close is bound early: __del__ may run while the interpreter exits.
        if self._fd is not None:
            _close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"<ElfFile {self.path!r}>"

    # -- reading -----------------------------------------------------------

    def _corrupt(self, what):
        return UnsupportedElf(f"truncated or corrupt ELF: {self.path}: {what}")

    def _read(self, offset, size, what):
        """Read exactly *size* bytes at *offset*, all inside the file."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self._corrupt(f"{what} lies outside the file")
        if self._fd is None:
            raise LibsubstError(f"{self.path}: ELF file already closed")
        try:
            data = os.pread(self._fd, size, offset)
        except OSError as e:
            raise self._corrupt(f"cannot read {what}: {e.strerror}") from None
        if len(data) != size:
            raise self._corrupt(f"{what} lies outside the file (file shrank?)")
        return data

    def _read_headers(self):
        try:
            head = os.pread(self._fd, _EHDR.size, 0)
        except OSError as e:
            raise self._corrupt(f"cannot read the ELF header: {e.strerror}") from None
        if head[:4] != ELFMAG:
            if head[:2] == b"#!":
                raise NotAnElf(f"{self.path} is a '#!' script, not an ELF file")
            raise NotAnElf(f"{self.path} is not an ELF file")
        # Class, byte order and machine first: they give the clearest message
        # even for a file too short to hold an Elf64_Ehdr.
        ei_class = head[4] if len(head) > 4 else 0
        if ei_class == ELFCLASS32:
            raise ForeignElf(f"{self.path} is a 32-bit ELF; only 64-bit x86-64 is supported")
        if ei_class != ELFCLASS64:
            raise self._corrupt(f"invalid ELF class {ei_class}")
        if len(head) > 5 and head[5] == ELFDATA2MSB:
            raise UnsupportedElf(f"{self.path} is a big-endian ELF; only x86-64 is supported")
        if len(head) < _EHDR.size:
            raise self._corrupt("file too short for an ELF header")
        (ident, self.e_type, self.e_machine, self.e_version, self.e_entry,
         self.e_phoff, _shoff, self.e_flags, _ehsize, self.e_phentsize,
         self.e_phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack(head)
        if ident[5] != ELFDATA2LSB or ident[6] != EV_CURRENT:
            raise self._corrupt("bad byte order or version in e_ident")
        if self.e_machine != EM_X86_64:
            name = _MACHINES.get(self.e_machine, str(self.e_machine))
            raise ForeignElf(f"{self.path} is an ELF for machine {name}; only x86-64 is supported")
        if self.e_type not in (ET_EXEC, ET_DYN):
            kind = _TYPES.get(self.e_type, f"an ELF of type {self.e_type}")
            raise UnsupportedElf(f"{self.path} is {kind}, not an executable or shared library")
        if self.e_phnum == 0:
            raise self._corrupt("no program headers")
        if self.e_phentsize != _PHDR.size:
            raise self._corrupt(f"e_phentsize is {self.e_phentsize}, not {_PHDR.size}")
        table = self._read(self.e_phoff, self.e_phnum * _PHDR.size, "program header table")
        self._segments = [Segment._make(s) for s in _PHDR.iter_unpack(table)]
        for seg in self._segments:
            # A loadable segment past the end of the file means a truncated
            # copy: the kernel would map it and the program fault on SIGBUS.
            if seg.p_type == PT_LOAD:
                if seg.p_offset + seg.p_filesz > self.size:
                    raise self._corrupt("PT_LOAD segment extends past the end of the file")
                if seg.p_filesz > seg.p_memsz:
                    raise self._corrupt("PT_LOAD segment has p_filesz > p_memsz")

    # -- segments ----------------------------------------------------------

    def num_segments(self):
        return len(self._segments)

    def iter_segments(self, p_type=None):
        """Program headers in file order, optionally only those of *p_type*."""
        return (s for s in self._segments if p_type is None or s.p_type == p_type)

    def _segment_bytes(self, seg, name):
        return self._read(seg.p_offset, seg.p_filesz, name)

    def get_interp(self):
        """The ``PT_INTERP`` path (the program interpreter), or None."""
        for seg in self.iter_segments(PT_INTERP):
            raw = self._segment_bytes(seg, "PT_INTERP").split(b"\0", 1)[0]
            if not raw:
                raise self._corrupt("empty PT_INTERP")
            return os.fsdecode(raw)
        return None

    @property
    def is_static(self):
        """True if the kernel runs this file without a program interpreter."""
        return not any(True for _ in self.iter_segments(PT_INTERP))

    @property
    def is_pie(self):
        """True for a position-independent executable (including static-pie).

        ``DF_1_PIE`` is how binutils >= 2.26 marks one; older linkers left
        only the heuristic file(1) uses: ET_DYN with PT_INTERP and no soname.
        """
        if self.e_type != ET_DYN:
            return False
        if self.get_flags_1() & DF_1_PIE:
            return True
        return not self.is_static and self.get_soname() is None

    def _vaddr_to_offset(self, vaddr):
        """Translate a virtual address through the PT_LOAD segments."""
        for seg in self.iter_segments(PT_LOAD):
            if seg.p_vaddr <= vaddr < seg.p_vaddr + seg.p_filesz:
                return vaddr - seg.p_vaddr + seg.p_offset, seg.p_vaddr + seg.p_filesz - vaddr
        return None, 0

    # -- dynamic section ---------------------------------------------------

    def iter_dynamic(self):
        """``PT_DYNAMIC`` entries up to ``DT_NULL``, as ``DynEntry`` tuples."""
        if self._dynamic is None:
            entries = []
            # ld.so(8) uses the last PT_DYNAMIC (glibc _dl_map_object_from_fd).
            segs = list(self.iter_segments(PT_DYNAMIC))
            if segs:
                seg = segs[-1]
                size = seg.p_filesz - seg.p_filesz % _DYN.size
                for tag, val in _DYN.iter_unpack(self._read(seg.p_offset, size, "PT_DYNAMIC")):
                    if tag == DT_NULL:
                        break
                    entries.append(DynEntry(tag, val))
            self._dynamic = entries
        return iter(self._dynamic)

    def _last(self, tag):
        """Value of the last entry with *tag*: ld.so keeps the last one seen."""
        val = None
        for entry in self.iter_dynamic():
            if entry.d_tag == tag:
                val = entry.d_val
        return val

    def _dynstr(self, offset):
        """The NUL-terminated string at *offset* in the ``DT_STRTAB`` table."""
        if self._strtab is None:
            addr = self._last(DT_STRTAB)
            if addr is None:
                raise self._corrupt("dynamic section without DT_STRTAB")
            file_off, avail = self._vaddr_to_offset(addr)
            if file_off is None:
                raise self._corrupt("DT_STRTAB is not in any PT_LOAD segment")
            size = self._last(DT_STRSZ)
            self._strtab = self._read(file_off, avail if size is None else size, "DT_STRTAB")
        end = self._strtab.find(b"\0", offset)
        if offset >= len(self._strtab) or end < 0:
            raise self._corrupt(f"string offset {offset:#x} outside DT_STRTAB")
        return os.fsdecode(self._strtab[offset:end])

    def get_needed(self):
        """``DT_NEEDED`` names, in the order of the dynamic section."""
        return [self._dynstr(e.d_val) for e in self.iter_dynamic() if e.d_tag == DT_NEEDED]

    def _path_list(self, tag):
        val = self._last(tag)
        return None if val is None else self._dynstr(val).split(":")

    def get_rpath(self):
        """``DT_RPATH`` split on ':' (as written, ``$ORIGIN`` unexpanded), or None."""
        return self._path_list(DT_RPATH)

    def get_runpath(self):
        """``DT_RUNPATH`` split on ':' (as written), or None."""
        return self._path_list(DT_RUNPATH)

    def get_soname(self):
        val = self._last(DT_SONAME)
        return None if val is None else self._dynstr(val)

    def get_flags_1(self):
        """``DT_FLAGS_1`` (``DF_1_*`` bits), 0 if absent."""
        return self._last(DT_FLAGS_1) or 0

    # -- notes -------------------------------------------------------------

    def iter_notes(self):
        """``(n_type, name, desc)`` of every note in the PT_NOTE segments."""
        for seg in self.iter_segments(PT_NOTE):
            data = self._segment_bytes(seg, "PT_NOTE")
            # gABI: notes are 4-byte aligned; GNU property notes use 8 and
            # say so in p_align (binutils readelf does the same).
            align = 8 if seg.p_align == 8 else 4
            pos = 0
            while pos + _NHDR.size <= len(data):
                namesz, descsz, n_type = _NHDR.unpack_from(data, pos)
                name_at = pos + _NHDR.size
                desc_at = pos + _align_up(_NHDR.size + namesz, align)
                end = desc_at + descsz
                if end > len(data):
                    raise self._corrupt("note extends past its PT_NOTE segment")
                name = data[name_at:name_at + namesz].rstrip(b"\0")
                yield n_type, name, data[desc_at:end]
                pos = pos + _align_up(end - pos, align)

    def get_build_id(self):
        """The GNU build-id (``NT_GNU_BUILD_ID``) as a hex string, or None."""
        for n_type, name, desc in self.iter_notes():
            if n_type == NT_GNU_BUILD_ID and name == b"GNU":
                return desc.hex()
        return None
