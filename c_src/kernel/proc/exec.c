/*
 * The ELF loader: maps the program and its interpreter the way Linux's
 * binfmt_elf does, and builds the initial stack (argv, envp, auxv).
 * Randomised as Linux's: a PIE program with an interpreter at
 * ELF_ET_DYN_BASE plus a random page offset of mmap_rnd_bits (aligned to
 * its PT_LOADs' largest p_align), its break a random page offset above its
 * bss (randomize_va_space 2); neither under the host's randomize_va_space
 * 0 or the personality ADDR_NO_RANDOMIZE (setarch -R, --gdb); a forked
 * child keeps its parent's layout (the host's fork copies it).  Differs
 * from Linux in: no stack or mmap randomisation of its own (the host's
 * mmap placement applies, under the same switches).
 */
#include "proc/proc.h"
#include "proc/exec.h"
#include <linux/auxvec.h>

#define STACK_SIZE (8UL << 20)
#define STACK_GUARD (256 * LS_PAGE)  /* Linux's stack_guard_gap: an overflow faults */
#define ELF_ET_DYN_BASE 0x555555554aaaUL  /* x86-64's: 2/3 of the 47-bit space, not a page */
#define PIE_BASE 0x555555554000UL    /* where Linux puts an ET_DYN program (ELF_ET_DYN_BASE) */
#define TASK_SIZE 0x7ffffffff000UL   /* the top of a 4-level x86-64 user address space */
#define MMAP_RND_BITS 28             /* x86-64's default, where the host's cannot be read */
#define ADDR_NO_RANDOMIZE 0x0040000

struct loaded {
    unsigned long bias, entry, phdr, phnum, start, end;
    int dyn;                         /* ET_DYN */
    struct ktext text;
    char interp[LS_PATH_MAX];
};

static int is_err(long p)
{
    return p < 0 && p > -4096;
}

/* The number a host file (a sysctl) holds, or dflt where it cannot be read. */
static __attribute__((noinline)) unsigned long host_number(const char *path, unsigned long dflt)
{
    char buf[24];
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return dflt;
    long n = hsys3(__NR_read, fd, (long)buf, sizeof buf - 1);
    hsys1(__NR_close, fd);
    if (n <= 0 || buf[0] < '0' || buf[0] > '9')
        return dflt;
    unsigned long v = 0;
    for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (buf[i] - '0');
    return v;
}

/* n bytes of the host's getrandom: a short read or an interrupted one is
 * read on (a zero left in place would be a fixed layout, silently). */
static void host_random(void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        long r = hsys3(__NR_getrandom, (long)buf + got, n - got, 0);
        if (r > 0)
            got += r;
        else if (r != -EINTR && r != -EAGAIN)
            return;                 /* not on this host: getrandom is in the allow-list */
    }
}

static unsigned long random_long(void)
{
    unsigned long v = 0;
    host_random(&v, sizeof v);
    return v;
}

/* Linux's randomize_va_space as it applies to this exec: the host's value
 * (its default 2 where it cannot be read), 0 under ADDR_NO_RANDOMIZE (the
 * personality survives the host's execve of the kernel, as Linux's). */
static unsigned long randomize_level(void)
{
    long pers = hsys1(__NR_personality, 0xffffffff);
    if (pers >= 0 && (pers & ADDR_NO_RANDOMIZE))
        return 0;
    return host_number("/proc/sys/kernel/randomize_va_space", 2);
}

/* Linux's arch_mmap_rnd: a random page offset of mmap_rnd_bits bits. */
static unsigned long mmap_rnd(void)
{
    unsigned long bits = host_number("/proc/sys/vm/mmap_rnd_bits", MMAP_RND_BITS);
    if (bits > 32)
        bits = MMAP_RND_BITS;
    return (random_long() & ((1UL << bits) - 1)) * LS_PAGE;
}

/* arch_randomize_brk's range on x86-64: 1 GiB since Linux 6.9, 32 MiB before. */
static unsigned long brk_rnd_range(void)
{
    struct { char f[6][65]; } u;
    if (hsys1(__NR_uname, (long)&u) < 0)
        return 1UL << 30;
    unsigned long major = 0, minor = 0;
    const char *p = u.f[2];
    for (; *p >= '0' && *p <= '9'; p++)
        major = major * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            minor = minor * 10 + (*p - '0');
    return major > 6 || (major == 6 && minor >= 9) ? 1UL << 30 : 32UL << 20;
}

/* Where the break starts, as load_elf_binary puts it: the page after the
 * bss (a static PIE's at the page from ELF_ET_DYN_BASE, unused, with or
 * without ASLR as Linux 6.15+'s), with randomize_va_space 2 a page further
 * (not a moved one) and a random page offset in arch_randomize_brk's whole
 * range (6.15+ rounds the start up to its page before randomize_page). */
static unsigned long brk_start(const struct loaded *prog, unsigned long level)
{
    int moved = prog->dyn && !prog->interp[0];
    unsigned long brk = LS_PAGE_UP(moved ? ELF_ET_DYN_BASE : prog->end);
    if (level < 2)
        return brk;
    if (!moved)
        brk += LS_PAGE;
    return brk + random_long() % (brk_rnd_range() / LS_PAGE) * LS_PAGE;
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

/* Linux's maximum_alignment: the largest power-of-two p_align of the
 * PT_LOADs, at least a page. */
static unsigned long max_align(const Elf64_Ehdr *eh, const Elf64_Phdr *ph)
{
    unsigned long align = LS_PAGE;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_align && !(ph[i].p_align & (ph[i].p_align - 1)) &&
            ph[i].p_align > align)
            align = ph[i].p_align;
    return align;
}

