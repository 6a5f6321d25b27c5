/*
 * The per-fd table and the working directory: the only mutable file-system
 * state.  Both sit behind one spin lock, held only for pointer updates and
 * short copies, never across a host call that can block.
 *
 * Ordering that keeps the table right without holding the lock across host
 * calls: close detaches the entry *before* the host close, and open records
 * it *after* the host open returned the number, so a number reused by another
 * thread in between is always recorded last.
 */
#include "fs.h"
#include "proc/ptable.h"

static int lockword;
static struct kofd **ft;        /* indexed by fd; grown on demand */
static long ftcap;
static char cwd[LS_PATH_MAX] = "/";
static int cwd_host;

int fs_placeholder_fd = -1, fs_placeholder_path_fd = -1;
unsigned char *fs_based, *fs_kept;
long fs_based_len, fs_kept_len;

/* Keeps fs_based and fs_kept in step with ft; called with the lock held. */
static void mark(long fd, const struct kofd *o)
{
    if (fs_based && fd < fs_based_len)
        fs_based[fd] = !o ? 0 : (o->flags & KF_F_BASED) ? FD_WINDOW : (o->flags & KF_F_GEN) ? FD_GEN
                                : (o->flags & KF_F_DIR) ? FD_DIR
                                : o->kind == KF_HOST && (o->flags & KF_F_SYNTH) && synth_is_mem(o->ent)
                                ? FD_MEM : 0;
    if (fs_kept && fd < fs_kept_len)
        fs_kept[fd] = fd_kept_bits(o);
}

void fs_lock(void)
{
    while (__atomic_exchange_n(&lockword, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&lockword, __ATOMIC_RELAXED))
            __asm__ volatile("pause");
}

void fs_unlock(void)
{
    __atomic_store_n(&lockword, 0, __ATOMIC_RELEASE);
}

/* fd_dup_enter's and fd_refuse_begin's (fs.h): a refusal under way, and
 * the dups the host is making.  Sequentially consistent: a dup counts
 * itself then looks for a refusal, a refusal marks itself then waits for
 * the count, so one of them always sees the other. */
static int refusing, duping;

void fd_dup_enter(void)
{
    for (;;) {
        while (__atomic_load_n(&refusing, __ATOMIC_SEQ_CST))
            __asm__ volatile("pause");
        __atomic_fetch_add(&duping, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&refusing, __ATOMIC_SEQ_CST))
            return;
        __atomic_fetch_sub(&duping, 1, __ATOMIC_SEQ_CST);
    }
}

void fd_dup_leave(void)
{
    __atomic_fetch_sub(&duping, 1, __ATOMIC_SEQ_CST);
}

void fd_refuse_begin(void)
{
    while (__atomic_exchange_n(&refusing, 1, __ATOMIC_SEQ_CST))
        __asm__ volatile("pause");
    while (__atomic_load_n(&duping, __ATOMIC_SEQ_CST))
        __asm__ volatile("pause");
}

void fd_refuse_end(void)
{
    __atomic_store_n(&refusing, 0, __ATOMIC_SEQ_CST);
}

void fs_fork_child(void)
{
    lockword = 0;
    refusing = duping = 0;      /* another thread's, which the child has not */
    upper_cache_after_fork();
    data_file_after_fork();
}

/* Below the guest's limit, or any fd but the kernel's: one the guest had
 * before its limit was lowered stays its own, as on Linux. */
int fd_valid(long fd)
{
    if (fd < 0)
        return 0;
    if (fd < K.nofile_limit)
        return 1;
    return fd >= K.nofile_limit + KFD_RESERVED || !(K.kfd_mask >> (fd - K.nofile_limit) & 1);
}

struct kdirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

