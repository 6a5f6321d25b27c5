"""The section headers and the regions they name: the rewriter's and the
analyser's view of an ELF file (ld.so never reads section headers, so the run
path never parses them).  A part of :class:`libsubst.elf.ElfFile`."""

from .abi import PF_W, PF_X, SHDR, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_XINDEX, SHT_NOBITS, \
    SHT_NULL, Section


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

    def rodata_contains(self, needle):
        """Whether *needle* is in the read-only data (.rodata; without section
        headers, the read-only PT_LOADs), read where it lies: a large
        library is neither copied nor read whole."""
        sec = self.section(".rodata")
        if sec is not None and sec.sh_type != SHT_NOBITS:
            self._check(sec.sh_offset, sec.sh_size, "section .rodata")
            ranges = [(sec.sh_offset, sec.sh_size)]
        elif self.sections:
            return False
        else:
            ranges = [(s.p_offset, s.p_filesz) for s in self.loads
                      if not s.p_flags & (PF_X | PF_W) and s.p_filesz]
        return any(self.data.find(needle, off, off + size) >= 0 for off, size in ranges)
