/*
 * What execve checks before its point of no return.  Here the point of no
 * return is the host execve of the kernel binary: past it the old program is
 * gone, so everything Linux answers with an errno must be found before it,
 * in the calling kernel, the way Linux finds it:
 *   - open_exec: the walk's errors (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG),
 *     EACCES for anything but a regular file or without execute permission;
 *   - binfmt_script: the "#!" line split as Linux splits it, the interpreter
 *     opened again by the same rules, at most 5 scripts deep (ELOOP);
 *   - binfmt_elf (load_elf_binary up to begin_new_exec): the ELF header and
 *     program-header table (ENOEXEC), the first PT_INTERP (ENOEXEC, EIO),
 *     the interpreter's header and table (EIO, ELIBBAD).
 * What Linux finds only after begin_new_exec (mapping failures) ends the
 * new process with SIGSEGV, as bprm_execve does: exec_fail_late.
 */
#include "kernel.h"
#include "signal/signal.h"
#include "fs/fs.h"
#include "proc/exec.h"

static long open_once(long dirfd, const char *path, int follow, char *real, unsigned long *base)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    struct stat st;
    long r = fs_walk(dirfd, path, follow ? W_FOLLOW : 0, n);
    if (r == 0)
        r = stat_node(n, follow, &st);
    if (r == 0 && S_ISLNK(st.st_mode))
        r = -ELOOP;                     /* AT_SYMLINK_NOFOLLOW, as O_NOFOLLOW */
    if (r == 0 && !S_ISREG(st.st_mode))
        r = -EACCES;
    /* real is the whole guest path; the calls below walk it again from
     * the process's root (a chroot's: fs/root.c). */
    const char *seen = 0;
    if (r == 0) {
        strlcpy(real, n->path, LS_PATH_MAX);
        seen = fs_root_rel(real);
        r = seen ? sys_faccessat2(AT_FDCWD, seen, 1 /* X_OK */, AT_EACCESS) : -ENOENT;
    }
    node_free(n);
    return r < 0 ? r : fs_open_exec(seen, base, 0);
}

/* Every file execve opens goes on where a symlink out of a volume leads, as
 * Linux's walk does: the walk beneath the volume stops there and names the
 * guest path it leads to in kcur()->relink (fs/beneath.c), and the dispatcher
 * makes a call naming one path again with it (dispatch.c), which for execve
 * would put the link's target in the program's place.  So here: the program
 * (named as the guest named it all the same), a script's interpreter (a
 * venv's bin/python3, a link to /usr/bin/python3) and an ELF's PT_INTERP.
 * At most 40 links, then ELOOP. */
long exec_open_at(long dirfd, const char *path, int follow, char *real, unsigned long *base)
{
    struct kthread *t = kcur();
    char *saved = t->relink;
    char *buf = kmalloc(2 * LS_PATH_MAX);
    if (!buf)
        return -ENOMEM;
    long r;
    for (int links = 0;; links++) {
        char *to = buf + (links & 1) * LS_PATH_MAX;    /* not the path being walked */
        to[0] = 0;
        t->relink = to;
        r = open_once(dirfd, path, follow, real, base);
        if (r != -EXDEV || !to[0] || links == 40) {
            if (r == -EXDEV && to[0])
                r = -ELOOP;
            break;
        }
        dirfd = AT_FDCWD;
        path = to;
    }
    t->relink = saved;
    kfree(buf);
    return r;
}

long elf_read_at(int fd, unsigned long base, void *buf, size_t n, unsigned long off)
{
    long r = hsys4(__NR_pread64, fd, (long)buf, n, base + off);
    return r < 0 ? r : (unsigned long)r == n ? 0 : -EIO;
}

long elf_read_phdrs(int fd, unsigned long base, struct elf_head *h)
{
    const Elf64_Ehdr *eh = &h->eh;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHNUM)
        return -ENOEXEC;
    if (elf_read_at(fd, base, h->ph, eh->e_phnum * sizeof(Elf64_Phdr), eh->e_phoff) < 0)
        return -ENOEXEC;
    return 0;
}

/* load_elf_binary's first checks: a short file reads as zero-padded, like
 * Linux's bprm->buf. */
long elf_read_head(int fd, unsigned long base, struct elf_head *h)
{
    memset(&h->eh, 0, sizeof h->eh);
    long r = hsys4(__NR_pread64, fd, (long)&h->eh, sizeof h->eh, base);
    if (r < 0)
        return r;
    const Elf64_Ehdr *eh = &h->eh;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || (eh->e_type != ET_EXEC && eh->e_type != ET_DYN) ||
        eh->e_machine != EM_X86_64)
        return -ENOEXEC;
    return elf_read_phdrs(fd, base, h);
}

long elf_read_interp(int fd, unsigned long base, const struct elf_head *h, char *interp)
{
    for (int i = 0; i < h->eh.e_phnum; i++) {
        const Elf64_Phdr *p = &h->ph[i];
        if (p->p_type != PT_INTERP)
            continue;
        if (p->p_filesz > LS_PATH_MAX || p->p_filesz < 2)
            return -ENOEXEC;
        long r = elf_read_at(fd, base, interp, p->p_filesz, p->p_offset);
        if (r < 0)
            return r;
        return interp[p->p_filesz - 1] ? -ENOEXEC : 1;
    }
    return 0;
}

