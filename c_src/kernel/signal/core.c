/*
 * Core files (--core DIR): a fatal signal writes an ELF core file of the
 * guest process to bootinfo.core_fd, as Linux's binfmt_elf would for the
 * crashing thread, so `gdb PROGRAM CORE` shows the program's frames:
 *
 *   ELF header (ET_CORE), a PT_NOTE with NT_PRSTATUS (the thread's
 *   registers at the fault), NT_PRPSINFO and NT_AUXV (the auxiliary
 *   vector the kernel built for the program: gdb finds the program's load
 *   address and, through r_debug in the dumped memory, its libraries), then
 *   a PT_LOAD for every readable mapping with its contents.
 *
 * Differs from Linux in: only the crashing thread's registers are written;
 * every readable mapping is dumped whole (no coredump_filter).  The first
 * process of the guest to crash writes the file; the others leave it.
 */
#include "signal/signal.h"
#include <asm/prctl.h>
#include <linux/elf.h>

#define NT_PRSTATUS 1
#define NT_PRPSINFO 3
#define NT_AUXV 6
#define CHUNK 65536

static char buf[CHUNK];

static void put(int fd, const void *data, unsigned long n, unsigned long *off)
{
    hsys4(__NR_pwrite64, fd, (long)data, n, *off);
    *off += n;
}

/* One ELF note: header, name "CORE" padded to 4, descriptor padded to 4. */
static void note(int fd, unsigned type, const void *desc, unsigned size, unsigned long *off)
{
    unsigned hdr[3] = {5, size, type};
    static const char name[8] = "CORE";
    static const char zeros[4];
    put(fd, hdr, sizeof hdr, off);
    put(fd, name, 8, off);
    put(fd, desc, size, off);
    put(fd, zeros, (4 - size % 4) % 4, off);
}

static unsigned note_size(unsigned size)
{
    return 12 + 8 + ((size + 3) & ~3u);
}

struct prstatus {                   /* struct elf_prstatus, x86-64 */
    int si_signo, si_code, si_errno;
    short cursig;
    short pad0;
    unsigned long sigpend, sighold;
    int pid, ppid, pgrp, sid;
    unsigned long times[8];
    unsigned long reg[27];          /* struct user_regs_struct */
    int fpvalid;
    int pad1;
};

struct prpsinfo {                   /* struct elf_prpsinfo, x86-64 */
    char state, sname, zomb, nice;
    int pad0;
    unsigned long flag;
    unsigned uid, gid;
    int pid, ppid, pgrp, sid;
    char fname[16];
    char psargs[80];
};

void core_write(int sig, const siginfo_t *si, const struct sigcontext *m, int mem)
{
    int fd = K.core_fd;
    struct { unsigned long st[6]; long size; unsigned long rest[11]; } st;
    if (fd < 0 || hsys2(__NR_fstat, fd, (long)&st) < 0 || st.size != 0)
        return;                     /* none asked for, or another process wrote it */
    const struct crash_map *maps;
    int n = crash_maps(&maps);
    struct prstatus pr = {0};
    pr.si_signo = pr.cursig = sig;
    pr.si_code = si->si_code;
    pr.pid = pr.pgrp = pr.sid = (int)hsys0(__NR_gettid);
    unsigned long fs = 0;
    hsys2(__NR_arch_prctl, ARCH_GET_FS, (long)&fs);
    unsigned long regs[27] = {m->r15, m->r14, m->r13, m->r12, m->rbp, m->rbx, m->r11, m->r10,
                              m->r9, m->r8, m->rax, m->rcx, m->rdx, m->rsi, m->rdi, -1UL, m->rip,
                              0x33, m->eflags, m->rsp, 0x2b, fs, 0, 0, 0, 0, 0};
    memcpy(pr.reg, regs, sizeof regs);
    struct prpsinfo ps = {0};
    ps.state = 0;
    ps.sname = 'R';
    ps.pid = pr.pid;
    const char *exe = ls_prog->exe, *base = exe;
    for (const char *c = exe; *c; c++)
        if (*c == '/')
            base = c + 1;
    for (int i = 0; i < 15 && base[i]; i++)
        ps.fname[i] = base[i];
    for (int i = 0; i < 79 && exe[i]; i++)
        ps.psargs[i] = exe[i];

    unsigned notes = note_size(sizeof pr) + note_size(sizeof ps) +
                     note_size((unsigned)ls_prog_auxv[1]);
    unsigned long off = 0, data = (64 + 56UL * (n + 1) + notes + 4095) & ~4095UL;
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, "\177ELF\2\1\1", 7);
    eh.e_type = 4;                  /* ET_CORE */
    eh.e_machine = 62;              /* EM_X86_64 */
    eh.e_version = 1;
    eh.e_phoff = 64;
    eh.e_ehsize = 64;
    eh.e_phentsize = 56;
    eh.e_phnum = n + 1;
    put(fd, &eh, sizeof eh, &off);
    Elf64_Phdr ph = {0};
    ph.p_type = PT_NOTE;
    ph.p_offset = 64 + 56UL * (n + 1);
    ph.p_filesz = notes;
    put(fd, &ph, sizeof ph, &off);
    unsigned long at = data;
    for (int i = 0; i < n; i++) {
        Elf64_Phdr l = {0};
        l.p_type = PT_LOAD;
        l.p_flags = maps[i].flags;
        l.p_offset = at;
        l.p_vaddr = maps[i].start;
        l.p_filesz = l.p_memsz = maps[i].end - maps[i].start;
        l.p_align = 4096;
        put(fd, &l, sizeof l, &off);
        at += l.p_filesz;
    }
    note(fd, NT_PRSTATUS, &pr, sizeof pr, &off);
    note(fd, NT_PRPSINFO, &ps, sizeof ps, &off);
    note(fd, NT_AUXV, (const void *)ls_prog_auxv[0], (unsigned)ls_prog_auxv[1], &off);
    /* The memory, read through the host (a page it cannot read is zeros). */
    at = data;
    for (int i = 0; i < n; i++) {
        for (unsigned long a = maps[i].start; a < maps[i].end; a += CHUNK) {
            unsigned long len = maps[i].end - a < CHUNK ? maps[i].end - a : CHUNK;
            if (!crash_mem_read(mem, a, buf, len))
                memset(buf, 0, len);
            hsys4(__NR_pwrite64, fd, (long)buf, len, at + (a - maps[i].start));
        }
        at += maps[i].end - maps[i].start;
    }
}
