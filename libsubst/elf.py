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

Nothing but the standard library's :mod:`struct`, :mod:`mmap` and :mod:`os`
(with :mod:`stat` and ``namedtuple``) is imported: pyelftools alone costs
~59 ms to import, and ``libsubst run``'s start-up is measured.  Names follow
elf(5), the System V gABI and the x86-64 psABI.
"""

import mmap
import os
import stat
import struct
from collections import namedtuple

from .errors import CorruptElf, ForeignElf, NotAnElf, ProgramNotFound, UnsupportedElf

ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
EM_X86_64 = 62
# p_type, p_flags
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
PT_GNU_EH_FRAME = 0x6474E550
PF_X, PF_W, PF_R = 1, 2, 4
# sh_type, sh_flags, special section indexes
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_DYNSYM, SHT_RELR = 8, 11, 19
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_LORESERVE, SHN_XINDEX = 0, 0xFF00, 0xFFFF
STT_FILE, STT_TLS = 4, 6
# d_tag, and DT_FLAGS_1 bits
DT_NULL, DT_NEEDED, DT_PLTRELSZ, DT_STRTAB, DT_SYMTAB = 0, 1, 2, 5, 6
DT_RELA, DT_RELASZ, DT_STRSZ, DT_SONAME, DT_RPATH = 7, 8, 10, 14, 15
DT_JMPREL, DT_RUNPATH, DT_RELRSZ, DT_RELR = 23, 29, 35, 36
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_NODEFLIB, DF_1_PIE = 0x800, 0x08000000
# x86-64 relocation types (psABI table 4.9)
R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT = 1, 6, 7
R_X86_64_RELATIVE, R_X86_64_IRELATIVE = 8, 37
NT_GNU_BUILD_ID = 3

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")   # Elf64_Ehdr, 64 bytes
PHDR = struct.Struct("<IIQQQQQQ")           # Elf64_Phdr, 56 bytes
SHDR = struct.Struct("<IIQQQQIIQQ")         # Elf64_Shdr, 64 bytes
SYM = struct.Struct("<IBBHQQ")              # Elf64_Sym, 24 bytes
RELA = struct.Struct("<QQq")                # Elf64_Rela, 24 bytes
DYN = struct.Struct("<qQ")                  # Elf64_Dyn, 16 bytes
NHDR = struct.Struct("<III")                # Elf64_Nhdr: n_namesz, n_descsz, n_type

USER_SPACE_END = 1 << 47                    # x86-64, 4-level paging

# Names for e_machine and e_type values a user is likely to meet, for messages.
_MACHINES = {
    2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390",
    40: "arm", 43: "sparcv9", 50: "ia64", 183: "aarch64", 243: "riscv",
    258: "loongarch",
}
_TYPES = {0: "an ELF of type ET_NONE", ET_REL: "a relocatable object (.o)",
          ET_CORE: "a core dump"}

DynEntry = namedtuple("DynEntry", "d_tag d_val")


class Segment(namedtuple("Segment", "index p_type p_flags p_offset p_vaddr p_paddr "
                                    "p_filesz p_memsz p_align")):
    """One Elf64_Phdr, and its index in the table."""

    __slots__ = ()

    def pack(self):
        return PHDR.pack(*self[1:])


class Section(namedtuple("Section", "index name sh_name sh_type sh_flags sh_addr sh_offset "
                                    "sh_size sh_link sh_info sh_addralign sh_entsize")):
    """One Elf64_Shdr, its index and its name."""

    __slots__ = ()

    @property
    def is_exec(self):
        return bool(self.sh_flags & SHF_EXECINSTR) and bool(self.sh_flags & SHF_ALLOC)

    def pack(self, **change):
        return SHDR.pack(*self._replace(**change)[2:])


def _align_up(n, align):
    return -(-n // align) * align


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


class ElfFile:
    """An ELF64 x86-64 executable or shared object.

    ``ElfFile.open(path)`` (close it with :meth:`close` or a ``with`` block),
    or ``ElfFile(data, path)`` over bytes in memory.
    """

    def __init__(self, data, path="<bytes>"):
        """Read *data* (bytes, or a read-only mmap), named *path* in messages."""
        self.data = data
        self.path = path
        self.size = len(data)
        # (st_dev, st_ino) of an opened file: how ld.so tells one object
        # loaded under two names.
        self.file_id = None
        self._mapping = None
        self._sections = None
        self._shstrndx = 0
        self._dynamic = None
        self._strtab = None
        self._read_header()
        self.segments = self._read_segments()
        self.loads = [s for s in self.segments if s.p_type == PT_LOAD]

    @classmethod
    def open(cls, path, file_error=ProgramNotFound):
        """Map and read the ELF file at *path*.

        A path that cannot be opened, or is no regular file, raises
        *file_error*: ProgramNotFound suits a program to run; the rewriter,
        whose input is just a bad argument then, passes UnsupportedElf.
        """
        path = os.fspath(path)
        return cls.from_fd(open_regular(path, file_error), path, file_error)

    @classmethod
    def from_fd(cls, fd, path, file_error=ProgramNotFound):
        """Read the file of *path* open on *fd*, which this closes (a mapping
        outlives its descriptor).  *file_error* as for :meth:`open`."""
        try:
            st = _regular_stat(fd, path, file_error)
            data = _contents(fd, st.st_size, path, file_error)
        finally:
            os.close(fd)
        mapping = data if isinstance(data, mmap.mmap) else None
        try:
            elf = cls(data, path)
        except BaseException:
            if mapping is not None:
                mapping.close()
            raise
        elf.file_id = (st.st_dev, st.st_ino)
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

    def _read_segments(self):
        if self.e_phnum == 0:
            raise self._corrupt("no program headers")
        if self.e_phentsize != PHDR.size:
            raise self._corrupt(f"e_phentsize is {self.e_phentsize}, not {PHDR.size}")
        table = self.bytes_at(self.e_phoff, self.e_phnum * PHDR.size, "program header table")
        segs = [Segment(i, *fields) for i, fields in enumerate(PHDR.iter_unpack(table))]
        for s in segs:
            # A loadable segment past the end of the file means a truncated
            # copy: the kernel would map it and the program die of SIGBUS.
            if s.p_type == PT_LOAD:
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

    # -- sections (the rewriter's) -----------------------------------------

    @property
    def sections(self):
        """The section headers, as Section tuples; [] if the file has none."""
        return self._section_table()

    @property
    def shstrndx(self):
        """The index of the section-name table (extended numbering resolved)."""
        self._section_table()
        return self._shstrndx

    def _section_table(self):
        if self._sections is None:
            self._sections = self._read_sections()
        return self._sections

    def _read_sections(self):
        if self.e_shoff == 0:
            return []
        if self.e_shentsize != SHDR.size:
            raise self._corrupt(f"e_shentsize is {self.e_shentsize}, not {SHDR.size}")
        first = SHDR.unpack(self.bytes_at(self.e_shoff, SHDR.size, "section header 0"))
        # Extended numbering (gABI): section 0 holds what does not fit in the ELF header.
        shnum = self.e_shnum or first[5]                    # its sh_size
        shstrndx = first[7] if self.e_shstrndx == SHN_XINDEX else self.e_shstrndx  # its sh_link
        raw = self.bytes_at(self.e_shoff, shnum * SHDR.size, "section headers")
        hdrs = list(SHDR.iter_unpack(raw))
        names = b""
        if 0 < shstrndx < shnum:
            h = hdrs[shstrndx]
            names = self.bytes_at(h[4], h[5], "section name table")
        out = []
        for i, h in enumerate(hdrs):
            name = ""
            if h[0] < len(names):
                end = names.find(b"\0", h[0])
                name = names[h[0]:end if end >= 0 else len(names)].decode("latin-1")
            sec = Section(i, name, *h)
            if sec.sh_type not in (SHT_NOBITS, SHT_NULL):
                self._check(sec.sh_offset, sec.sh_size, f"section {name or i}")
            out.append(sec)
        self._shstrndx = shstrndx
        return out

    def section(self, name):
        """The first section called *name*, or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, sec):
        if sec.sh_type == SHT_NOBITS:
            return b""
        return self.bytes_at(sec.sh_offset, sec.sh_size, f"section {sec.name}")

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

    def code_ranges(self):
        """(name, vaddr, bytes) of every executable region.

        The executable sections when there are section headers, else the
        executable PT_LOAD segments (a section-stripped object)."""
        if self.sections:
            out = []
            for s in self.sections:
                if s.is_exec and s.sh_type != SHT_NOBITS and s.sh_size:
                    if self.vaddr_to_offset(s.sh_addr, s.sh_size) != s.sh_offset:
                        raise self._corrupt(f"section {s.name} is not where its PT_LOAD maps it")
                    out.append((s.name, s.sh_addr, self.section_bytes(s)))
            return out
        return [(f"PT_LOAD[{s.index}]", s.p_vaddr, self.bytes_at(s.p_offset, s.p_filesz, "segment"))
                for s in self.loads if s.p_flags & PF_X and s.p_filesz]

    def data_ranges(self):
        """(name, vaddr, bytes, writable) of every allocated, non-executable region with file data."""
        if self.sections:
            return [(s.name, s.sh_addr, self.section_bytes(s), bool(s.sh_flags & SHF_WRITE))
                    for s in self.sections
                    if s.sh_flags & SHF_ALLOC and not s.sh_flags & SHF_EXECINSTR
                    and s.sh_type != SHT_NOBITS and s.sh_size]
        return [(f"PT_LOAD[{s.index}]", s.p_vaddr, self.bytes_at(s.p_offset, s.p_filesz, "segment"),
                 bool(s.p_flags & PF_W))
                for s in self.loads if not s.p_flags & PF_X and s.p_filesz]

    # -- what the kernel and ld.so read ------------------------------------

    def interp(self):
        """The ``PT_INTERP`` path (the program interpreter), or None."""
        for s in self.segments:
            if s.p_type == PT_INTERP:
                raw = self.bytes_at(s.p_offset, s.p_filesz, "PT_INTERP").split(b"\0", 1)[0]
                if not raw:
                    raise self._corrupt("empty PT_INTERP")
                return os.fsdecode(raw)
        return None

    @property
    def is_static(self):
        """True if the kernel runs this file without a program interpreter."""
        return not any(s.p_type == PT_INTERP for s in self.segments)

    @property
    def is_pie(self):
        """True for a position-independent executable (including static-pie).

        ``DF_1_PIE`` is how binutils >= 2.26 marks one; older linkers left
        only the heuristic file(1) uses: ET_DYN with PT_INTERP and no soname.
        """
        if self.e_type != ET_DYN:
            return False
        if self.flags_1() & DF_1_PIE:
            return True
        return not self.is_static and self.soname() is None

    def dynamic(self):
        """The dynamic section's entries up to ``DT_NULL``, as DynEntry tuples."""
        if self._dynamic is None:
            entries = []
            # ld.so uses the last PT_DYNAMIC (glibc _dl_map_object_from_fd).
            segs = [s for s in self.segments if s.p_type == PT_DYNAMIC]
            if segs:
                s = segs[-1]
                raw = self.bytes_at(s.p_offset, s.p_filesz - s.p_filesz % DYN.size, "PT_DYNAMIC")
                for tag, val in DYN.iter_unpack(raw):
                    if tag == DT_NULL:
                        break
                    entries.append(DynEntry(tag, val))
            self._dynamic = entries
        return self._dynamic

    def dyn_value(self, tag):
        """The value of the last entry with *tag*, as ld.so keeps it, or None."""
        val = None
        for entry in self.dynamic():
            if entry.d_tag == tag:
                val = entry.d_val
        return val

    def _dynstr(self, offset):
        """The NUL-terminated string at *offset* in the ``DT_STRTAB`` table."""
        if self._strtab is None:
            addr = self.dyn_value(DT_STRTAB)
            if addr is None:
                raise self._corrupt("dynamic section without DT_STRTAB")
            seg = self._load_at(addr)
            if seg is None:
                raise self._corrupt("DT_STRTAB is not in any PT_LOAD segment")
            size = self.dyn_value(DT_STRSZ)
            if size is None:                # optional in practice: up to the segment's end
                size = seg.p_vaddr + seg.p_filesz - addr
            self._strtab = self.bytes_at(addr - seg.p_vaddr + seg.p_offset, size, "DT_STRTAB")
        end = self._strtab.find(b"\0", offset)
        if offset >= len(self._strtab) or end < 0:
            raise self._corrupt(f"string offset {offset:#x} outside DT_STRTAB")
        return os.fsdecode(self._strtab[offset:end])

    def needed(self):
        """``DT_NEEDED`` names, in the order of the dynamic section."""
        return [self._dynstr(e.d_val) for e in self.dynamic() if e.d_tag == DT_NEEDED]

    def _path_list(self, tag):
        val = self.dyn_value(tag)
        return None if val is None else self._dynstr(val).split(":")

    def rpath(self):
        """``DT_RPATH`` split on ':' (as written, ``$ORIGIN`` unexpanded), or None."""
        return self._path_list(DT_RPATH)

    def runpath(self):
        """``DT_RUNPATH`` split on ':' (as written), or None."""
        return self._path_list(DT_RUNPATH)

    def soname(self):
        """``DT_SONAME``, or None."""
        val = self.dyn_value(DT_SONAME)
        return None if val is None else self._dynstr(val)

    def flags_1(self):
        """``DT_FLAGS_1`` (``DF_1_*`` bits), 0 if absent."""
        return self.dyn_value(DT_FLAGS_1) or 0

    # -- notes -------------------------------------------------------------

    def _notes(self):
        """``(n_type, name, desc)`` of every note in the PT_NOTE segments."""
        for s in self.segments:
            if s.p_type != PT_NOTE:
                continue
            data = self.bytes_at(s.p_offset, s.p_filesz, "PT_NOTE")
            # gABI: notes are 4-byte aligned; GNU property notes use 8 and
            # say so in p_align (binutils readelf does the same).
            align = 8 if s.p_align == 8 else 4
            pos = 0
            while pos + NHDR.size <= len(data):
                namesz, descsz, n_type = NHDR.unpack_from(data, pos)
                name_at = pos + NHDR.size
                desc_at = pos + _align_up(NHDR.size + namesz, align)
                end = desc_at + descsz
                if end > len(data):
                    # A malformed note ends the walk, not the run: ld.so
                    # ignores notes, and a file without a build-id is cached
                    # by its digest instead.
                    break
                yield n_type, data[name_at:name_at + namesz].rstrip(b"\0"), data[desc_at:end]
                pos += _align_up(end - pos, align)

    def build_id(self):
        """The GNU build-id (``NT_GNU_BUILD_ID``) as bytes, or None."""
        for n_type, name, desc in self._notes():
            if n_type == NT_GNU_BUILD_ID and name == b"GNU" and desc:
                return desc
        return None

    # -- symbols and relocations (the rewriter's) ---------------------------

    def symbols(self):
        """(st_value, st_size, st_info, name) of every defined symbol in .symtab and .dynsym."""
        out = []
        for sec in self.sections:
            if sec.sh_type not in (SHT_SYMTAB, SHT_DYNSYM) or sec.sh_entsize != SYM.size:
                continue
            raw = self.section_bytes(sec)
            strs = b""
            if 0 < sec.sh_link < len(self.sections):
                strs = self.section_bytes(self.sections[sec.sh_link])
            for i in range(1, len(raw) // SYM.size):
                st_name, st_info, _, st_shndx, st_value, st_size = SYM.unpack_from(raw, i * SYM.size)
                if st_shndx == SHN_UNDEF or (st_info & 0xF) in (STT_FILE, STT_TLS):
                    continue
                end = strs.find(b"\0", st_name)
                name = strs[st_name:end].decode("latin-1") if 0 <= st_name < len(strs) else ""
                out.append((st_value, st_size, st_info, name))
        if not any(s.sh_type == SHT_DYNSYM for s in self.sections):
            out.extend(self._dynsym_from_dynamic())
        return out

    def _dynsym_from_dynamic(self):
        # A section-stripped object: walk DT_SYMTAB up to DT_STRTAB (the usual layout).
        symtab, strtab = self.dyn_value(DT_SYMTAB), self.dyn_value(DT_STRTAB)
        if symtab is None or strtab is None or strtab <= symtab:
            return []
        off = self.vaddr_to_offset(symtab, strtab - symtab)
        if off is None:
            return []
        out = []
        for i in range(1, (strtab - symtab) // SYM.size):
            _, st_info, _, st_shndx, st_value, st_size = SYM.unpack_from(self.data, off + i * SYM.size)
            if st_shndx != SHN_UNDEF:
                out.append((st_value, st_size, st_info, ""))
        return out

    def _dynsym_values(self):
        sec = next((s for s in self.sections if s.sh_type == SHT_DYNSYM), None)
        if sec is None:
            return []
        raw = self.section_bytes(sec)
        vals = []
        for i in range(len(raw) // SYM.size):
            _, _, _, shndx, value, _ = SYM.unpack_from(raw, i * SYM.size)
            vals.append(None if shndx == SHN_UNDEF else value)
        return vals

    def dynamic_symbols(self):
        """(name, defined, st_info) of every .dynsym entry, index 0 included
        (relocations name symbols by index)."""
        sec = next((s for s in self.sections if s.sh_type == SHT_DYNSYM), None)
        if sec is None or sec.sh_entsize != SYM.size:
            return []
        raw = self.section_bytes(sec)
        strs = b""
        if 0 < sec.sh_link < len(self.sections):
            strs = self.section_bytes(self.sections[sec.sh_link])
        out = []
        for i in range(len(raw) // SYM.size):
            st_name, st_info, _, shndx, _, _ = SYM.unpack_from(raw, i * SYM.size)
            end = strs.find(b"\0", st_name)
            name = strs[st_name:end].decode("latin-1") if 0 <= st_name < len(strs) else ""
            out.append((name, shndx != SHN_UNDEF, st_info))
        return out

    def imports(self):
        """Names of the functions (and untyped symbols) this object needs from others."""
        return sorted({n for n, defined, info in self.dynamic_symbols()
                       if n and not defined and (info & 0xF) in (0, 2, 10)})

    def named_relocations(self):
        """(r_offset, r_type, symbol name, symbol defined here) of every
        dynamic relocation that names a symbol."""
        syms = self.dynamic_symbols()
        out = []
        for off, size in self._rela_tables():
            raw = self.bytes_at(off, size, "relocation table")
            for r_offset, r_info, _ in RELA.iter_unpack(raw[:size - size % RELA.size]):
                sym = r_info >> 32
                if 0 < sym < len(syms):
                    out.append((r_offset, r_info & 0xFFFFFFFF, syms[sym][0], syms[sym][1]))
        return out

    def _dyn_table(self, addr_tag, size_tag, what):
        """(file offset, size) of the table a pair of dynamic tags describes, or None."""
        addr, size = self.dyn_value(addr_tag), self.dyn_value(size_tag)
        if addr is None or not size:
            return None
        off = self.vaddr_to_offset(addr, size)
        if off is None:
            raise self._corrupt(f"{what} outside the loaded segments")
        return off, size

    def _rela_tables(self):
        """(file offset, size) of every Elf64_Rela table, from sections and from _DYNAMIC."""
        tables = {(s.sh_offset, s.sh_size) for s in self.sections
                  if s.sh_type == SHT_RELA and s.sh_flags & SHF_ALLOC}
        for addr_tag, size_tag in ((DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)):
            table = self._dyn_table(addr_tag, size_tag, "relocation table")
            if table:
                tables.add(table)
        return sorted(tables)

    def relocations(self):
        """(r_offset, r_type, value) of every dynamic relocation.

        ``value`` is the address the relocation stores when it can be told
        statically: the addend of RELATIVE/IRELATIVE, S+A of 64/GLOB_DAT/
        JUMP_SLOT with a defined symbol, the implicit addend of a RELR entry."""
        dynsym = self._dynsym_values()
        out = []
        for off, size in self._rela_tables():
            raw = self.bytes_at(off, size, "relocation table")
            for r_offset, r_info, r_addend in RELA.iter_unpack(raw[:size - size % RELA.size]):
                rtype, sym = r_info & 0xFFFFFFFF, r_info >> 32
                value = None
                if rtype in (R_X86_64_RELATIVE, R_X86_64_IRELATIVE):
                    value = r_addend
                elif rtype in (R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT):
                    if sym < len(dynsym) and dynsym[sym] is not None:
                        value = dynsym[sym] + r_addend
                out.append((r_offset, rtype, value))
        for r_offset in self.relr_offsets():
            stored = self.read(r_offset, 8)
            out.append((r_offset, R_X86_64_RELATIVE,
                        struct.unpack("<Q", stored)[0] if stored else None))
        return out

    def relr_offsets(self):
        """The addresses a DT_RELR table relocates (gABI proposal, glibc 2.36)."""
        tables = {(s.sh_offset, s.sh_size) for s in self.sections if s.sh_type == SHT_RELR}
        table = self._dyn_table(DT_RELR, DT_RELRSZ, "DT_RELR table")
        if table:
            tables.add(table)
        out = []
        for off, size in sorted(tables):
            raw = self.bytes_at(off, size, "RELR table")
            where = 0
            for (entry,) in struct.iter_unpack("<Q", raw[:size - size % 8]):
                if entry & 1 == 0:
                    out.append(entry)
                    where = entry + 8
                else:
                    bits, i = entry >> 1, 0
                    while bits:
                        if bits & 1:
                            out.append(where + 8 * i)
                        bits >>= 1
                        i += 1
                    where += 63 * 8
        return sorted(set(out))
