/*
 * The ELF loader: maps the program and its interpreter the way Linux's
 * binfmt_elf does, and builds the initial stack (argv, envp, auxv).
 * Differs from Linux in: no stack or mmap randomisation of its own (the
 * host's mmap placement applies), no brk randomisation.
 */
#include "proc/proc.h"
#include "proc/exec.h"
#include <linux/auxvec.h>

#define STACK_SIZE (8UL << 20)
#define STACK_GUARD (256 * LS_PAGE)  /* Linux's stack_guard_gap: an overflow faults */
#define PIE_BASE 0x555555554000UL    /* where Linux puts an ET_DYN program (ELF_ET_DYN_BASE) */
#define TASK_SIZE 0x7ffffffff000UL   /* the top of a 4-level x86-64 user address space */

struct loaded {
    unsigned long bias, entry, phdr, phnum, start, end;
    struct ktext text;
    char interp[LS_PATH_MAX];
};

static int is_err(long p)
{
    return p < 0 && p > -4096;
}

/* One PT_LOAD segment at bias, inside the span reserved for it: its file
 * pages, then its .bss (the file's last page zeroed past its end, anonymous
 * pages after it).  0 or -errno. */
static long map_segment(int fd, unsigned long base, unsigned long fsize, unsigned long bias,
                        const Elf64_Phdr *p)
{
    int prot = (p->p_flags & PF_R ? PROT_READ : 0) | (p->p_flags & PF_W ? PROT_WRITE : 0) |
               (p->p_flags & PF_X ? PROT_EXEC : 0);
    unsigned long start = bias + LS_PAGE_DOWN(p->p_vaddr);
    unsigned long skew = p->p_vaddr - LS_PAGE_DOWN(p->p_vaddr);
    unsigned long file_end = bias + p->p_vaddr + p->p_filesz;
    unsigned long mem_end = bias + p->p_vaddr + p->p_memsz;
    if (p->p_filesz) {
        long m = hsys6(__NR_mmap, start, LS_PAGE_UP(skew + p->p_filesz), prot,
                       MAP_PRIVATE | MAP_FIXED, fd, base + p->p_offset - skew);
        if (is_err(m))
            return m;
    }
    if (mem_end <= file_end)
        return 0;
    unsigned long page_end = LS_PAGE_UP(file_end);
    if (p->p_filesz && (prot & PROT_WRITE) && page_end > file_end) {
        /* A page past the end of the file would fault (SIGBUS):
         * Linux's padzero fails there with EFAULT. */
        if (LS_PAGE_DOWN(base + p->p_offset + p->p_filesz) >= fsize)
            return -EFAULT;
        memset((void *)file_end, 0, page_end - file_end);
    }
    if (!p->p_filesz)
        page_end = start;
    if (mem_end > page_end) {
        /* Linux's vm_brk_flags charges these pages to the commit limit
         * whatever their protection (a .bss past RAM and swap is ENOMEM):
         * mapped writable, so the host charges them too, then protected. */
        unsigned long len = LS_PAGE_UP(mem_end) - page_end;
        long m = hsys6(__NR_mmap, page_end, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (is_err(m))
            return m;
        if (!(prot & PROT_WRITE) && (m = hsys3(__NR_mprotect, page_end, len, prot)) < 0)
            return m;
    }
    return 0;
}

/* Where the loaded program's headers are (AT_PHDR): PT_PHDR's address, or
 * the PT_LOAD that holds e_phoff. */
static unsigned long find_phdr(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, unsigned long bias)
{
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_PHDR)
            return bias + ph[i].p_vaddr;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset <= eh->e_phoff &&
            eh->e_phoff < ph[i].p_offset + ph[i].p_filesz)
            return bias + ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset);
    return 0;
}

/* The PT_LOADs as load_elf_binary and load_elf_interp take them, past the
 * point of no return (so any failure is SIGSEGV, whatever the errno): each
 * segment inside the address space with p_filesz <= p_memsz (EINVAL), and
 * where it maps file pages, p_offset and p_vaddr congruent modulo the page
 * (mmap's EINVAL); and their span, [*lo, *hi) page-rounded, not empty
 * (total_mapping_size's EINVAL).  Like Linux, the order of the PT_LOADs is
 * not checked: the span is the lowest to the highest address. */