void fd_each_guest(void (*fn)(long fd, void *arg), void *arg)
{
    long d = hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (d < 0)
        return;
    char buf[1024];
    long got;
    while ((got = hsys3(__NR_getdents64, d, (long)buf, sizeof buf)) > 0)
        for (long off = 0; off < got;) {
            const struct kdirent64 *e = (const struct kdirent64 *)(buf + off);
            off += e->reclen;
            long fd = 0;
            const char *c = e->name;
            if (*c < '0' || *c > '9')
                continue;
            for (; *c >= '0' && *c <= '9'; c++)
                fd = fd * 10 + (*c - '0');
            if (fd != d && fd_valid(fd))
                fn(fd, arg);
        }
    hsys1(__NR_close, d);
}

int fd_host_open(long fd)
{
    return hsys2(__NR_fcntl, fd, F_GETFD) >= 0;
}

struct kofd *kofd_new(int kind, int flags, int ent, long arg, const char *path)
{
    size_t pl = path ? strlen(path) + 1 : 0;
    struct kofd *o = kmalloc(sizeof *o + pl);
    if (!o)
        return 0;
    o->refs = 1;
    o->kind = kind;
    o->flags = flags;
    o->ent = ent;
    o->arg = arg;
    o->pos = 0;
    o->ino = 0;
    o->stamp = 0;
    o->fl = 0;
    o->own_pid = 0;
    o->own_type = o->owned = o->sig = 0;
    o->geof = 0;
    o->gen = 0;
    o->rpos = -1;
    o->opener = 0;
    o->path = 0;
    if (path) {
        o->path = (char *)(o + 1);
        memcpy(o->path, path, pl);
    }
    return o;
}

void kofd_put(struct kofd *o)
{
    if (!o)
        return;
    fs_lock();
    int last = --o->refs == 0;
    fs_unlock();
    if (last) {
        kfree(o->gen);
        kfree(o);
    }
}

