/*
 * What the file system's handlers ask of a synthetic node (synth.c's
 * table): a link's target, stat, open, access.  A /dev node and an fd with
 * no guest path (ST_FDHOST) are the host's objects, asked of the host by
 * their host path; the others are answered here, a file opened as its
 * generated memfd (synth_gen.c), a directory as a placeholder fd.
 */
#include "synth.h"

void synth_fdhost_path(const struct fs_obj *o, char *buf, size_t cap)
{
    if (o->ent == SID_CWDHOST)
        strlcpy(buf, "/proc/self/cwd", cap);
    else if (o->ent == SID_OFDHOST)
        synth_other_fd_path(o->arg, buf, cap);
    else if (o->ent == SID_NSHOST)
        synth_ns_path(synth_arg_task(o->arg), SID_P + synth_arg_n(o->arg), buf, cap);
    else
        ksnprintf(buf, cap, "/proc/self/fd/%ld", o->arg);
}

static long put_str(const char *s, char *dst, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(dst, s, n + 1);
    return n;
}

void synth_ns_path(long task, int id, char *buf, size_t cap)
{
    long tgid = synth_task_tgid(task);
    synth_host_task_path(task, tgid > 0 ? tgid : 0, buf, cap, synth_entry(id)->path);
}

long synth_link_target(const struct fs_obj *o, char *dst, size_t cap)
{
    if (o->ent == SID_FDLINK)
        return fd_copy_path(o->arg, dst, cap);
    const struct synth_ent *e = synth_entry(o->ent);
    if (o->ent == SID_OFDLINK ||
        ((e->gen == SL_EXE || e->gen == SL_CWD || e->gen == SL_ROOT) &&
         synth_task_tgid(o->arg) > 0))
        return synth_other_link(o, e->gen, dst, cap);
    char num[KFMT_ULONG_MAX];
    switch (e->gen) {
    case SL_SELF:
        /* Every walk through /proc/self makes it: no format to parse. */
        kfmt_ulong(num, fs_pid(), 10);
        return put_str(num, dst, cap);
    case SL_THREAD:
        ksnprintf(num, sizeof num, "%ld/task/%ld", fs_pid(), hsys0(__NR_gettid));
        return put_str(num, dst, cap);
    case SL_FIXED:
        return put_str(e->aux, dst, cap);
    case SL_NS: {
        char hp[64];
        synth_ns_path(o->arg, o->ent, hp, sizeof hp);
        long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)hp, (long)dst, cap - 1);
        if (n >= 0)
            dst[n] = 0;
        return n == (long)cap - 1 ? -ENAMETOOLONG : n;
    }
    case SL_ROOT:
        return put_str("/", dst, cap);          /* its own root, from itself */
    case SL_EXE:
        /* The executable's real path, as Linux shows it (not AT_EXECFN). */
        return put_str(ls_prog->exe, dst, cap);
    case SL_CWD: {
        char *c = kmalloc(LS_PATH_MAX);
        if (!c)
            return -ENOMEM;
        cwd_get(c);
        long r = put_str(c, dst, cap);
        kfree(c);
        return r;
    }
    }
    return -EINVAL;
}

/* s put at buf[at...], cut at size: where the next part goes. */
static size_t put_part(char *buf, size_t size, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at < size)
        memcpy(buf + at, s, n < size - at ? n : size - at);
    return at + n;
}

/* The link of an fd whose file was unlinked, as Linux writes it: its name
 * and " (deleted)" (an O_TMPFILE file's name is "#<inode>" in the directory
 * it was made in).  The host's link says that last part; the directory is
 * the guest's, from the fd's guest path (the host's names the guest's
 * mounts by the tender's names). */