static long check_loads(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, unsigned long *lo,
                        unsigned long *hi)
{
    *lo = ~0UL;
    *hi = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD)
            continue;
        if (p->p_filesz > p->p_memsz || p->p_vaddr >= TASK_SIZE || p->p_memsz > TASK_SIZE ||
            TASK_SIZE - p->p_memsz < p->p_vaddr)
            return -EINVAL;
        if (p->p_filesz && (p->p_offset - p->p_vaddr) % LS_PAGE)
            return -EINVAL;
        if (p->p_vaddr < *lo)
            *lo = p->p_vaddr;
        if (p->p_vaddr + p->p_memsz > *hi)
            *hi = p->p_vaddr + p->p_memsz;
    }
    if (*hi <= *lo)
        return -EINVAL;
    *lo = LS_PAGE_DOWN(*lo);
    *hi = LS_PAGE_UP(*hi);
    return 0;
}

/* Maps the program (hint PIE_BASE) or its interpreter (hint 0). */
static long map_segments(int fd, unsigned long base, const Elf64_Ehdr *eh, const Elf64_Phdr *ph,
                         struct loaded *l, unsigned long hint)
{
    unsigned long lo, hi;
    long r = check_loads(eh, ph, &lo, &hi);
    if (r < 0)
        return r;
    /* A program with an interpreter is mapped at ELF_ET_DYN_BASE (which
     * Linux randomises up to 1 TiB higher), with MAP_FIXED_NOREPLACE: a span
     * that does not fit below the top there fails (ENOMEM).  Here the host
     * may place it elsewhere (the kernel may sit at that address), but
     * what Linux refuses is refused. */
    if (eh->e_type == ET_DYN && hint && l->interp[0] && hi - lo > TASK_SIZE - PIE_BASE)
        return -ENOMEM;
    unsigned long bias = 0;
    struct stat st;
    r = hsys2(__NR_fstat, fd, (long)&st);
    if (r < 0)
        return r;
    unsigned long fsize = st.st_size;
    /* Reserve the whole span first, so segments land together and nothing
     * else (the kernel above all) can be in between. */
    long flags = MAP_PRIVATE | MAP_ANONYMOUS;
    long want = eh->e_type == ET_DYN ? hint : lo;
    if (eh->e_type == ET_EXEC)
        flags |= MAP_FIXED_NOREPLACE;
    long res = hsys6(__NR_mmap, want, hi - lo, PROT_NONE, flags, -1, 0);
    if (is_err(res))
        return res == -EEXIST ? -ENOMEM : res;
    if (eh->e_type == ET_DYN)
        bias = res - lo;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz &&
            (r = map_segment(fd, base, fsize, bias, &ph[i])) < 0)
            return r;
    l->bias = bias;
    l->entry = bias + eh->e_entry;
    l->start = bias + lo;
    l->end = bias + hi;
    l->phnum = eh->e_phnum;
    l->phdr = find_phdr(eh, ph, bias);
    return 0;
}

static long load_elf(const char *path, struct loaded *l, unsigned long hint)
{
    unsigned long base;
    long fd = fs_open_exec(path, &base, &l->text);
    if (fd < 0)
        return fd;
    struct elf_head *h = kmalloc(sizeof *h);
    long r = h ? elf_read_head(fd, base, h) : -ENOMEM;
    l->interp[0] = 0;
    if (r == 0 && (r = elf_read_interp(fd, base, h, l->interp)) == 0)
        l->interp[0] = 0;
    if (r >= 0)
        r = map_segments(fd, base, &h->eh, h->ph, l, hint);
    if (r == 0)
        mm_note_object(l->start, l->end, path);
    kfree(h);
    hsys1(__NR_close, fd);
    return r;
}

/* Pushes bytes onto the downward-growing string area; returns their address. */
static unsigned long push_bytes(unsigned long *top, const void *p, size_t n)
{
    *top -= n;
    memcpy((void *)*top, p, n);
    return *top;
}