/* len bytes reserved at want (with MAP_FIXED_NOREPLACE in flags: there or
 * nowhere), or where the host puts them, the start a multiple of align:
 * if not, where the host puts align less a page more, cut to the aligned
 * start, the slack either side unmapped.  Top-down that is the host's own
 * choice aligned down, as Linux's map at 0, unmap and map there, without
 * the window between.  The address or -errno. */
static long reserve(unsigned long want, unsigned long len, unsigned long align, long flags)
{
    if (want || align == LS_PAGE) {
        long res = hsys6(__NR_mmap, want, len, PROT_NONE, flags, -1, 0);
        if (is_err(res) || !(res & (align - 1)))
            return res;
        hsys2(__NR_munmap, res, len);   /* the hint refused, elsewhere unaligned */
    }
    unsigned long pad = align - LS_PAGE;
    long res = hsys6(__NR_mmap, 0, len + pad, PROT_NONE, flags, -1, 0);
    if (is_err(res))
        return res;
    unsigned long start = (res + pad) & ~(align - 1);
    if (start != (unsigned long)res)
        hsys2(__NR_munmap, res, start - res);
    if (start != res + pad)
        hsys2(__NR_munmap, start + len, res + pad - start);
    return start;
}

/* Maps the program (hint: PIE_BASE, randomised) or its interpreter (hint
 * 0, interp set). */
static long map_segments(int fd, unsigned long base, const Elf64_Ehdr *eh, const Elf64_Phdr *ph,
                         struct loaded *l, unsigned long hint, int interp)
{
    unsigned long lo, hi;
    long r = check_loads(eh, ph, &lo, &hi);
    if (r < 0)
        return r;
    /* A program with an interpreter is mapped at ELF_ET_DYN_BASE (plus
     * the random offset in hint), with MAP_FIXED_NOREPLACE: a span that
     * does not fit below the top there fails (ENOMEM).  Here the host may
     * place it elsewhere (the kernel may sit at that address), but what
     * Linux refuses is refused.  One without (a static PIE, ld.so run as
     * a program) goes where the host's mmap puts it, as Linux's load_bias
     * 0 does.  A program's base is a multiple of its largest p_align
     * wherever it goes (binfmt_elf's `alignment > ELF_MIN_ALIGN`); an
     * interpreter's is not (load_elf_interp aligns nothing). */
    unsigned long align = eh->e_type == ET_DYN && !interp ? max_align(eh, ph) : LS_PAGE;
    if (eh->e_type == ET_DYN && !l->interp[0])
        hint = 0;
    hint &= ~(align - 1);           /* a 2 MiB p_align: 0x555555400000 without ASLR */
    if (eh->e_type == ET_DYN && hint && hi - lo > TASK_SIZE - hint)
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
    long res = reserve(want, hi - lo, align, flags);
    if (is_err(res))
        return res == -EEXIST ? -ENOMEM : res;
    if (eh->e_type == ET_DYN)
        bias = res - lo;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz &&
            (r = map_segment(fd, base, fsize, bias, &ph[i])) < 0)
            return r;
    l->bias = bias;
    l->dyn = eh->e_type == ET_DYN;
    l->entry = bias + eh->e_entry;
    l->start = bias + lo;
    l->end = bias + hi;
    l->phnum = eh->e_phnum;
    l->phdr = find_phdr(eh, ph, bias);
    return 0;
}

static long load_elf(const char *path, struct loaded *l, unsigned long hint, int interp)
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
        r = map_segments(fd, base, &h->eh, h->ph, l, hint, interp);
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
    unsigned long level = randomize_level();
    long r = load_elf(a->exe, &prog, PIE_BASE + (level ? mmap_rnd() : 0), 0);
    if (r < 0)
        return r;
    unsigned long start = prog.entry;
    if (prog.interp[0]) {
        r = load_elf(prog.interp, &interp, 0, 1);
        if (r < 0)
            return r;
        start = interp.entry;
    }
    mm_set_brk_base(brk_start(&prog, level));

    long stk = hsys6(__NR_mmap, 0, STACK_GUARD + STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (is_err(stk))
        return stk;
    hsys3(__NR_mprotect, stk, STACK_GUARD, PROT_NONE);
    unsigned long top = stk + STACK_GUARD + STACK_SIZE;

    unsigned long fn = push_bytes(&top, a->execfn, strlen(a->execfn) + 1);
    unsigned long plat = push_bytes(&top, "x86_64", 7);
    unsigned char rnd[16];
    host_random(rnd, sizeof rnd);
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
    _Static_assert(sizeof aux <= sizeof ls_saved_auxv, "LS_AUXV_WORDS");
    memcpy(ls_saved_auxv, aux, sizeof aux);
    ls_saved_auxv_len = sizeof aux;
    ls_start_stack = *sp;
    ls_prog_exe = a->exe;
    ls_prog = a;
    ls_text[0] = prog.text;
    ls_text[1] = prog.interp[0] ? interp.text : (struct ktext){0};
    kfree(strs);
    *entry = start;
    return 0;
}
