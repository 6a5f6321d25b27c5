/*
 * The writable root: a scratch layer over the read-only image, as a
 * container's root is (issue 14).
 *
 * The layer is the scratch mount whose guest path is "/" (Python adds it
 * unless --read-only): a tmpfs of the guest's own, sized by --scratch-size,
 * gone with the guest's mount namespace.  At the first boot the kernel lays
 * the image's shape into it: its directories and symlinks as they are, and
 * each image file as a *stub*, an empty file with both set-ID bits, made
 * with one host call.  A stub at its own path is that path's image entry;
 * before a stub leaves it (a rename of the stub or of a directory above it;
 * a stub is copied up before it is linked), its modification time is set to
 * its entry index, in seconds, which is what names the entry from then on
 * (upper_index).  From then on the layer *is* the guest's root name space
 * and the host's tmpfs does what a union would have to: listing, unlink,
 * rename, mkdir, rmdir, link, ENOSPC.  A stub is served from the image
 * (read-only, zero-copy as ever); the first change to its contents or
 * attributes copies it up: its bytes, mode and times into a new file
 * swapped in for the stub.
 *
 * Why stubs and not whiteouts over an empty layer: with every name in one
 * host directory there is nothing to merge and no deletion to remember, and
 * the cost is one host call per image entry at boot
 * (benchmarks/writable_root.py).  Why set-ID bits: the guest cannot make a
 * file with them (the seccomp filter refuses them to open, chmod and mknod)
 * nor reach a stub's times without copying it up, so it cannot forge one;
 * the layer is made before the filter is installed.
 *
 * Why the whole image at the first boot and not each directory at its first
 * lookup: the kernel and the guest are one process, so after the filter the
 * kernel cannot make a set-ID file either.  A directory laid later could
 * only hard-link a stub made at boot, and links share the inode whose time
 * names a moved stub's entry; and a directory must be complete before it
 * is listed, renamed or removed, in every process at once.  Laying costs
 * one call per entry, some 7 us (README, the writable root).
 *
 * The walk (path.c) classifies each component of the layer with one host
 * lstat beneath the layer's root; it expands the layer's symlinks itself,
 * as the image's, so an absolute target means the guest's "/".  Every access
 * after the classification goes through volume.c's open_beneath, which
 * follows no symlink out of the layer: what a concurrent rename could make
 * the lstat see is only ever a name, never an open.  What the lstat found
 * is cached (upper_cache.c) until a change in any process of the guest.
 */
#include "fs.h"

int fs_upper = -1;

#define STUB_BITS (S_ISUID | S_ISGID)
#define COPY_BUF 65536
#ifndef LOCK_EX
#define LOCK_EX 2                   /* flock(2) */
#endif

/* A regular file with both set-ID bits: none but the layout makes one. */
static int is_stub(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_mode & STUB_BITS) == STUB_BITS;
}

static int root_fd(void)
{
    return fs_mnt[fs_upper].root;
}

/* p relative to the layer's root: "/" is ".". */
static const char *rel(const char *p)
{
    while (*p == '/')
        p++;
    return *p ? p : ".";
}

int upper_classify(const char *p, uint64_t gen, struct fs_obj *o)
{
    struct stat st;
    const char *name = rel(p);
    if (name[0] == '.' && name[1] == 0) {
        /* The layer's root is its mount's root: a directory nothing can
         * remove or replace, so every absolute walk starts without asking. */
        o->mode = S_IFDIR;
        o->type = FO_VOLUME;
        o->ent = fs_upper;
        return 0;
    }
    uint64_t made = upper_made_count();    /* read before the host's answer, as gen */
    int quiet = upper_making_none();        /* no name being made meanwhile */
    long r = hsys4(__NR_newfstatat, root_fd(), (long)name, (long)&st, AT_SYMLINK_NOFOLLOW);
    if (r == -ENOENT && quiet)
        upper_cache_absent(p, gen, made);
    if (r < 0)
        return r;
    o->mode = st.st_mode & S_IFMT;
    if (is_stub(&st) && st.st_size == 0) {
        /* An index, or a boot's time: the stub is where the layout put it. */
        int e = st.st_mtime < (unsigned long)img_count() ? (int)st.st_mtime : img_lookup(p);
        int k = img_kind(e);
        if (e >= 0 && k != LS_ENT_DIR && k != LS_ENT_SYMLINK) {
            o->type = FO_IMAGE;
            o->ent = e;
            o->ino = st.st_ino;
            upper_cache_put(p, gen, o);
            return 0;
        }
    }
    o->type = FO_VOLUME;
    o->ent = fs_upper;
    upper_cache_put(p, gen, o);
    return 0;
}