static unsigned long host_aux(unsigned long type)
{
    for (int i = 0; K.host_auxv[i] != AT_NULL; i += 2)
        if (K.host_auxv[i] == type)
            return K.host_auxv[i + 1];
    return 0;
}

long exec_load(const struct exec_args *a, unsigned long *entry, unsigned long *sp)
{
    static struct loaded prog, interp;
    long r = load_elf(a->exe, &prog, PIE_BASE);
    if (r < 0)
        return r;
    unsigned long start = prog.entry;
    if (prog.interp[0]) {
        r = load_elf(prog.interp, &interp, 0);
        if (r < 0)
            return r;
        start = interp.entry;
    }
    mm_set_brk_base(prog.end);

    long stk = hsys6(__NR_mmap, 0, STACK_GUARD + STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (is_err(stk))
        return stk;
    hsys3(__NR_mprotect, stk, STACK_GUARD, PROT_NONE);
    unsigned long top = stk + STACK_GUARD + STACK_SIZE;

    unsigned long fn = push_bytes(&top, a->execfn, strlen(a->execfn) + 1);
    unsigned long plat = push_bytes(&top, "x86_64", 7);
    unsigned char rnd[16];
    hsys3(__NR_getrandom, (long)rnd, sizeof rnd, 0);
    unsigned long rndp = push_bytes(&top, rnd, sizeof rnd);
    unsigned long *strs = kmalloc((a->argc + a->envc) * sizeof(long) + 1);
    if (!strs)
        return -ENOMEM;
    for (unsigned i = 0; i < a->argc; i++)
        strs[i] = push_bytes(&top, a->argv[i], strlen(a->argv[i]) + 1);
    for (unsigned i = 0; i < a->envc; i++)
        strs[a->argc + i] = push_bytes(&top, a->envp[i], strlen(a->envp[i]) + 1);

    unsigned long aux[] = {
        AT_SYSINFO_EHDR, host_aux(AT_SYSINFO_EHDR),
        AT_MINSIGSTKSZ, host_aux(AT_MINSIGSTKSZ),
        AT_HWCAP, host_aux(AT_HWCAP),
        AT_PAGESZ, LS_PAGE,
        AT_CLKTCK, host_aux(AT_CLKTCK) ? host_aux(AT_CLKTCK) : 100,
        AT_PHDR, prog.phdr,
        AT_PHENT, sizeof(Elf64_Phdr),
        AT_PHNUM, prog.phnum,
        AT_BASE, prog.interp[0] ? interp.bias : 0,
        AT_FLAGS, 0,
        AT_ENTRY, prog.entry,
        AT_UID, a->uid, AT_EUID, a->uid, AT_GID, a->gid, AT_EGID, a->gid,
        AT_SECURE, 0,
        AT_RANDOM, rndp,
        AT_HWCAP2, host_aux(AT_HWCAP2),
        AT_EXECFN, fn,
        AT_PLATFORM, plat,
        AT_NULL, 0,
    };
    /* argc, argv[], NULL, envp[], NULL, auxv[]: 16-byte aligned at argc. */
    unsigned long words = 1 + a->argc + 1 + a->envc + 1 + LS_ARRAY_SIZE(aux);
    top &= ~15UL;
    if (words & 1)
        top -= 8;
    unsigned long *w = (unsigned long *)(top - words * 8);
    *sp = (unsigned long)w;
    *w++ = a->argc;
    for (unsigned i = 0; i < a->argc; i++)
        *w++ = strs[i];
    *w++ = 0;
    for (unsigned i = 0; i < a->envc; i++)
        *w++ = strs[a->argc + i];
    *w++ = 0;
    memcpy(w, aux, sizeof aux);
    ls_prog_auxv[0] = (unsigned long)w;
    ls_prog_auxv[1] = sizeof aux;
    ls_prog_exe = a->exe;
    ls_prog = a;
    ls_text[0] = prog.text;
    ls_text[1] = prog.interp[0] ? interp.text : (struct ktext){0};
    kfree(strs);
    *entry = start;
    return 0;
}
