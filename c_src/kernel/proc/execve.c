/*
 * execve: the guest kernel boots again on another program of the guest's
 * file system.  It has the host execve the kernel binary itself on the boot
 * info it booted from, unchanged, and a small exec block (proc/exec.h: the
 * resolved program, argv, environment, working directory, its fds), so the
 * new program gets a fresh address space, its own ld.so and substituted
 * libraries, exactly as at the first boot.  (Not done in place: the old
 * program's mappings, threads and the kernel's own state would have to be
 * torn down by hand; the host's execve drops them all, and the new kernel
 * starts from the same boot steps as the first.)  What a process keeps across execve on Linux it keeps
 * here: its fds (close-on-exec honoured by the host), pid, the sandbox (the
 * seccomp filter and Landlock domain are inherited; the new kernel does not
 * install them again).  Differs from Linux in: fds lose their guest paths
 * (the new kernel sees them as host objects), but those of the directories
 * it serves itself (exec_block.c).
 */
#include "proc/proc.h"
#include "fs/fs.h"
#include "proc/exec.h"
#include "proc/ptable.h"

#define MAX_ARG_STRLEN (32 * LS_PAGE)    /* Linux's limit on one string, its NUL included */
#define ARG_MAX_FLOOR (32 * LS_PAGE)     /* Linux's ARG_MAX: the least room strings get */
#define STK_LIM (8UL << 20)              /* Linux's _STK_LIM */

int ls_self_fd = -1;                 /* O_PATH fd of the kernel binary, opened at boot */

struct blob {
    char *buf;
    size_t len, cap;
};

static long reserve(struct blob *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *nb = kmalloc(cap);
        if (!nb)
            return -ENOMEM;
        memcpy(nb, b->buf, b->len);
        kfree(b->buf);
        b->buf = nb;
        b->cap = cap;
    }
    return 0;
}