unsigned long upper_dev(void)
{
    static unsigned long dev;
    struct stat root;
    if (!dev && fs_upper >= 0 && hsys2(__NR_fstat, root_fd(), (long)&root) == 0)
        dev = root.st_dev;
    return dev;
}

/* A stub stands for its image file in the layer, so stat shows the stub's
 * identity, as overlayfs shows one device for a whole root: the layer's
 * device (every file the guest makes there has it) and the stub's inode
 * (getdents of its directory gives it); the rest is the image entry's. */
void upper_identity(const struct fs_obj *o, struct stat *st)
{
    if (o->type != FO_IMAGE || !o->ino)
        return;
    unsigned long dev = upper_dev();
    if (dev) {
        st->st_dev = dev;
        st->st_ino = o->ino;
    }
}

/* upper_identity for image entry ent opened at guest path (an fd's), if
 * that path is still its stub. */
void upper_identity_at(const char *path, int ent, struct stat *st)
{
    struct fs_obj o;
    if (fs_upper >= 0 && path && fs_classify(path, &o) == 0 && o.type == FO_IMAGE && o.ent == ent)
        upper_identity(&o, st);
}

long upper_readlink(const char *p, char *dst, size_t cap)
{
    return hsys4(__NR_readlinkat, root_fd(), (long)rel(p), (long)dst, cap);
}

/* Writes entry e's index into the stub at layer path r (relative). */
static long set_index(const char *r, int e)
{
    struct __kernel_timespec ts[2] = {{e, 0}, {e, 0}};
    return hsys4(__NR_utimensat, root_fd(), (long)r, (long)ts, AT_SYMLINK_NOFOLLOW);
}

/* Every stub still at its own path below image directory dir gets its
 * index: the entries below dir follow it in the sorted table, among those
 * of its siblings that share its name as a prefix ("dir-x" sorts between
 * "dir" and "dir/a"). */