static long unlinked_target(long fd, char *buf, size_t size)
{
    char hp[40];
    char *h = kmalloc(LS_PATH_MAX), *g = kmalloc(LS_PATH_MAX);
    long n = -ENOMEM;
    if (!h || !g)
        goto out;
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
    n = hsys4(__NR_readlinkat, AT_FDCWD, (long)hp, (long)h, LS_PATH_MAX - 1);
    if (n < 0)
        goto out;
    h[n] = 0;
    if ((n = fd_copy_path(fd, g, LS_PATH_MAX)) < 0)
        goto out;
    const char *name = strrchr(h, '/') ? strrchr(h, '/') + 1 : h;
    char *gname = strrchr(g, '/') + 1;       /* a guest path is absolute */
    size_t gl = strlen(gname);
    int own = gl && strncmp(gname, name, gl) == 0 && strcmp(name + gl, " (deleted)") == 0;
    if (own)
        *gname = 0;                          /* the file's own path: its directory */
    size_t at = put_part(buf, size, 0, g);
    if (!own && gl)
        at = put_part(buf, size, at, "/");   /* an O_TMPFILE's: in the directory */
    at = put_part(buf, size, at, name);
    n = at < size ? at : size;
out:
    kfree(h);
    kfree(g);
    return n;
}

long synth_readlink(const struct fs_obj *o, char *buf, size_t size)
{
    if (o->ent == SID_FDLINK && !fd_link_by_path(o->arg)) {
        if (fd_has_path(o->arg))
            return unlinked_target(o->arg, buf, size);
        char hp[SYNTH_FDHOST_PATH_MAX];
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_readlinkat, AT_FDCWD, (long)hp, (long)buf, size);
    }
    char *t = kmalloc(LS_PATH_MAX);
    if (!t)
        return -ENOMEM;
    long n = synth_link_target(o, t, LS_PATH_MAX);
    if (n >= 0) {
        if ((size_t)n > size)
            n = size;
        memcpy(buf, t, n);
    }
    kfree(t);
    return n;
}

unsigned long synth_ino(const struct fs_obj *o)
{
    if (o->ent == SID_FDLINK || o->ent == SID_FDHOST || o->ent == SID_OFDLINK ||
        o->ent == SID_OFDHOST)
        return 0x20000UL + o->arg;
    return 0x10000UL + o->ent + ((unsigned long)o->arg << 12);   /* arg: a thread's tid */
}

void synth_fix_stat(int id, struct stat *st)
{
    st->st_dev = synth_tree_dev(id);
    st->st_ino = 0x10000UL + id;
    st->st_mode = S_IFREG | (synth_entry(id)->host_rw ? 0644 : 0444);
    st->st_nlink = 1;
    st->st_size = st->st_blocks = 0;    /* as synth_stat: procfs files have no size */
    st->st_blksize = 1024;
    st->st_uid = synth_per_process(id) ? K.bi->uid : 0;
    st->st_gid = synth_per_process(id) ? K.bi->gid : 0;
}

/* An fd's link has the permissions of the file's open mode, as Linux
 * gives it (r-x read, -wx write, rwx both, none for O_PATH: lsof's FD
 * column), and 64 for a size: the host's link of the same fd says both. */