static long put(struct blob *b, const void *p, size_t n)
{
    if (reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

/* A string, the guest's or the kernel's, with its NUL: 0, -EFAULT, -E2BIG
 * past Linux's MAX_ARG_STRLEN, -ENOMEM. */
static long put_str(struct blob *b, const char *s, uint32_t *off)
{
    *off = b->len;
    for (;;) {
        if (reserve(b, LS_PAGE) < 0)
            return -ENOMEM;
        long n = ls_strncpy_user(b->buf + b->len, s, LS_PAGE);
        if (n < 0)
            return n;
        b->len += n < (long)LS_PAGE ? n + 1 : n;
        if (b->len - *off > MAX_ARG_STRLEN)
            return -E2BIG;
        if (n < (long)LS_PAGE)
            return 0;
        s += n;
    }
}

/* Linux's bprm_stack_limits: the bytes execve's strings and their pointers
 * may take, a quarter of the stack limit, at most 3/4 of _STK_LIM (the
 * next kernel's stack holds them) and at least ARG_MAX. */
static unsigned long arg_limit(void)
{
    struct rlimit st = {.rlim_cur = RLIM_INFINITY};
    hsys4(__NR_prlimit64, 0, RLIMIT_STACK, 0, (long)&st);
    unsigned long limit = STK_LIM / 4 * 3;
    if (st.rlim_cur / 4 < limit)
        limit = st.rlim_cur / 4;
    return limit < ARG_MAX_FLOOR ? ARG_MAX_FLOOR : limit;
}

/* The number of entries of a guest's argv or envp (NULL: none), or -errno:
 * -E2BIG once their pointers alone pass limit. */
static long count_vec(char *const *v, unsigned long limit)
{
    long n = 0;
    for (const char *s = 0; v && n < (long)(limit / sizeof s); n++)
        if (copy_from_user(&s, &v[n], sizeof s) < 0)
            return -EFAULT;
        else if (!s)
            return n;
    return v ? -E2BIG : 0;
}

/* Clears close-on-exec on a kernel fd the next kernel takes over; -1 stays -1. */
static int hand_over(int fd)
{
    if (fd >= 0)
        hsys3(__NR_fcntl, fd, F_SETFD, 0);
    return fd;
}

static void take_back(int fd)
{
    if (fd >= 0)
        hsys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC);
}

/* Implements execve(2). */
long sys_execve(const char *path, char *const argv[], char *const envp[])
{
    return sys_execveat(AT_FDCWD, path, argv, envp, 0);
}

/* How the program is named (execveat's first step): a path relative to a
 * dirfd is named /dev/fd/N/path (an empty one with AT_EMPTY_PATH:
 * /dev/fd/N, the fd's own file, reached through its /proc link), as Linux
 * names it for scripts and AT_EXECFN.  0 or -errno. */
static long name_program(struct exec_req *q, long dirfd, const char *path, long flags)
{
    /* Made again with where a link out of a volume leads (dispatch.c), it
     * is still named as the guest named it. */
    const char *given = kcur()->relink_from ? kcur()->relink_from : path;
    q->dirfd = dirfd;
    q->path = path;
    q->follow = !(flags & AT_SYMLINK_NOFOLLOW);
    q->fd_named = dirfd != AT_FDCWD && given[0] != '/' ? dirfd : -1;
    q->filename = given;
    if (q->fd_named < 0)
        return 0;
    if (!path[0] && !(flags & AT_EMPTY_PATH))
        return -ENOENT;
    if (!path[0]) {
        ksnprintf(q->fdpath, sizeof q->fdpath, "/proc/self/fd/%ld", dirfd);
        q->path = q->fdpath;
        q->dirfd = AT_FDCWD;
        q->follow = 1;
    }
    if (ksnprintf(q->name, sizeof q->name, "/dev/fd/%ld%s%s", dirfd, given[0] ? "/" : "",
                  given) >= (int)sizeof q->name)
        return -ENAMETOOLONG;
    q->filename = q->name;
    return 0;
}

/* fd's entry, then its path, padded to 4 bytes: 1, 0 if fd has none now,
 * or -errno. */
static long put_kept(struct blob *b, long fd)
{
    struct kofd *o = fd_get(fd);
    if (!o)
        return 0;
    struct exec_kept_fd k = {.fd = fd, .kind = o->kind, .flags = o->flags, .ent = o->ent,
                             .arg_lo = (uint32_t)o->arg,
                             .arg_hi = (uint32_t)((unsigned long)o->arg >> 32), .fl = o->fl, .pos_lo = (uint32_t)o->pos,
                             .pos_hi = (uint32_t)((unsigned long)o->pos >> 32),
                             .ino_lo = (uint32_t)o->ino, .ino_hi = (uint32_t)(o->ino >> 32)};
    uint32_t off;
    long r = put(b, &k, sizeof k);
    if (r == 0)
        r = put_str(b, o->path ? o->path : "", &off);
    kofd_put(o);
    while (r == 0 && (b->len & 3))
        r = put(b, "", 1);
    return r < 0 ? r : 1;
}

/* The exec block into b (execve's second step): the strings, then
 * argv's and envp's offsets (offs has room for q->nargs + envc).  Its fds
 * are the host execve's to fill.  0, -E2BIG when the strings the new stack
 * gets (argv, envp, the name exec'd) and their pointers pass limit, or
 * -errno. */
static long write_exec_block(struct blob *b, const struct exec_req *q, char *const envp[],
                             long envc, const char *cwd, uint32_t *offs, unsigned long limit)
{
    struct exec_block h = {.magic = EXEC_BLOCK_MAGIC, .argc = q->nargs, .envc = envc,
                           .cwd_host = cwd_on_host()};
    long r;
    if ((r = put(b, &h, sizeof h)) < 0)
        return r;
    int k = 0;
    for (int i = 0; i < q->nargs; i++)
        if ((r = put_str(b, q->args[i], &offs[k++])) < 0)
            return r;
    for (int i = 0; i < envc; i++) {
        const char *e;
        if ((r = copy_from_user(&e, &envp[i], sizeof e)) < 0 ||
            (r = put_str(b, e, &offs[k++])) < 0)
            return r;
    }
    if (b->len - sizeof h + strlen(q->filename) + 1 + (q->nargs + envc) * sizeof(char *) > limit)
        return -E2BIG;
    /* The program as the next kernel walks it: from the root it boots with. */
    const char *exe = fs_root_rel(q->real);
    if ((r = put_str(b, exe ? exe : q->real, &h.exe)) < 0 || (r = put_str(b, q->filename, &h.execfn)) < 0 ||
        (r = put_str(b, cwd, &h.cwd)) < 0 ||
        (r = put_str(b, fs_root() ? fs_root() : "/", &h.root)) < 0)
        return r;
    while (b->len & 3)
        if ((r = put(b, "", 1)) < 0)
            return r;
    h.strs = b->len;
    if ((r = put(b, offs, k * sizeof(uint32_t))) < 0)
        return r;
    h.nofollow = b->len;
    for (long fd = fd_next_nofollow(0); fd >= 0; fd = fd_next_nofollow(fd + 1)) {
        int32_t v = fd;
        if ((r = put(b, &v, sizeof v)) < 0)
            return r;
        h.nnofollow++;
    }
    h.kept = b->len;
    for (long fd = fd_next_kept(0); fd >= 0; fd = fd_next_kept(fd + 1)) {
        if (hsys2(__NR_fcntl, fd, F_GETFD) != 0)    /* close-on-exec: the exec closes it */
            continue;
        if ((r = put_kept(b, fd)) < 0)
            return r;
        h.nkept += r;
    }
    h.size = b->len;
    memcpy(b->buf, &h, sizeof h);
    return 0;
}

/* The host execve of this kernel on the boot info it booted from and the
 * exec block (the last step): hands the kernel's fds over, and takes them
 * back if the host refuses.  The guest's soft RLIMIT_NOFILE (`soft`, saved
 * by kfd_room_begin) is back before the host execve, where the next kernel
 * reads it.  Returns only on failure, -errno. */
static long boot_again(struct blob *b, long soft)
{
    struct exec_block *h = (struct exec_block *)b->buf;
    struct exec_args a;
    h->trace_fd = hand_over(K.trace_fd);
    h->report_fd = hand_over(K.report_fd);
    h->core_fd = hand_over(K.core_fd);
    h->image_fd = hand_over(K.image_fd);
    h->port_fd = hand_over(port_fd);
    h->trace_sum_fd = trace_summary_hand_over();
    hand_over(K.bi_fd);
    h->shared_fd = shared_hand_over();

    long mfd = fs_memfd_new("libsubst-exec", 0);
    long r = mfd;
    if (mfd >= 0 && (r = kwrite_all(mfd, b->buf, b->len)) >= 0) {
        char bnum[24], enum_[24];
        ksnprintf(bnum, sizeof bnum, "%d", K.bi_fd);
        ksnprintf(enum_, sizeof enum_, "%ld", mfd);
        const char *kargv[] = {"libsubst-kernel", bnum, enum_, 0};
        const char *kenvp[] = {0};
        /* Signals deferred while the kernel worked reach the handlers of
         * this program, as if they had come just before the call (the
         * few instructions left lose one, and SA_RESTART is not asked). */
        signal_deliver_before_exec();
        /* Files of a packed image are windows of the image file: the next
         * program must not inherit a bare dup of the whole image. */
        if ((r = fs_unbase_for_exec()) >= 0) {
            const struct exec_args *next = block_args(h, &a);
            struct kproc_slot *was = next ? ptable_exec(next) : 0;
            trace_before_exec();
            kfd_room_end(soft);
            r = hsys5(__NR_execveat, ls_self_fd, (long)"", (long)kargv, (long)kenvp, AT_EMPTY_PATH);
            ptable_exec_failed(was);
            if (next)
                kfree((void *)next->argv);
        }
    }
    if (mfd >= 0)
        hsys1(__NR_close, mfd);
    take_back(K.trace_fd);
    take_back(K.report_fd);
    take_back(K.core_fd);
    take_back(K.image_fd);
    take_back(port_fd);
    take_back(K.bi_fd);
    trace_summary_take_back();
    shared_take_back();
    return r;
}

/* Implements execveat(2), fexecve's AT_EMPTY_PATH included: name the
 * program, check what Linux checks before the point of no return
 * (exec_resolve, "#!" scripts included), write the exec block, boot
 * again. */
long sys_execveat(long dirfd, const char *path, char *const argv[], char *const envp[], long flags)
{
    if (!path)
        return -EFAULT;
    dirfd = (int)dirfd;              /* an int: callers leave the upper half undefined */
    if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
        return -EINVAL;
    if (ls_self_fd < 0)
        return -ENOSYS;
    unsigned long limit = arg_limit();
    long argc = count_vec(argv, limit), envc = count_vec(envp, limit);
    if (argc < 0)
        return argc;
    if (envc < 0)
        return envc;
    /* Room for argv plus, per script level, interpreter and argument; an
     * empty argv gets "" as its argv[0], as Linux does since 5.18. */
    int room = (argc ? argc : 1) + 2 * (LS_EXEC_MAX_DEPTH + 1);
    struct exec_req *q = kmalloc(sizeof *q);
    char *cwd = kmalloc(LS_PATH_MAX);
    const char **args = kmalloc((room + 1) * sizeof(char *));
    uint32_t *offs = kmalloc((room + envc + 1) * sizeof(uint32_t));
    struct blob b = {0};
    long r = -ENOMEM;
    if (!q || !cwd || !args || !offs)
        goto out;
    cwd_get(cwd);
    if ((r = name_program(q, dirfd, path, flags)) < 0)
        goto out;
    q->args = args;
    q->room = room;
    q->nargs = argc ? argc : 1;
    args[0] = "";
    if (argc && copy_from_user(args, argv, argc * sizeof *args) < 0) {
        r = -EFAULT;
        goto out;
    }
    /* Linux opens the program without an fd: a process with every fd below
     * its soft limit in use still executes another (its close-on-exec fds
     * make room for the new program). */
    long soft = kfd_room_begin();
    if ((r = exec_resolve(q)) >= 0 && (r = write_exec_block(&b, q, envp, envc, cwd, offs, limit)) >= 0)
        r = boot_again(&b, soft);
    kfd_room_end(soft);
out:
    kfree(b.buf);
    kfree(args);
    kfree(offs);
    kfree(q);
    kfree(cwd);
    return r;
}
