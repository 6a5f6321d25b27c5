/*
 * Volumes: host directories bound into the guest (struct ls_mount).  A guest
 * path at or below a mount point is opened relative to the mount's root fd,
 * its symlinks followed here (open_beneath), so neither "..", an absolute
 * symlink nor a /proc magic link leaves the volume.
 * Operations on a last component open its parent that way and then apply the
 * *at() call to the name; operations that follow the last component open it
 * (O_PATH) and act on the fd with AT_EMPTY_PATH.
 */
#include "fs.h"

struct vmount *fs_mnt;
int fs_nmnt;

int vol_init(void)
{
    int n = K.bi->nmounts;
    if (n == 0)
        return 0;
    const struct ls_mount *m = (const struct ls_mount *)(K.blk + K.bi->mounts_off);
    fs_mnt = kzalloc(n * sizeof *fs_mnt);
    if (!fs_mnt)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct vmount *v = &fs_mnt[i];
        v->guest = bi_str(m[i].guest);
        v->glen = strlen(v->guest);
        while (v->glen > 0 && v->guest[v->glen - 1] == '/')
            v->glen--;
        v->host = bi_str(m[i].host);
        v->ro = (m[i].flags & LS_MNT_RDONLY) != 0;
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
            return v->root;
        }
        fs_nmnt = i + 1;
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
        if (under(&fs_mnt[i], p) && (best < 0 || fs_mnt[i].glen > fs_mnt[best].glen))
            best = i;
    return best;
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
    const char *r = n->path + fs_mnt[n->o.ent].glen;
    while (*r == '/')
        r++;
    return *r ? r : ".";
}

/* open(2) of rel beneath dirfd, as openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS would: symlinks are followed here, one component at
 * a time, and one that is absolute or leads above dirfd is EXDEV.  The host
 * never follows a symlink itself.  (The host's openat2 is not in the
 * seccomp allow-list: its flags and mode are in memory, where a filter
 * cannot see a set-user-ID mode.) */
static long open_beneath(int dirfd, const char *rel, int flags, int mode)
{
    char *res = kmalloc(LS_PATH_MAX), *rest = kmalloc(LS_PATH_MAX), *link = kmalloc(LS_PATH_MAX);
    long r = -ENOMEM;
    if (!res || !rest || !link)
        goto out;
    size_t rl = strlen(rel);
    int slash = rl > 0 && rel[rl - 1] == '/';   /* the host then insists on a directory */
    int follow_last = slash || !((flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL)));
    r = -ENAMETOOLONG;
    if (strlcpy(rest, rel, LS_PATH_MAX) >= LS_PATH_MAX)
        goto out;
    res[0] = 0;
    size_t len = 0;                              /* strlen(res): resolved, free of symlinks */
    int links = 0;
    char *p = rest;
    while (*p) {
        char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t cl = p - comp;
        while (*p == '/')
            p++;
        int last = *p == 0;
        if (cl == 0 || (cl == 1 && comp[0] == '.'))
            continue;
        if (cl == 2 && comp[0] == '.' && comp[1] == '.') {
            r = -EXDEV;                          /* above the volume's root */
            if (len == 0)
                goto out;
            while (len > 0 && res[len - 1] != '/')
                len--;
            len = len > 0 ? len - 1 : 0;
            res[len] = 0;
            continue;
        }
        r = -ENAMETOOLONG;
        if (len + 1 + cl + 1 > LS_PATH_MAX)
            goto out;
        size_t was = len;
        if (len)
            res[len++] = '/';
        memcpy(res + len, comp, cl);
        len += cl;
        res[len] = 0;
        if (last && !follow_last)
            break;
        long n = hsys4(__NR_readlinkat, dirfd, (long)res, (long)link, LS_PATH_MAX - 1);
        if (n < 0 && n != -EINVAL && n != -ENOENT) {
            r = n;
            goto out;
        }
        if (n < 0)
            continue;                            /* not a symlink, or missing: the open says */
        r = -ELOOP;
        if (++links > 40)
            goto out;
        r = -EXDEV;
        if (link[0] == '/')
            goto out;                            /* absolute: outside the volume */
        link[n] = 0;
        /* The link's target takes its place in what is left to resolve. */
        r = -ENAMETOOLONG;
        size_t tl = n, pl = strlen(p);
        if (tl + 1 + pl + 1 > LS_PATH_MAX)
            goto out;
        memmove(rest + tl + 1, p, pl + 1);
        memcpy(rest, link, tl);
        rest[tl] = '/';
        p = rest;
        len = was;
        res[len] = 0;
    }
    r = -ENAMETOOLONG;
    if (len + 3 > LS_PATH_MAX)
        goto out;
    if (len == 0)
        res[len++] = '.';
    if (slash)
        res[len++] = '/';
    res[len] = 0;
    do
        r = hsys4(__NR_openat, dirfd, (long)res, flags | O_NOFOLLOW, mode);
    while (r == -EINTR);
out:
    kfree(res);
    kfree(rest);
    kfree(link);
    return r;
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
    return open_beneath(fs_mnt[n->o.ent].root, rel, flags, mode & 01777);
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
    return open_beneath(fs_mnt[n->o.ent].root, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
}
