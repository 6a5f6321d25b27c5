"""The ELF64 x86-64 format's numbers and records: constants, the structs'
layouts and the tuples the reader (libsubst.elf) gives headers as, named as
elf(5), the System V gABI and the x86-64 psABI name them."""

import struct
from collections import namedtuple

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
