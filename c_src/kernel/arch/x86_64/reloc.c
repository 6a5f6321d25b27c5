/* Self-relocation of the kernel, a static PIE with no dynamic linker: apply
 * our own R_X86_64_RELATIVE relocations before any pointer in data is used.
 * Runs before anything else, so it touches only rip-relative symbols. */
#include <stdint.h>
#include <linux/elf.h>
#include "arch/x86_64/arch.h"

#define R_X86_64_RELATIVE 8  /* x86-64 psABI; not in the UAPI headers */

extern const Elf64_Dyn _DYNAMIC[] __attribute__((visibility("hidden")));
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

void ls_relocate_self(void)
{
    unsigned long base = (unsigned long)__ehdr_start;
    const Elf64_Rela *rela = 0;
    unsigned long relasz = 0;
    for (const Elf64_Dyn *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_RELA)
            rela = (const Elf64_Rela *)(base + d->d_un.d_ptr);
        else if (d->d_tag == DT_RELASZ)
            relasz = d->d_un.d_val;
    }
    for (unsigned long i = 0; rela && i < relasz / sizeof *rela; i++)
        if (ELF64_R_TYPE(rela[i].r_info) == R_X86_64_RELATIVE)
            *(unsigned long *)(base + rela[i].r_offset) = base + rela[i].r_addend;
}