static void fd_link_mode(const struct fs_obj *o, struct stat *st)
{
    char hp[40];
    struct stat hs;
    if (o->ent == SID_OFDLINK)
        synth_other_fd_path(o->arg, hp, sizeof hp);
    else
        ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", o->arg);
    if (hsys4(__NR_newfstatat, AT_FDCWD, (long)hp, (long)&hs, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(hs.st_mode)) {
        st->st_mode = hs.st_mode;
        st->st_size = hs.st_size;
    }
}

long synth_stat(const struct fs_obj *o, struct stat *st)
{
    const struct synth_ent *e = synth_entry(o->ent);
    char hp[SYNTH_FDHOST_PATH_MAX];
    switch (e->type) {
    case ST_CHR:
        return hsys4(__NR_newfstatat, AT_FDCWD, (long)e->path, (long)st, 0);
    case ST_FDHOST:
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_newfstatat, AT_FDCWD, (long)hp, (long)st, 0);
    }
    memset(st, 0, sizeof *st);
    st->st_dev = synth_tree_dev(o->ent);
    st->st_ino = synth_ino(o);
    st->st_blksize = 1024;
    st->st_nlink = 1;
    if (synth_per_process(o->ent)) {
        st->st_uid = K.bi->uid;
        st->st_gid = K.bi->gid;
    }
    if (synth_per_process(o->ent) && synth_task_tgid(synth_arg_task(o->arg)) > 0) {
        /* Another process's: its owner, as the host has it. */
        struct stat hs;
        ksnprintf(hp, sizeof hp, "/proc/%ld", synth_arg_task(o->arg));
        if (hsys4(__NR_newfstatat, AT_FDCWD, (long)hp, (long)&hs, 0) == 0) {
            st->st_uid = hs.st_uid;
            st->st_gid = hs.st_gid;
        }
    }
    if (e->type == ST_DIR) {
        st->st_mode = S_IFDIR | (st->st_dev == FS_DEV_DEV ? 0755 : 0555);
        st->st_nlink = 2;
    } else if (e->type == ST_LINK) {
        st->st_mode = S_IFLNK | 0777;
        if (o->ent == SID_FDLINK || o->ent == SID_OFDLINK)
            fd_link_mode(o, st);
    } else {
        st->st_mode = S_IFREG | (e->host_rw ? 0644 : 0444);
    }
    return 0;
}

/* Reopening one of the caller's own pipes or files (/dev/stdout,
 * /proc/self/fd/N) that the host refuses: a pipe the guest was given (its
 * stdout, the caller's) belongs to the caller's user, whom the guest's user
 * namespace does not map, so the host checks the pipe's mode as another
 * user's (EACCES) where Linux lets its owner reopen it; a file it was given
 * (`> log`) lies outside the paths Landlock lets the guest open.  The guest
 * holds the fd already: one opened for the access asked is duplicated, which
 * differs from a reopen only in sharing the offset and the file status flags
 * (O_NONBLOCK, O_APPEND); O_TRUNC truncates the file and rewinds it, as a
 * new open's offset starts at 0.  No other access is given than the fd's. */
static long reopen_own(const struct fs_obj *o, int flags, long refused)
{
    struct stat st;
    int acc = flags & O_ACCMODE;
    if (refused != -EACCES || o->ent != SID_FDHOST ||
        hsys2(__NR_fstat, o->arg, (long)&st) < 0 ||
        !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)) || (S_ISFIFO(st.st_mode) && acc == O_RDWR))
        return refused;
    long fl = hsys2(__NR_fcntl, o->arg, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != acc)
        return refused;
    long fd = hsys3(__NR_fcntl, o->arg, flags & O_CLOEXEC ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    if (fd >= 0 && S_ISREG(st.st_mode) && (flags & O_TRUNC) && acc != O_RDONLY) {
        long r = hsys2(__NR_ftruncate, fd, 0);
        if (r < 0) {
            hsys1(__NR_close, fd);
            return r;
        }
        hsys3(__NR_lseek, fd, 0, SEEK_SET);
    }
    return fd;
}

/* A file Linux lets a process write (host_rw, synth.c): the host's file of
 * the same task (the guest's pids are its pid namespace's), whose write
 * and access check apply Linux's rules themselves. */
static long host_rw_path(const struct fs_obj *o, char *hp, size_t cap)
{
    long task = o->arg, other = synth_task_tgid(task);
    const char *name = synth_entry(o->ent)->path;
    if (other < 0)
        return other;
    synth_host_task_path(task, other, hp, cap, name);
    return 0;
}

/* Opened to write: the host's file; an fstat of it is the synthetic
 * file's (KF_F_SYNTH). */
static long open_host_rw(const struct fs_node *n, int flags)
{
    char hp[64];
    long r = host_rw_path(&n->o, hp, sizeof hp);
    if (r < 0)
        return r;
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)hp, flags & ~(O_CREAT | O_EXCL), 0);
    return fs_install(fd, KF_HOST, KF_F_SYNTH, n->o.ent, 0, n->path);
}