/* Makes room for index fd; called with the lock held. */
static int grow(long fd)
{
    if (fd < ftcap)
        return 0;
    long cap = ftcap ? ftcap : 64;
    while (cap <= fd)
        cap *= 2;
    struct kofd **n = kzalloc(cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    if (ft)
        memcpy(n, ft, ftcap * sizeof *n);
    kfree(ft);
    ft = n;
    ftcap = cap;
    return 0;
}

void fd_mark_all(void)
{
    fs_lock();
    for (long fd = 0; fd < ftcap; fd++)
        mark(fd, ft[fd]);
    fs_unlock();
}

int fd_install(int fd, struct kofd *o)
{
    struct kofd *old = 0;
    int r = 0;
    fs_lock();
    if (fd < ftcap) {
        old = ft[fd];
        ft[fd] = o;
    } else if (o) {
        r = grow(fd);
        if (r == 0)
            ft[fd] = o;
    }
    mark(fd, r == 0 ? o : 0);
    fs_unlock();
    kofd_put(old);
    if (r < 0)
        kofd_put(o);
    return r;
}

struct kofd *fd_get(long fd)
{
    struct kofd *o = 0;
    fs_lock();
    if (fd >= 0 && fd < ftcap && (o = ft[fd]))
        o->refs++;
    fs_unlock();
    return o;
}

long fd_next_nofollow(long from)
{
    long r = -1;
    fs_lock();
    for (long fd = from < 0 ? 0 : from; fd < ftcap && r < 0; fd++)
        if (ft[fd] && ft[fd]->kind == KF_HOST && (ft[fd]->flags & KF_F_NOFOLLOW))
            r = fd;
    fs_unlock();
    return r;
}

long fd_next_kept(long from)
{
    long r = -1;
    fs_lock();
    for (long fd = from < 0 ? 0 : from; fd < ftcap && r < 0; fd++)
        if (ft[fd] && ft[fd]->kind != KF_HOST)
            r = fd;
    fs_unlock();
    return r;
}

struct kofd *fd_detach(long fd)
{
    struct kofd *o = 0;
    fs_lock();
    if (fd >= 0 && fd < ftcap) {
        o = ft[fd];
        ft[fd] = 0;
        mark(fd, 0);
    }
    fs_unlock();
    return o;
}

long fd_window(long fd, struct kofd **op, unsigned long *base, unsigned long *size)
{
    struct kofd *o = fd_get(fd);
    if (!o || !(o->flags & KF_F_BASED)) {
        kofd_put(o);
        return -EBADF;
    }
    const struct ls_fs_entry *e = img_ent(o->ent);
    *base = e->data_off;
    *size = e->data_size;
    *op = o;
    return 0;
}

void fd_detach_range(unsigned long lo, unsigned long hi)
{
    for (unsigned long fd = lo; fd <= hi && (long)fd < ftcap; fd++)
        kofd_put(fd_detach(fd));
}

long fd_copy_path(long fd, char *buf, size_t n)
{
    long r = -ENOENT;
    fs_lock();
    if (fd >= 0 && fd < ftcap && ft[fd] && ft[fd]->path)
        r = strlcpy(buf, ft[fd]->path, n);
    fs_unlock();
    if (r >= (long)n)
        r = -ENAMETOOLONG;
    return r;
}

int fd_has_path(long fd)
{
    fs_lock();
    int r = fd >= 0 && fd < ftcap && ft[fd] && ft[fd]->path;
    fs_unlock();
    return r;
}

int fd_link_by_path(long fd)
{
    struct stat st;
    if (!fd_has_path(fd))
        return 0;
    return hsys2(__NR_fstat, fd, (long)&st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 0;
}

/* Records o (NULL: no entry) for new host fd hfd (>= 0): the fd, or -errno
 * (the host fd closed). */
static long install(long hfd, struct kofd *o)
{
    if (!fd_valid(hfd)) {
        kofd_put(o);
        hsys1(__NR_close, hfd);
        return -EMFILE;
    }
    if (fd_install(hfd, o) < 0) {       /* which put o */
        hsys1(__NR_close, hfd);
        return -ENOMEM;
    }
    return hfd;
}

long fs_install(long hfd, int kind, int flags, int ent, long arg, const char *path)
{
    if (hfd < 0)
        return hfd;
    struct kofd *o = kind ? kofd_new(kind, flags, ent, arg, path) : 0;
    if (kind && !o) {
        hsys1(__NR_close, hfd);
        return -ENOMEM;
    }
    return install(hfd, o);
}

long fs_install_image(long hfd, int kind, int flags, int arg, const struct fs_node *n)
{
    if (hfd < 0)
        return hfd;
    struct kofd *o = kofd_new(kind, flags, n->o.ent, arg, n->path);
    if (!o) {
        hsys1(__NR_close, hfd);
        return -ENOMEM;
    }
    o->ino = n->o.ino;
    return install(hfd, o);
}

long fs_install_gen(long hfd, const struct fs_node *n)
{
    if (hfd < 0)
        return hfd;
    struct kofd *o = kofd_new(KF_HOST, KF_F_SYNTH | KF_F_GEN, n->o.ent, n->o.arg, n->path);
    if (!o) {
        hsys1(__NR_close, hfd);
        return -ENOMEM;
    }
    o->opener = fs_pid();
    return install(hfd, o);
}

/* Whether guest path p is from or below it: then its path after the rename
 * (from's part replaced by to) into buf (LS_PATH_MAX bytes). */
static int renamed_one(const char *p, const char *from, const char *to, char *buf)
{
    size_t fl = strlen(from);
    if (strncmp(p, from, fl) != 0 || (p[fl] != 0 && p[fl] != '/'))
        return 0;
    return ksnprintf(buf, LS_PATH_MAX, "%s%s", to, p + fl) < LS_PATH_MAX;
}

static int renamed(const char *p, const char *from, const char *to, int exchange, char *buf)
{
    return renamed_one(p, from, to, buf) || (exchange && renamed_one(p, to, from, buf));
}

/* The fds that name a renamed file follow it, as Linux's follow their
 * dentry: /proc/self/fd/N and the *at calls on a directory fd name the new
 * path.  An entry is shared by dups and holds its path, so each entry below
 * a renamed name is replaced by a new one in every slot that has it (a call
 * in flight keeps the old one); the stamp marks those made by this pass, which
 * an exchange would otherwise rename back. */
void fd_renamed(const char *from, const char *to, int exchange)
{
    static unsigned passes;
    char *buf = kmalloc(2 * LS_PATH_MAX), *cwdp = buf + LS_PATH_MAX;
    if (!buf)
        return;
    struct kofd *dead = 0;
    fs_lock();
    unsigned stamp = ++passes ? passes : ++passes;
    for (long fd = 0; fd < ftcap; fd++) {
        struct kofd *o = ft[fd], *n;
        if (!o || !o->path || o->stamp == stamp || !renamed(o->path, from, to, exchange, buf))
            continue;
        if (!(n = kofd_new(o->kind, o->flags, o->ent, o->arg, buf)))
            continue;
        n->pos = o->pos;
        n->ino = o->ino;
        n->stamp = stamp;
        n->refs = 0;
        for (long j = fd; j < ftcap; j++)
            if (ft[j] == o) {
                ft[j] = n;
                n->refs++;
                o->refs--;
            }
        if (o->refs == 0) {
            o->path = (char *)dead;     /* freed after the lock: a list through the paths */
            dead = o;
        }
    }
    int moved = renamed(cwd, from, to, exchange, cwdp);
    fs_unlock();
    while (dead) {
        struct kofd *next = (struct kofd *)dead->path;
        kfree(dead);
        dead = next;
    }
    if (moved)
        cwd_set(cwdp, cwd_on_host());   /* the host's cwd, a directory, moved with it */
    kfree(buf);
}

long fd_next_stub(unsigned long ino, long from, struct kofd **op)
{
    long r = -ENOENT;
    fs_lock();
    for (long fd = from; ino && fd < ftcap; fd++) {
        struct kofd *o = ft[fd];
        if (o && o->ino == ino && (o->kind == KF_IMAGE || (o->flags & KF_F_IMAGE))) {
            o->refs++;
            *op = o;
            r = fd;
            break;
        }
    }
    fs_unlock();
    return r;
}

/* Under the lock, so that an fd closed meanwhile (detached before its host
 * close) is not replaced; dup3 and fcntl do not block. */
void fd_replace(struct kofd *o, long hfd, struct kofd *n)
{
    fs_lock();
    for (long fd = 0; fd < ftcap; fd++) {
        if (ft[fd] != o)
            continue;
        long cl = hsys2(__NR_fcntl, fd, F_GETFD);
        if (cl < 0 || hsys3(__NR_dup3, hfd, fd, (cl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
            continue;
        ft[fd] = n;
        n->refs++;
        o->refs--;                      /* the caller holds one: never the last */
        mark(fd, n);
    }
    fs_unlock();
}

/* Exported to the rest of the kernel: a copy of the guest path fd was
 * opened by (the caller frees it), or NULL.  A copy: a rename replaces the
 * entry that holds it (fd_renamed). */
char *fs_fd_path(int fd)
{
    struct kofd *o = fd_get(fd);
    char *p = o && o->path ? kstrdup(o->path) : 0;
    kofd_put(o);
    return p;
}

void cwd_get(char *buf)
{
    fs_lock();
    memcpy(buf, cwd, strlen(cwd) + 1);
    fs_unlock();
}

void cwd_set(const char *path, int host)
{
    fs_lock();
    strlcpy(cwd, path, sizeof cwd);
    cwd_host = host;
    fs_unlock();
    ptable_set_cwd(path);
}

int cwd_on_host(void)
{
    return __atomic_load_n(&cwd_host, __ATOMIC_RELAXED);
}
