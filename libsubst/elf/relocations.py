"""Symbols and dynamic relocations: what the rewriter and the analyser
(analyze/) read of an object's links to others.  A part of
:class:`libsubst.elf.ElfFile`."""

import struct

from .abi import DT_JMPREL, DT_PLTRELSZ, DT_RELA, DT_RELASZ, DT_RELR, DT_RELRSZ, DT_STRTAB, \
    DT_SYMTAB, R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_IRELATIVE, R_X86_64_JUMP_SLOT, \
    R_X86_64_RELATIVE, RELA, SHF_ALLOC, SHN_UNDEF, SHT_DYNSYM, SHT_RELA, SHT_RELR, SHT_SYMTAB, \
    STT_FILE, STT_TLS, SYM


class Relocations:
    """.symtab/.dynsym symbols and every Elf64_Rela and RELR table.
    Uses ElfFile's sections, dynamic section and address mapping."""

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
        for raw in self.rela_raw():
            for r_offset, r_info, _ in RELA.iter_unpack(raw):
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

    def rela_raw(self):
        """The whole Elf64_Rela entries of every table, one bytes object a table."""
        return [self.bytes_at(off, size - size % RELA.size, "relocation table")
                for off, size in self._rela_tables()]

    def relocations(self):
        """(r_offset, r_type, value) of every dynamic relocation.

        ``value`` is the address the relocation stores when it can be told
        statically: the addend of RELATIVE/IRELATIVE, S+A of 64/GLOB_DAT/
        JUMP_SLOT with a defined symbol, the implicit addend of a RELR entry."""
        dynsym = self._dynsym_values()
        out = []
        for raw in self.rela_raw():
            for r_offset, r_info, r_addend in RELA.iter_unpack(raw):
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
