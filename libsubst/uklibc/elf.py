"""A small, strict reader of x86-64 ELF objects, for the rewriter (stdlib only).

It reads exactly what the substitute-libc rewriter needs — the ELF header, the
program headers (``PT_*``), the section headers (``SHT_*``), symbol values
(``.dynsym``/``.symtab``), ``_DYNAMIC``, the relocations (``Elf64_Rela`` and
``DT_RELR``) and the GNU build-id note — and checks every offset it follows,
so a truncated or corrupt file raises :class:`CorruptElf` instead of an
``IndexError``.  Field names follow the System V gABI and the x86-64 psABI.

Importing this module costs nothing beyond :mod:`struct`: the cache reads the
build-id through :func:`read_build_id` on every ``libsubst run``.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from ..errors import CorruptElf, NotAnElf, UnsupportedElf

# e_type
ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62
# p_type
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
PT_GNU_EH_FRAME = 0x6474E550
# p_flags
PF_X, PF_W, PF_R = 1, 2, 4
# sh_type
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_DYNSYM, SHT_RELR = 8, 11, 19
# sh_flags
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_LORESERVE, SHN_XINDEX = 0, 0xFF00, 0xFFFF
# d_tag
DT_NULL, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ = 0, 5, 6, 7, 8
DT_SONAME, DT_INIT, DT_FINI, DT_JMPREL, DT_PLTRELSZ = 14, 12, 13, 23, 2
DT_INIT_ARRAY, DT_FINI_ARRAY, DT_INIT_ARRAYSZ, DT_FINI_ARRAYSZ = 25, 26, 27, 28
DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ = 32, 33
DT_RELRSZ, DT_RELR = 35, 36
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


class Segment(namedtuple("Segment", "index p_type p_flags p_offset p_vaddr p_paddr "
                                    "p_filesz p_memsz p_align")):
    """One Elf64_Phdr, and its index in the table."""

    __slots__ = ()

    def pack(self) -> bytes:
        return PHDR.pack(*self[1:])


class Section(namedtuple("Section", "index name sh_name sh_type sh_flags sh_addr sh_offset "
                                    "sh_size sh_link sh_info sh_addralign sh_entsize")):
    """One Elf64_Shdr, its index and its name."""

    __slots__ = ()

    @property
    def is_exec(self) -> bool:
        return bool(self.sh_flags & SHF_EXECINSTR) and bool(self.sh_flags & SHF_ALLOC)

    def pack(self, **change) -> bytes:
        return SHDR.pack(*self._replace(**change)[2:])


def _check_ident(ident: bytes, path: str) -> None:
    if len(ident) < 4 or ident[:4] != b"\x7fELF":
        raise NotAnElf(f"{path} is not an ELF object")
    if len(ident) < 16:
        raise CorruptElf(f"{path}: truncated ELF header")
    if ident[4] != 2:
        raise UnsupportedElf(f"{path} is a 32-bit ELF object; only x86-64 (ELFCLASS64) is supported")
    if ident[5] != 1:
        raise UnsupportedElf(f"{path} is a big-endian ELF object; only x86-64 is supported")


class ElfFile:
    """One ELF object held in memory, parsed eagerly for headers, lazily for the rest."""

    def __init__(self, data: bytes, path: str = "<bytes>"):
        self.data = data
        self.path = path
        _check_ident(data[:16], path)
        if len(data) < EHDR.size:
            raise CorruptElf(f"{path}: truncated ELF header")
        (_, self.e_type, self.e_machine, _, self.e_entry, self.e_phoff, self.e_shoff,
         self.e_flags, self.e_ehsize, self.e_phentsize, self.e_phnum, self.e_shentsize,
         self.e_shnum, self.e_shstrndx) = EHDR.unpack_from(data, 0)
        if self.e_machine != EM_X86_64:
            raise UnsupportedElf(f"{path}: machine {self.e_machine} is not x86-64")
        if self.e_type not in (ET_EXEC, ET_DYN):
            raise UnsupportedElf(f"{path}: ELF type {self.e_type} is not an executable or "
                                 "shared object (relocatable objects are not rewritten)")
        self.segments = self._read_segments()
        self.sections = self._read_sections()
        self._dynamic = None

    @classmethod
    def open(cls, path: str) -> "ElfFile":
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise UnsupportedElf(f"{path}: no such file") from None
        except IsADirectoryError:
            raise UnsupportedElf(f"{path} is a directory, not an ELF object") from None
        except PermissionError:
            raise UnsupportedElf(f"{path}: permission denied") from None
        except OSError as e:
            raise UnsupportedElf(f"{path}: {e.strerror or e}") from None
        return cls(data, path)

    # -- bounds-checked access ---------------------------------------------

    def _corrupt(self, what: str) -> CorruptElf:
        return CorruptElf(f"{self.path}: truncated or corrupt ELF ({what})")

    def bytes_at(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at file ``offset``, or CorruptElf naming ``what``."""
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise self._corrupt(f"{what} at file offset {offset:#x}+{size:#x} lies outside "
                                f"the {len(self.data):#x}-byte file")
        return self.data[offset:offset + size]

    # -- headers -----------------------------------------------------------

    def _read_segments(self) -> list[Segment]:
        if self.e_phnum == 0:
            return []
        if self.e_phentsize != PHDR.size:
            raise self._corrupt(f"e_phentsize {self.e_phentsize}")
        raw = self.bytes_at(self.e_phoff, self.e_phnum * PHDR.size, "program headers")
        segs = [Segment(i, *PHDR.unpack_from(raw, i * PHDR.size)) for i in range(self.e_phnum)]
        for s in segs:
            if s.p_type == PT_LOAD:
                if s.p_filesz > s.p_memsz:
                    raise self._corrupt(f"PT_LOAD {s.index} has p_filesz > p_memsz")
                if s.p_offset + s.p_filesz > len(self.data):
                    raise self._corrupt(f"PT_LOAD {s.index} extends past the end of the file")
                if s.p_vaddr + s.p_memsz >= 1 << 47:
                    raise self._corrupt(f"PT_LOAD {s.index} lies outside user space")
        loads = [s for s in segs if s.p_type == PT_LOAD]
        for a, b in zip(loads, loads[1:]):
            if b.p_vaddr < a.p_vaddr + a.p_memsz:
                raise self._corrupt("PT_LOAD segments overlap or are not sorted by address")
        return segs

    def _read_sections(self) -> list[Section]:
        if self.e_shoff == 0:
            return []
        if self.e_shentsize != SHDR.size:
            raise self._corrupt(f"e_shentsize {self.e_shentsize}")
        first = SHDR.unpack_from(self.bytes_at(self.e_shoff, SHDR.size, "section header 0"))
        shnum = self.e_shnum or first[5]          # extended numbering: sh_size of entry 0
        shstrndx = self.e_shstrndx
        if shstrndx == SHN_XINDEX:
            shstrndx = first[7]                   # sh_link of entry 0
        raw = self.bytes_at(self.e_shoff, shnum * SHDR.size, "section headers")
        hdrs = [SHDR.unpack_from(raw, i * SHDR.size) for i in range(shnum)]
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
            if sec.sh_type != SHT_NOBITS and sec.sh_type != SHT_NULL:
                self.bytes_at(sec.sh_offset, sec.sh_size, f"section {name or i}")
            out.append(sec)
        self.shstrndx = shstrndx
        return out

    # -- addresses ---------------------------------------------------------

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.p_type == PT_LOAD]

    def vaddr_to_offset(self, vaddr: int, size: int = 1) -> int | None:
        """The file offset of ``size`` bytes at ``vaddr``, if a PT_LOAD maps them from the file."""
        for s in self.loads:
            if s.p_vaddr <= vaddr and vaddr + size <= s.p_vaddr + s.p_filesz:
                return s.p_offset + (vaddr - s.p_vaddr)
        return None

    def read(self, vaddr: int, size: int) -> bytes | None:
        off = self.vaddr_to_offset(vaddr, size)
        return None if off is None else self.data[off:off + size]

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, sec: Section) -> bytes:
        if sec.sh_type == SHT_NOBITS:
            return b""
        return self.bytes_at(sec.sh_offset, sec.sh_size, f"section {sec.name}")

    def code_ranges(self) -> list[tuple[str, int, bytes]]:
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

    def data_ranges(self) -> list[tuple[str, int, bytes, bool]]:
        """(name, vaddr, bytes, writable) of every allocated, non-executable region with file data."""
        if self.sections:
            return [(s.name, s.sh_addr, self.section_bytes(s), bool(s.sh_flags & SHF_WRITE))
                    for s in self.sections
                    if s.sh_flags & SHF_ALLOC and not s.sh_flags & SHF_EXECINSTR
                    and s.sh_type != SHT_NOBITS and s.sh_size]
        return [(f"PT_LOAD[{s.index}]", s.p_vaddr, self.bytes_at(s.p_offset, s.p_filesz, "segment"),
                 bool(s.p_flags & PF_W))
                for s in self.loads if not s.p_flags & PF_X and s.p_filesz]

    # -- dynamic section ---------------------------------------------------

    def dynamic(self) -> list[tuple[int, int]]:
        if self._dynamic is None:
            self._dynamic = []
            for s in self.segments:
                if s.p_type == PT_DYNAMIC:
                    raw = self.bytes_at(s.p_offset, s.p_filesz, "PT_DYNAMIC")
                    for i in range(len(raw) // DYN.size):
                        tag, val = DYN.unpack_from(raw, i * DYN.size)
                        if tag == DT_NULL:
                            break
                        self._dynamic.append((tag, val))
                    break
        return self._dynamic

    def dyn(self, tag: int) -> int | None:
        for t, v in self.dynamic():
            if t == tag:
                return v
        return None

    def soname(self) -> str | None:
        off, strtab = self.dyn(DT_SONAME), self.dyn(DT_STRTAB)
        if off is None or strtab is None:
            return None
        base = self.vaddr_to_offset(strtab)
        if base is None:
            return None
        end = self.data.find(b"\0", base + off)
        return self.data[base + off:end].decode("latin-1") if end > 0 else None

    def build_id(self) -> bytes | None:
        for s in self.segments:
            if s.p_type == PT_NOTE:
                found = _build_id_in_notes(self.bytes_at(s.p_offset, s.p_filesz, "PT_NOTE"))
                if found:
                    return found
        return None

    # -- symbols and relocations ------------------------------------------

    def symbols(self) -> list[tuple[int, int, int, str]]:
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
                if st_shndx == SHN_UNDEF or (st_info & 0xF) in (4, 6):   # STT_FILE, STT_TLS
                    continue
                end = strs.find(b"\0", st_name)
                name = strs[st_name:end].decode("latin-1") if 0 <= st_name < len(strs) else ""
                out.append((st_value, st_size, st_info, name))
        if not any(s.sh_type == SHT_DYNSYM for s in self.sections):
            out.extend(self._dynsym_from_dynamic())
        return out

    def _dynsym_from_dynamic(self) -> list[tuple[int, int, int, str]]:
        # A section-stripped object: walk DT_SYMTAB up to DT_STRTAB (the usual layout).
        symtab, strtab = self.dyn(DT_SYMTAB), self.dyn(DT_STRTAB)
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

    def _dynsym_values(self) -> list[int | None]:
        sec = next((s for s in self.sections if s.sh_type == SHT_DYNSYM), None)
        if sec is None:
            return []
        raw = self.section_bytes(sec)
        vals: list[int | None] = []
        for i in range(len(raw) // SYM.size):
            _, _, _, shndx, value, _ = SYM.unpack_from(raw, i * SYM.size)
            vals.append(None if shndx == SHN_UNDEF else value)
        return vals

    def _rela_tables(self) -> list[tuple[int, int]]:
        """(file offset, size) of every Elf64_Rela table, from sections and from _DYNAMIC."""
        tables = set()
        for s in self.sections:
            if s.sh_type == SHT_RELA and s.sh_flags & SHF_ALLOC:
                tables.add((s.sh_offset, s.sh_size))
        for addr_tag, size_tag in ((DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)):
            addr, size = self.dyn(addr_tag), self.dyn(size_tag)
            if addr is not None and size:
                off = self.vaddr_to_offset(addr, size)
                if off is None:
                    raise self._corrupt("relocation table outside the loaded segments")
                tables.add((off, size))
        return sorted(tables)

    def relocations(self) -> list[tuple[int, int, int | None]]:
        """(r_offset, r_type, value) of every dynamic relocation.

        ``value`` is the address the relocation stores when it can be told
        statically: the addend of RELATIVE/IRELATIVE, S+A of 64/GLOB_DAT/
        JUMP_SLOT with a defined symbol, the implicit addend of a RELR entry."""
        dynsym = self._dynsym_values()
        out = []
        for off, size in self._rela_tables():
            raw = self.bytes_at(off, size, "relocation table")
            for i in range(size // RELA.size):
                r_offset, r_info, r_addend = RELA.unpack_from(raw, i * RELA.size)
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

    def relr_offsets(self) -> list[int]:
        """The addresses a DT_RELR table relocates (gABI proposal, glibc 2.36)."""
        tables = set()
        for s in self.sections:
            if s.sh_type == SHT_RELR:
                tables.add((s.sh_offset, s.sh_size))
        addr, size = self.dyn(DT_RELR), self.dyn(DT_RELRSZ)
        if addr is not None and size:
            off = self.vaddr_to_offset(addr, size)
            if off is None:
                raise self._corrupt("DT_RELR table outside the loaded segments")
            tables.add((off, size))
        out: list[int] = []
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


def _build_id_in_notes(raw: bytes) -> bytes | None:
    pos = 0
    while pos + 12 <= len(raw):
        namesz, descsz, ntype = struct.unpack_from("<III", raw, pos)
        name_at = pos + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        nxt = desc_at + ((descsz + 3) & ~3)
        if nxt > len(raw) or nxt <= pos:
            return None
        if ntype == NT_GNU_BUILD_ID and raw[name_at:name_at + namesz] == b"GNU\0" and descsz:
            return raw[desc_at:desc_at + descsz]
        pos = nxt
    return None


def read_build_id(path: str) -> bytes | None:
    """The GNU build-id of the ELF object at ``path`` (its PT_NOTEs), reading only headers.

    Raises NotAnElf/UnsupportedElf for a file that is not a 64-bit ELF object."""
    try:
        return _read_build_id(path)
    except (ValueError, OverflowError) as e:     # offsets past any file
        raise CorruptElf(f"{path}: corrupt program headers ({e})") from None


def _read_build_id(path: str) -> bytes | None:
    with open(path, "rb") as f:
        head = f.read(EHDR.size)
        _check_ident(head[:16], path)
        if len(head) < EHDR.size:
            raise CorruptElf(f"{path}: truncated ELF header")
        fields = EHDR.unpack(head)
        phoff, phentsize, phnum = fields[5], fields[9], fields[10]
        if phnum == 0 or phentsize != PHDR.size:
            return None
        f.seek(phoff)
        raw = f.read(phnum * PHDR.size)
        if len(raw) != phnum * PHDR.size:
            raise CorruptElf(f"{path}: truncated program headers")
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz, _, _ = PHDR.unpack_from(raw, i * PHDR.size)
            if p_type == PT_NOTE and p_filesz <= 1 << 16:
                f.seek(p_offset)
                found = _build_id_in_notes(f.read(p_filesz))
                if found:
                    return found
    return None