long synth_open(struct fs_node *n, int flags, int mode)
{
    const struct fs_obj *o = &n->o;
    const struct synth_ent *e = synth_entry(o->ent);
    int acc = flags & O_ACCMODE;
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
        return -EEXIST;
    if (e->type == ST_CHR || e->type == ST_FDHOST) {
        char hp[SYNTH_FDHOST_PATH_MAX];
        const char *p = e->path;
        if (e->type == ST_FDHOST) {
            synth_fdhost_path(o, hp, sizeof hp);
            p = hp;
        }
        long fd = host_openat(AT_FDCWD, p, flags & ~(O_CREAT | O_EXCL), 0);   /* a pipe's: a wait */
        if (e->type == ST_FDHOST)
            fd = reopen_own(o, flags, fd);
        return fs_install(fd, e->type == ST_CHR ? KF_HOST : 0, 0, 0, 0, n->path);
    }
    if ((flags & O_DIRECTORY) && e->type != ST_DIR)
        return -ENOTDIR;
    if (e->type == ST_DIR && !(flags & O_PATH) &&
        ((flags & __O_TMPFILE) == __O_TMPFILE || acc != O_RDONLY || (flags & O_CREAT)))
        return (flags & __O_TMPFILE) == __O_TMPFILE ? -EOPNOTSUPP : -EISDIR;
    if (e->type == ST_LINK && !(flags & O_PATH))
        return -ELOOP;
    if (o->ent >= SID_P && o->ent < SID_P + synth_np && synth_task_tgid(o->arg) > 0 &&
        !(flags & O_PATH)) {
        /* Whether the caller may: the host's answer for that process. */
        long r = synth_other_access(o->arg, e->path, e->type == ST_DIR);
        if (r < 0)
            return r;
    }
    if (e->type == ST_FILE && !(flags & O_PATH) && synth_is_mem(o->ent))
        return synth_mem_open(n, flags);
    if (e->type == ST_FILE && !(flags & O_PATH)) {
        if ((acc != O_RDONLY || (flags & O_TRUNC)) && e->host_rw)
            return open_host_rw(n, flags);
        if (acc != O_RDONLY || (flags & O_TRUNC))
            return -EACCES;
        long r = synth_fd_open(n, flags);
        if (r != -ENOENT)
            return r;
        int kf;
        long fd = fs_reopen(synth_generate(e, o->arg, flags & O_CLOEXEC), flags, &kf);
        return fs_install(fd, KF_HOST, KF_F_SYNTH | kf, o->ent, 0, n->path);
    }
    int kf;
    long fd = fs_placeholder_open(flags, &kf);
    return fs_placeholder_fl(fs_install(fd, KF_SYNTH, kf, o->ent, o->arg, n->path), flags);
}

long synth_perm(const struct fs_obj *o, int mode, int flags)
{
    const struct synth_ent *e = synth_entry(o->ent);
    char hp[SYNTH_FDHOST_PATH_MAX];
    switch (e->type) {
    case ST_CHR:
        return hsys4(__NR_faccessat2, AT_FDCWD, (long)e->path, mode, flags & AT_EACCESS);
    case ST_FDHOST:
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_faccessat2, AT_FDCWD, (long)hp, mode, flags & AT_EACCESS);
    case ST_LINK:
        return 0;
    }
    if ((mode & 2 /* W_OK */) && e->host_rw) {
        char rw[64];
        long r = host_rw_path(o, rw, sizeof rw);
        return r < 0 ? r : hsys4(__NR_faccessat2, AT_FDCWD, (long)rw, mode, flags & AT_EACCESS);
    }
    if (mode & 2 /* W_OK */)
        return -EACCES;
    return perm_check(e->type == ST_DIR ? S_IFDIR | 0555 : 0444, 0, 0, mode);
}
