"""The section headers and the regions they name: the rewriter's and the
analyser's view of an ELF file (ld.so never reads section headers, so the run
path never parses them).  A part of :class:`libsubst.elf.ElfFile`."""

import re
import struct

from .abi import ET_EXEC, PF_W, PF_X, SHDR, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_XINDEX, \
    SHT_NOBITS, SHT_NULL, Section


class Sections:
    """Section headers, parsed on first use, and the code and data ranges.
    Uses ElfFile's bounds-checked access and its PT_LOAD table."""

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

    def code_ranges(self):
        """(name, vaddr, bytes) of every executable region.

        The executable sections when there are section headers, else the
        executable PT_LOAD segments (a section-stripped object)."""
        what = "section {}" if self.sections else "segment"
        return [(name, vaddr, self.bytes_at(off, size, what.format(name)))
                for name, vaddr, off, size in self.code_regions()]

    def code_regions(self):
        """(name, vaddr, file offset, size) of the regions of :meth:`code_ranges`."""
        if self.sections:
            out = []
            for s in self.sections:
                if s.is_exec and s.sh_type != SHT_NOBITS and s.sh_size:
                    if self.vaddr_to_offset(s.sh_addr, s.sh_size) != s.sh_offset:
                        raise self._corrupt(f"section {s.name} is not where its PT_LOAD maps it")
                    out.append((s.name, s.sh_addr, s.sh_offset, s.sh_size))
            return out
        return [(f"PT_LOAD[{s.index}]", s.p_vaddr, s.p_offset, s.p_filesz)
                for s in self.loads if s.p_flags & PF_X and s.p_filesz]

    def data_ranges(self):
        """(name, vaddr, bytes, writable) of every allocated, non-executable region with file data."""
        what = "section {}" if self.sections else "segment"
        return [(name, vaddr, self.bytes_at(off, size, what.format(name)), w)
                for name, vaddr, off, size, w in self.data_regions()]

    def data_regions(self):
        """(name, vaddr, file offset, size, writable) of the regions of
        :meth:`data_ranges`, for a reader that searches the file in place."""
        if self.sections:
            return [(s.name, s.sh_addr, s.sh_offset, s.sh_size, bool(s.sh_flags & SHF_WRITE))
                    for s in self.sections
                    if s.sh_flags & SHF_ALLOC and not s.sh_flags & SHF_EXECINSTR
                    and s.sh_type != SHT_NOBITS and s.sh_size]
        return [(f"PT_LOAD[{s.index}]", s.p_vaddr, s.p_offset, s.p_filesz, bool(s.p_flags & PF_W))
                for s in self.loads if not s.p_flags & PF_X and s.p_filesz]

    def _rodata_ranges(self):
        """(file offset, size) of the read-only data: .rodata; without
        section headers, the read-only PT_LOADs."""
        sec = self.section(".rodata")
        if sec is not None and sec.sh_type != SHT_NOBITS:
            self._check(sec.sh_offset, sec.sh_size, "section .rodata")
            return [(sec.sh_offset, sec.sh_size)]
        if self.sections:
            return []
        return [(s.p_offset, s.p_filesz) for s in self.loads
                if not s.p_flags & (PF_X | PF_W) and s.p_filesz]

    def rodata_contains(self, needle):
        """Whether *needle* is in the read-only data, read where it lies: a
        large library is neither copied nor read whole."""
        return any(self.data.find(needle, off, off + size) >= 0
                   for off, size in self._rodata_ranges())

    def rodata_ends(self, name):
        """(vaddr, start) of each NUL-terminated *name* in the read-only data:
        its address, and the byte before it (None at the region's start):
        a NUL when it is a whole string, "/" after a path's directory, any
        other when the linker merged it into the tail of a longer string."""
        out, needle = [], name + b"\0"
        for off, size, vaddr in self._rodata_regions():
            at = self.data.find(needle, off, off + size)
            while at >= 0:
                out.append((vaddr + at - off, self.data[at - 1] if at > off else None))
                at = self.data.find(needle, at + 1, off + size)
        return out

    def _rodata_regions(self):
        """(file offset, size, vaddr) of the read-only data (``_rodata_ranges``)."""
        sec = self.section(".rodata")
        if sec is not None and sec.sh_type != SHT_NOBITS:
            return [(off, size, sec.sh_addr) for off, size in self._rodata_ranges()]
        return [(s.p_offset, s.p_filesz, s.p_vaddr) for s in self.loads
                if not self.sections and not s.p_flags & (PF_X | PF_W) and s.p_filesz]

    # A rip-relative lea (REX.W 8d, modrm mod 00 rm 101): how x86-64 code
    # takes a string's address; the lookahead lets matches overlap.
    _RIP_LEA = re.compile(rb"(?=[\x48-\x4f]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d](.{4}))", re.S)

    def referenced(self, addrs):
        """Those of *addrs* the object takes the address of: a rip-relative
        lea in its code, a relocation that stores it, or (a non-PIE
        executable) the address itself as an immediate or a pointer."""
        want, found = set(addrs), set()
        if not want:
            return found
        for _, vaddr, code in self.code_ranges():
            for m in self._RIP_LEA.finditer(code):
                target = vaddr + m.start() + 7 + struct.unpack("<i", m.group(1))[0]
                if target in want:
                    found.add(target)
            if self.e_type == ET_EXEC:
                found |= {a for a in want if a < 1 << 32 and struct.pack("<I", a) in code}
        found |= want & {v for _, _, v in self.relocations()}
        if self.e_type == ET_EXEC:
            for _, _, data, _ in self.data_ranges():
                found |= {a for a in want if struct.pack("<Q", a) in data}
        return found

    def rodata_strings(self, needle):
        """The NUL-terminated strings of the read-only data that contain
        *needle*, in order: found by a search for it (a regular expression
        over libLLVM's 30 MB would take seconds)."""
        data, out = self.data, []
        for off, size in self._rodata_ranges():
            end = off + size
            at = data.find(needle, off, end)
            while at >= 0:
                start = data.rfind(b"\0", off, at) + 1 or off
                stop = data.find(b"\0", at, end)
                if stop < 0:
                    break           # not terminated: no string
                out.append(bytes(data[start:stop]))
                at = data.find(needle, stop, end)
        return out