static long index_below(const char *dir)
{
    size_t dl = strlen(dir);
    int n = img_count();
    for (int i = img_lookup(dir) + 1; i > 0 && i < n; i++) {
        const char *q = img_path(i);
        if (strncmp(q, dir, dl) != 0)
            break;
        int k = img_kind(i);
        if (q[dl] != '/' || k == LS_ENT_DIR || k == LS_ENT_SYMLINK)
            continue;
        struct stat st;
        if (hsys4(__NR_newfstatat, root_fd(), (long)rel(q), (long)&st, AT_SYMLINK_NOFOLLOW) == 0 &&
            is_stub(&st) && st.st_mtime >= (unsigned long)n) {
            long r = set_index(rel(q), i);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

long upper_index(const struct fs_node *n)
{
    if (n->o.type == FO_IMAGE && n->o.mode)
        return set_index(rel(n->path), n->o.ent);
    if (n->o.type == FO_VOLUME && n->o.ent == fs_upper && S_ISDIR(n->o.mode))
        return index_below(n->path);
    return 0;
}

void upper_rename_node(struct fs_node *n)
{
    if (n->o.type == FO_IMAGE && n->o.mode) {
        n->o.type = FO_VOLUME;
        n->o.ent = fs_upper;
    }
}

/* Writes the image entry's bytes to dfd. */
static long copy_bytes(int ent, long dfd)
{
    const struct ls_fs_entry *e = img_ent(ent);
    if (e->kind == LS_ENT_DATA_FILE)
        return kwrite_all(dfd, K.blk + e->data_off, e->data_size);
    long src, off = 0, end = -1;
    if (e->kind == LS_ENT_IMAGE_FILE) {
        src = img_file_fd(ent, 1);
        off = e->data_off;
        end = off + e->data_size;
    } else {
        char hp[LS_HOST_FILE_PATH_MAX];
        src = hsys4(__NR_openat, AT_FDCWD, (long)img_host_path(ent, hp), O_RDONLY | O_CLOEXEC, 0);
    }
    char *buf = src < 0 ? 0 : kmalloc(COPY_BUF);
    long r = src < 0 ? src : buf ? 0 : -ENOMEM;
    while (r == 0) {
        long want = end < 0 || end - off > COPY_BUF ? COPY_BUF : end - off;
        long got = want ? hsys4(__NR_pread64, src, (long)buf, want, off) : 0;
        if (got == -EINTR)
            continue;
        if (got <= 0) {
            r = got;
            break;
        }
        r = kwrite_all(dfd, buf, got);
        off += got;
        if (r > 0)
            r = 0;
    }
    kfree(buf);
    if (src >= 0)
        hsys1(__NR_close, src);
    return r;
}

/* Copy-ups take turns, in every process and thread of the guest: an flock
 * on an open of the layer's root of their own (forked processes share the
 * kernel's fds, and an flock is the open file's).  Without it two processes
 * copying one file up at once each swap their copy in, and the one swapped
 * back out for the other may already be open to a third, whose writes to it
 * are lost.  The lock's fd, or -errno. */
static long copy_up_lock(void)
{
    long fd = hsys4(__NR_openat, root_fd(), (long)".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    long r = fd;
    while (fd >= 0 && (r = hsys2(__NR_flock, fd, LOCK_EX)) == -EINTR)
        ;
    if (r < 0 && fd >= 0)
        hsys1(__NR_close, fd);
    return r < 0 ? r : fd;
}

long upper_copy_up(struct fs_node *n, int data)
{
    if (n->o.type != FO_IMAGE || !n->o.mode)
        return 0;
    int ent = n->o.ent;
    struct stat st;
    long r = img_stat(ent, n->path, &st);
    if (r < 0)
        return r;
    upper_rename_node(n);
    const char *name;
    long pfd = vol_parent(n, &name), dfd = -1;
    if (pfd < 0)
        return pfd;
    long lock = copy_up_lock();
    struct stat old;
    if (lock < 0 || hsys4(__NR_newfstatat, pfd, (long)name, (long)&old, AT_SYMLINK_NOFOLLOW) < 0 ||
        !is_stub(&old)) {
        /* Another process copied it up while this one waited (or it is gone). */
        if (lock >= 0)
            hsys1(__NR_close, lock);
        hsys1(__NR_close, pfd);
        n->o.mode = S_IFREG;
        return lock < 0 ? lock : 0;
    }
    char tmp[48];
    ksnprintf(tmp, sizeof tmp, ".libsubst-copy-up.%ld", hsys0(__NR_gettid));
    hsys3(__NR_unlinkat, pfd, (long)tmp, 0);    /* left by a thread killed while copying */
    r = dfd = hsys4(__NR_openat, pfd, (long)tmp,
                    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r >= 0 && data)
        r = copy_bytes(ent, dfd);
    /* Never the set-ID bits: a host file with them is what the filter refuses. */
    if (r >= 0)
        r = hsys2(__NR_fchmod, dfd, st.st_mode & 01777);
    if (r >= 0) {
        struct __kernel_timespec ts[2] = {{st.st_atime, st.st_atime_nsec},
                                          {st.st_mtime, st.st_mtime_nsec}};
        r = hsys4(__NR_utimensat, dfd, 0, (long)ts, 0);
    }
    /* Swapped in for the stub: if the guest renamed a file of its own over
     * the stub meanwhile, that file is swapped back. */
    if (r >= 0)
        r = hsys5(__NR_renameat2, pfd, (long)tmp, pfd, (long)name, RENAME_EXCHANGE);
    unsigned long stub = old.st_ino;
    if (r >= 0 && hsys4(__NR_newfstatat, pfd, (long)tmp, (long)&old, AT_SYMLINK_NOFOLLOW) == 0 &&
        !is_stub(&old))
        hsys5(__NR_renameat2, pfd, (long)tmp, pfd, (long)name, RENAME_EXCHANGE);
    else if (r >= 0)
        upper_move_fds(stub, dfd);      /* this process's fds of the stub: upper_fd.c */
    if (dfd >= 0) {
        hsys3(__NR_unlinkat, pfd, (long)tmp, 0);
        hsys1(__NR_close, dfd);
    }
    hsys1(__NR_close, lock);
    hsys1(__NR_close, pfd);
    upper_changed();                    /* the stub's name is the copy's now */
    n->o.mode = S_IFREG;
    return r < 0 ? r : 0;
}

/* mkdir -p of p beneath the layer's root, each directory made with mode
 * (less the umask). */
static void make_dirs(const char *p, unsigned mode)
{
    char buf[LS_PATH_MAX];
    if (strlcpy(buf, rel(p), sizeof buf) >= sizeof buf)
        return;
    for (char *s = buf;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            hsys3(__NR_mkdirat, root_fd(), (long)buf, mode);
            if (!c)
                return;
            *s = c;
        }
    }
}

/* Lays entry i into the layer (umask 0); 0, or -errno for what stops the
 * boot.  One host call for each kind. */
static long lay(int i)
{
    const struct ls_fs_entry *e = img_ent(i);
    const char *p = img_path(i), *r = rel(p);
    long res;
    if (vol_find(p) >= 0 || synth_is_prefix(p))
        return 0;                       /* a volume's or the kernel's own: never the layer's */
    switch (e->kind) {
    case LS_ENT_DIR:
        res = hsys3(__NR_mkdirat, root_fd(), (long)r, e->mode & 01777);
        if (res < 0 && res != -EEXIST)
            return res;
        /* mkdir takes no set-ID bit; an existing directory (a mount point's
         * parent, made first) takes the image's mode too. */
        if (res == -EEXIST || (e->mode & STUB_BITS))
            res = hsys4(__NR_fchmodat, root_fd(), (long)r, e->mode & 07777, 0);
        return res;
    case LS_ENT_SYMLINK:
        return hsys3(__NR_symlinkat, (long)bi_str(e->target), root_fd(), (long)r);
    }
    return hsys4(__NR_mknodat, root_fd(), (long)r, S_IFREG | STUB_BITS, 0);
}

static const char *const synth_dirs[] = {"/proc", "/sys", "/dev"};

int upper_init(int first)
{
    for (int i = 0; i < fs_nmnt; i++)
        if (fs_mnt[i].glen == 0 && fs_mnt[i].scratch)
            fs_upper = i;               /* a host directory at "/" is a rooted volume */
    if (fs_upper < 0 || !first)
        return 0;
    /* Sorted by path, a directory's entry comes before its contents.  The
     * modes are the image's, whatever the umask the guest inherits. */
    long umask = hsys1(__NR_umask, 0);
    for (int i = 0; i < img_count(); i++) {
        if (strcmp(img_path(i), "/") == 0) {
            hsys4(__NR_fchmodat, root_fd(), (long)".", img_ent(i)->mode & 07777, 0);
            continue;
        }
        long r = lay(i);
        if (r < 0) {
            hsys1(__NR_umask, umask);
            kwarn("writable root: cannot lay out %s: error %ld", img_path(i), -r);
            return r;
        }
    }
    hsys1(__NR_umask, umask);
    /* Listed in "/" and their parents: the mount points and synthetic trees. */
    for (int i = 0; i < fs_nmnt; i++)
        if (i != fs_upper)
            make_dirs(fs_mnt[i].guest, 0755);
    for (unsigned i = 0; i < LS_ARRAY_SIZE(synth_dirs); i++)
        make_dirs(synth_dirs[i], 0555);
    if (img_lookup("/") < 0)
        hsys4(__NR_fchmodat, root_fd(), (long)".", 0755, 0);
    return 0;
}
