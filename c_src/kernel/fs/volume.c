/*
 * Volumes: host directories bound into the guest (struct ls_mount).  A guest
 * path at or below a mount point is opened relative to the mount's root fd,
 * its symlinks followed by the kernel (beneath.c), so neither "..", an
 * absolute symlink nor a /proc magic link leaves the volume.
 * Operations on a last component open its parent that way and then apply the
 * *at() call to the name; operations that follow the last component open it
 * (O_PATH) and act on the fd with AT_EMPTY_PATH.
 */
#include "fs.h"
#include "libsubst/handover.h"

struct vmount *fs_mnt;
int fs_nmnt;

static int under(const struct vmount *v, const char *p);

/* v->mnt_id: the unique id of the mount whose root v->root is (the tender
 * binds each volume, so its root is one), or 0: not a mount's root (a guest
 * without the sandbox opens the host directory itself), or a host before
 * Linux 6.8; and the mount's STATX_MNT_ID. */
static void mount_root_id(struct vmount *v)
{
    struct statx sx, old;
    long r = hsys5(__NR_statx, v->root, (long)"", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, (long)&sx);
    if (r < 0 || !(sx.stx_mask & STATX_MNT_ID_UNIQUE) ||
        !(sx.stx_attributes_mask & sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
        hsys5(__NR_statx, v->root, (long)"", AT_EMPTY_PATH, STATX_MNT_ID, (long)&old) < 0 ||
        !(old.stx_mask & STATX_MNT_ID))
        return;
    v->mnt_id = sx.stx_mnt_id;
    v->mnt_id_old = old.stx_mnt_id;
}

/* A tree the tender bound at path (the guest's devpts, LS_DEVPTS; a host
 * sysfs tree, handover.h's, read-only and part of /sys), served as a
 * mount beside the volumes if it is there and no volume is there already.
 * The sysfs trees share one root fd, /sys's (a directory of the guest's
 * root holding them), so that a host with many block devices costs the
 * kernel no more fds: their paths are relative to it (rlen). */
static void vol_add_bound(const char *path, int sys)
{
    static int sys_root = -1;
    for (int i = 0; i < fs_nmnt; i++)
        if (strcmp(fs_mnt[i].guest, path) == 0)
            return;
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return;                      /* the tender warned, or the host has none */
    struct vmount *v = &fs_mnt[fs_nmnt];
    v->guest = v->host = path;
    v->glen = v->rlen = strlen(path);
    v->ro = v->sys = sys;
    if (sys) {
        hsys1(__NR_close, fd);
        if (sys_root < 0) {
            fd = hsys4(__NR_openat, AT_FDCWD, (long)"/sys", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
            if (fd < 0 || (sys_root = kfd_hide(fd)) < 0) {
                if (fd >= 0)
                    hsys1(__NR_close, fd);
                return;
            }
        }
        v->root = sys_root;
        v->rlen = 4;                 /* "/sys" */
    } else if ((v->root = kfd_hide(fd)) < 0) {
        hsys1(__NR_close, fd);
        return;
    }
    fs_nmnt++;
}

static int count_tree(const char *path, void *n)
{
    ++*(int *)n;
    return 0;
}

static int add_tree(const char *path, void *room)
{
    char *p = fs_nmnt < *(int *)room ? kstrdup(path) : 0;
    if (p)
        vol_add_bound(p, 1);
    return 0;
}

int vol_init(void)
{
    int n = K.bi->nmounts;
    const struct ls_mount *m = (const struct ls_mount *)(K.blk + K.bi->mounts_off);
    int ntrees = 0;
    ls_for_each_host_tree(count_tree, &ntrees);
    fs_mnt = kzalloc((n + 1 + ntrees) * sizeof *fs_mnt);
    if (!fs_mnt)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct vmount *v = &fs_mnt[i];
        v->guest = bi_str(m[i].guest);
        v->glen = strlen(v->guest);
        while (v->glen > 0 && v->guest[v->glen - 1] == '/')
            v->glen--;
        v->rlen = v->glen;
        v->host = bi_str(m[i].host);
        v->ro = (m[i].flags & LS_MNT_RDONLY) != 0;
        v->scratch = (m[i].flags & LS_MNT_SCRATCH) != 0;
        if (v->guest[0] != '/') {
            kwarn("mount %s: guest path is not absolute", v->guest);
            return -EINVAL;
        }
        long fd = hsys4(__NR_openat, AT_FDCWD, (long)v->host, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) {
            kwarn("mount %s: cannot open host directory %s: error %ld", v->guest, v->host, -fd);
            return fd;
        }
        v->root = kfd_hide(fd);
        if (v->root < 0) {
            hsys1(__NR_close, fd);
            /* Each volume's root is one of the kernel's own fds (kernel.h). */
            if (v->root == -EMFILE)
                kwarn("mount %s: %d mounts are more than the kernel's %d fds "
                      "for them hold", v->guest, n, KFD_RESERVED);
            return v->root;
        }
        mount_root_id(v);
        fs_nmnt = i + 1;
    }
    vol_add_bound(LS_DEVPTS, 0);
    int room = n + 1 + ntrees;
    ls_for_each_host_tree(add_tree, &room);
    n = fs_nmnt;
    /* A mount at "/" (the writable root's layer, a container's rooted
     * volume) is never alone: its walk classifies and expands each step. */
    for (int i = 0; i < n; i++) {
        struct vmount *v = &fs_mnt[i];
        /* A host sysfs tree is never alone: its links are followed by the
     * guest's walk, from one tree to another (/sys/block to a disk's). */
    v->alone = v->glen > 0 && !v->sys && !img_has_below(v->guest, v->glen);
        for (int j = 0; j < n; j++)
            if (j != i && fs_mnt[j].glen > v->glen && under(v, fs_mnt[j].guest))
                v->alone = 0;
    }
    return 0;
}

/* Guest path of mount m is guest[0..glen); "/" has glen 0. */
static int under(const struct vmount *v, const char *p)
{
    return strncmp(p, v->guest, v->glen) == 0 && (p[v->glen] == 0 || p[v->glen] == '/');
}

int vol_find(const char *p)
{
    int best = -1;
    for (int i = 0; i < fs_nmnt; i++)
        if (i != fs_upper && under(&fs_mnt[i], p) && (best < 0 || fs_mnt[i].glen > fs_mnt[best].glen))
            best = i;
    return best;
}

int vol_find_among(const int *list, int n, const char *p)
{
    int best = -1;
    for (int k = 0; k < n; k++)
        if (under(&fs_mnt[list[k]], p) && (best < 0 || fs_mnt[list[k]].glen > fs_mnt[best].glen))
            best = list[k];
    return best;
}

int vol_at_or_below(int m, const char *dir)
{
    const struct vmount *v = &fs_mnt[m];
    size_t dl = strlen(dir);
    return m != fs_upper && v->glen >= dl && strncmp(v->guest, dir, dl) == 0 &&
           (v->glen == dl || v->guest[dl] == '/');
}

int vol_is_ancestor(const char *p)
{
    size_t pl = strcmp(p, "/") == 0 ? 0 : strlen(p);
    for (int i = 0; i < fs_nmnt; i++) {
        const struct vmount *v = &fs_mnt[i];
        if (v->glen > pl && strncmp(v->guest, p, pl) == 0 && v->guest[pl] == '/')
            return 1;
    }
    return 0;
}

int vol_ro(const struct fs_node *n)
{
    return fs_mnt[n->o.ent].ro;
}

const char *vol_rel(const struct fs_node *n)
{
    const char *r = n->path + fs_mnt[n->o.ent].rlen;
    while (*r == '/')
        r++;
    return *r ? r : ".";
}

int vol_rooted(int m)
{
    return m != fs_upper && fs_mnt[m].glen == 0;
}

/* The guest path p of mount m beneath its root ("." for the root). */
static const char *rel_of(int m, const char *p)
{
    const char *r = p + fs_mnt[m].rlen;
    while (*r == '/')
        r++;
    return *r ? r : ".";
}

/* One host call each, relative to the root: the walk has expanded every
 * symlink before p's last component, so a concurrent rename can only make
 * these see another name, never open one (upper.c argues the same). */
unsigned vol_lmode(int m, const char *p)
{
    struct stat st;
    long r = hsys4(__NR_newfstatat, fs_mnt[m].root, (long)rel_of(m, p), (long)&st,
                   AT_SYMLINK_NOFOLLOW);
    return r < 0 ? 0 : st.st_mode & S_IFMT;
}

long vol_readlink(int m, const char *p, char *buf, size_t cap)
{
    return hsys4(__NR_readlinkat, fs_mnt[m].root, (long)rel_of(m, p), (long)buf, cap);
}

long vol_open(struct fs_node *n, int flags, int mode)
{
    flags &= FS_VALID_OPEN_FLAGS;
    if (!(flags & (O_CREAT | __O_TMPFILE)))
        mode = 0;
    if (flags & O_PATH)
        flags &= FS_O_PATH_FLAGS;
    const char *rel = vol_rel(n);
    if (n->dir_required && strcmp(rel, ".") != 0) {
        /* Keep the trailing '/': the host then insists on a directory. */
        size_t rl = strlen(rel);
        if (rl + 2 > sizeof n->tmp)
            return -ENAMETOOLONG;
        memcpy(n->tmp, rel, rl);
        n->tmp[rl] = '/';
        n->tmp[rl + 1] = 0;
        rel = n->tmp;
    }
    /* Never a set-user/group-ID file on the host: a root caller's guest
     * writes a volume as host root (seccomp refuses these bits to chmod). */
    return vol_open_beneath(n->o.ent, rel, flags, mode & 01777);
}

long vol_path(struct fs_node *n, int flags)
{
    return KFD_ROOM_RETRY(vol_open(n, O_PATH | O_CLOEXEC | flags, 0));
}

/* Where an *at() call that does not follow n's last component names it:
 * the directory fd returned (the caller closes it when *owned) and *name.
 * The volume's root itself when n is directly in it, so no host call is
 * needed to reach it; else its parent, opened beneath the root.  -EAGAIN
 * for what only the whole walk resolves: a path that must be a directory. */
long vol_at(struct fs_node *n, const char **name, int *owned)
{
    *name = vol_rel(n);
    *owned = 0;
    if (n->dir_required || strcmp(*name, "..") == 0)
        return -EAGAIN;
    if (!strchr(*name, '/'))
        return fs_mnt[n->o.ent].root;
    *owned = 1;
    return vol_parent(n, name);
}

/* Whether the host resolved n's directories beneath its volume's root with
 * no symlink (resolved): so noted in the walk's cache, under the generation
 * the walk read, for vol_statx_resolved.  A change the guest makes to a
 * name on the way moves the generation on; one the host makes, the mount
 * check there answers for. */
static void note_resolved(struct fs_node *n, int resolved)
{
    const struct vmount *v = &fs_mnt[n->o.ent];
    if (fs_upper < 0 || n->o.ent == fs_upper || !v->alone || !v->mnt_id ||
        n->o.resolved == resolved)
        return;
    struct fs_obj o = n->o;
    o.resolved = resolved;
    upper_cache_put(n->path, n->gen, &o);
}

/*
 * A file a directory or more below the volume's root costs an fd to stat
 * the way vol_stat goes (the directories' openat2, an fstatat, a close):
 * an O_PATH open and close cost the host more than the stat itself
 * (benchmarks/host_floors.py).  Once those directories were resolved with
 * no symlink (note_resolved), the whole path is one statx from the root,
 * not followed, and the host's answer is taken only if it comes from the
 * volume's own mount: that mount holds the volume's tree alone, so
 * whatever the host has made of the path since, a symlink of its own on
 * the way included, the answer names a file inside the volume.  Any other
 * answer (an error, another mount) is left to vol_stat's way.
 */
long vol_statx_resolved(struct fs_node *n, int sync, unsigned mask, struct statx *sx)
{
    const struct vmount *v = &fs_mnt[n->o.ent];
    if (!n->o.resolved || !v->mnt_id || n->dir_required)
        return -EAGAIN;
    long r = hsys5(__NR_statx, v->root, (long)vol_rel(n), AT_SYMLINK_NOFOLLOW | sync,
                   mask | STATX_MNT_ID_UNIQUE, (long)sx);
    if (r < 0 || !(sx->stx_mask & STATX_MNT_ID_UNIQUE) || sx->stx_mnt_id != v->mnt_id)
        return -EAGAIN;
    /* As the host's answer to the guest's own mask: Linux gives
     * STATX_MNT_ID whether asked or not. */
    sx->stx_mask = (sx->stx_mask & ~STATX_MNT_ID_UNIQUE) | STATX_MNT_ID;
    sx->stx_mnt_id = v->mnt_id_old;
    return 0;
}

/* struct stat from a statx of the basic fields, as Linux's cp_new_stat. */
static void statx_to_stat(const struct statx *sx, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = FS_MKDEV(sx->stx_dev_major, sx->stx_dev_minor);
    st->st_ino = sx->stx_ino;
    st->st_nlink = sx->stx_nlink;
    st->st_mode = sx->stx_mode;
    st->st_uid = sx->stx_uid;
    st->st_gid = sx->stx_gid;
    st->st_rdev = FS_MKDEV(sx->stx_rdev_major, sx->stx_rdev_minor);
    st->st_size = sx->stx_size;
    st->st_blksize = sx->stx_blksize;
    st->st_blocks = sx->stx_blocks;
    st->st_atime = sx->stx_atime.tv_sec;
    st->st_atime_nsec = sx->stx_atime.tv_nsec;
    st->st_mtime = sx->stx_mtime.tv_sec;
    st->st_mtime_nsec = sx->stx_mtime.tv_nsec;
    st->st_ctime = sx->stx_ctime.tv_sec;
    st->st_ctime_nsec = sx->stx_ctime.tv_nsec;
}

/* The host's stat of n: an fstatat of its name, not followed, in one host
 * call for the common case (vol_statx_resolved's below the root); only a
 * symlink to follow takes the whole walk. */
long vol_stat(struct fs_node *n, int follow, struct stat *st)
{
    struct statx sx;
    if (n->absent)
        return -ENOENT;                 /* the layer's answer, a host call ago */
    if (vol_statx_resolved(n, 0, STATX_BASIC_STATS, &sx) == 0 &&
        !(follow && S_ISLNK(sx.stx_mode))) {
        statx_to_stat(&sx, st);
        return 0;
    }
    const char *name;
    int owned;
    long r, dir = vol_at(n, &name, &owned);
    if (dir >= 0) {
        r = hsys4(__NR_newfstatat, dir, (long)name, (long)st, AT_SYMLINK_NOFOLLOW);
        if (owned)
            hsys1(__NR_close, dir);
        if (r < 0 || !follow || (st->st_mode & S_IFMT) != S_IFLNK)
            return r;
    } else if (dir != -EAGAIN) {
        return dir;
    }
    long fd = vol_path(n, follow ? 0 : O_NOFOLLOW);
    if (fd < 0)
        return fd;
    r = hsys2(__NR_fstat, fd, (long)st);
    hsys1(__NR_close, fd);
    return r;
}

long vol_parent(struct fs_node *n, const char **name)
{
    const char *rel = vol_rel(n);
    size_t rl = strlen(rel);
    char *t = n->tmp;
    if (rl + 2 > sizeof n->tmp)
        return -ENAMETOOLONG;
    memcpy(t, rel, rl + 1);
    char *slash = strrchr(t, '/');
    const char *dir = ".";
    char *base = t;
    if (slash) {
        *slash = 0;
        dir = t;
        base = slash + 1;
    }
    if (n->dir_required && strcmp(base, ".") != 0) {
        size_t bl = strlen(base);
        base[bl] = '/';
        base[bl + 1] = 0;
    }
    *name = base;
    int resolved;
    long fd = vol_dir_beneath(n->o.ent, dir, &resolved);
    if (fd == -EXDEV)
        vol_relink_add(base);
    if (fd >= 0)
        note_resolved(n, resolved);
    return fd;
}