long exec_open(const char *path, char *real, unsigned long *base)
{
    return exec_open_at(AT_FDCWD, path, 1, real, base);
}

/* binfmt_elf's checks of the program open at fd and of its interpreter. */
static long check_elf(int fd, unsigned long base)
{
    struct elf_head *h = kmalloc(sizeof *h);
    char *interp = kmalloc(LS_PATH_MAX), *real = kmalloc(LS_PATH_MAX);
    long r = -ENOMEM;
    if (h && interp && real)
        r = elf_read_head(fd, base, h);
    if (r == 0 && (r = elf_read_interp(fd, base, h, interp)) == 1) {
        unsigned long ibase;
        /* An empty name is the working directory to Linux's open_exec
         * (getname_kernel takes ""), a directory: EACCES. */
        long ifd = interp[0] ? exec_open(interp, real, &ibase) : -EACCES;
        r = ifd;
        if (ifd >= 0) {
            r = elf_read_at(ifd, ibase, &h->eh, sizeof h->eh, 0);
            if (r == 0 && (memcmp(h->eh.e_ident, ELFMAG, SELFMAG) || h->eh.e_machine != EM_X86_64 ||
                           elf_read_phdrs(ifd, ibase, h) < 0))
                r = -ELIBBAD;
            hsys1(__NR_close, ifd);
        }
    }
    kfree(h);
    kfree(interp);
    kfree(real);
    return r < 0 ? r : 0;
}

static int spacetab(char c)
{
    return c == ' ' || c == '\t';
}

static char *next_non_spacetab(char *first, char *last)
{
    for (; first <= last; first++)
        if (!spacetab(*first))
            return first;
    return 0;
}

static char *next_terminator(char *first, char *last)
{
    for (; first <= last; first++)
        if (spacetab(*first) || !*first)
            return first;
    return 0;
}

/* Splits the "#!" line in buf (LS_BINPRM_BUF_SIZE bytes, zero-padded) as
 * binfmt_script does: the interpreter never truncated, one optional argument
 * (inner blanks kept, trailing ones dropped).  0 or -ENOEXEC. */
static long split_shebang(char *buf, char **name, char **arg)
{
    char *buf_end = buf + LS_BINPRM_BUF_SIZE - 1;
    char *i_end = memchr(buf, '\n', LS_BINPRM_BUF_SIZE);
    if (!i_end) {
        i_end = next_non_spacetab(buf + 2, buf_end);
        if (!i_end || !next_terminator(i_end, buf_end))
            return -ENOEXEC;            /* blanks only, or an interpreter cut short */
        i_end = buf_end;
    }
    while (spacetab(i_end[-1]))
        i_end--;
    char *i_name = next_non_spacetab(buf + 2, i_end);
    if (!i_name || i_name == i_end)
        return -ENOEXEC;
    char *i_arg = 0, *i_sep = next_terminator(i_name, i_end);
    if (i_sep && *i_sep)
        i_arg = next_non_spacetab(i_sep, i_end);
    *i_end = 0;
    if (i_arg)
        *i_sep = 0;
    *name = i_name;
    *arg = i_arg;
    return 0;
}

long exec_resolve(struct exec_req *q)
{
    const char *name = q->filename;
    for (int depth = 0;; depth++) {
        unsigned long base;
        if (depth && !*name)
            return -EACCES;             /* "#!\0...": Linux opens "" as the working directory */
        long fd = depth ? exec_open(name, q->real, &base)
                        : exec_open_at(q->dirfd, q->path, q->follow, q->real, &base);
        if (fd < 0)
            return fd;
        if (depth > LS_EXEC_MAX_DEPTH) {
            hsys1(__NR_close, fd);
            return -ELOOP;
        }
        char *buf = q->line[depth];
        memset(buf, 0, LS_BINPRM_BUF_SIZE);
        long r = hsys4(__NR_pread64, fd, (long)buf, LS_BINPRM_BUF_SIZE, base);
        if (r >= 0 && !(buf[0] == '#' && buf[1] == '!')) {
            r = check_elf(fd, base);
            hsys1(__NR_close, fd);
            return r;
        }
        hsys1(__NR_close, fd);
        char *interp, *arg;
        if (r < 0 || (r = split_shebang(buf, &interp, &arg)) < 0)
            return r;
        /* A script named by a close-on-exec fd could not be read by its
         * interpreter after the exec: Linux gives up with ENOENT. */
        if (depth == 0 && q->fd_named >= 0 && hsys2(__NR_fcntl, q->fd_named, F_GETFD) == FD_CLOEXEC)
            return -ENOENT;
        /* argv becomes: interpreter, [argument], the name exec'd, argv[1:]. */
        int extra = arg ? 3 : 2;
        if (q->nargs + extra - 1 > q->room)
            return -E2BIG;
        memmove(q->args + extra, q->args + 1, (q->nargs - 1) * sizeof(char *));
        q->nargs += extra - 1;
        q->args[0] = interp;
        if (arg)
            q->args[1] = arg;
        q->args[extra - 1] = name;
        name = interp;
    }
}

void exec_fail_late(void)
{
    ls_die_by_signal(SIGSEGV);
    sigset_t segv = 1UL << (SIGSEGV - 1);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&segv, 0, sizeof segv);
    ls_exit_group(128 + SIGSEGV);
}
