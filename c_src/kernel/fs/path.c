/*
 * The path walk: a guest path (absolute, or relative to the cwd or to a
 * dirfd's recorded guest path) becomes a normalised absolute guest path and
 * the object that serves it (struct fs_obj).
 *
 * Components are taken one at a time; "" and "." are skipped and ".." pops
 * (never above "/").  After each step the path so far is classified:
 *   - a file (not a directory) of the image: the image, even below a mount;
 *   - at or below a mount point: from there on the walk is lexical, and the
 *     host resolves the rest beneath the mount's root (symlinks inside a
 *     volume are the host's business) -- except in a rooted volume (a
 *     container's root at "/", libsubst-runtime's), classified with one
 *     lstat as the writable root's layer and its symlinks expanded here, so
 *     an absolute one leads wherever the guest's "/" does; below any other
 *     mount with no image entry and no other mount under it, nothing is
 *     left to classify;
 *   - under /proc, /sys or /dev: the synthetic trees;
 *   - otherwise the writable root's layer (upper.c), or the image with
 *     --read-only, where a symlink met before the last component (or
 *     as the last one when following) is expanded: its target replaces the
 *     component in the remaining path, an absolute target restarting at "/".
 * After chroot (root.c) an absolute path or symlink starts at the process's
 * root instead of "/", and ".." stops there.
 * At most 40 expansions (ELOOP), as Linux.  No recursion: the remaining path
 * lives in n->tmp and the expansion is spliced into it.
 */
#include "fs.h"

#define MAX_LINKS 40

/* Every call that names a path walks it in a node (two paths, 8 KiB): the
 * thread keeps the last one freed for its next, sparing the heap's lock
 * twice a call.  Only the thread itself uses its slot, and a guest handler
 * that interrupts the kernel on it finds the slot as it was or empty: each
 * taking and putting back is one instruction (cas_local). */
struct fs_node *node_new(void)
{
    void **slot = &kcur()->spare_node;
    struct fs_node *n = *slot;
    if (!n || !cas_local(slot, n, 0))
        n = kmalloc(sizeof(struct fs_node));
    if (n)
        n->missing = n->absent = 0;
    return n;
}

void node_free(struct fs_node *n)
{
    if (n && !cas_local(&kcur()->spare_node, 0, n))
        kfree(n);
}

void path_pop(char *p)
{
    char *s = strrchr(p, '/');
    if (!s || s == p)
        p[1] = 0, p[0] = '/';
    else
        *s = 0;
}

const char *path_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

/* "/" as fs_classify found it at boot, unless a rooted volume serves it
 * (its answer is the host's, vol_lmode: not asked here, nor kept) or a
 * chroot moved the walks' start: then it depends on the mount table and
 * the image alone, fixed until the next boot, and every absolute walk
 * starts there. */
static struct fs_obj root_obj;
static int root_known;

static int classify(const char *p, struct fs_obj *o);

void path_init(void)
{
    root_known = !fs_root() && vol_find("/") < 0 && classify("/", &root_obj) == 0;
}

int fs_classify(const char *p, struct fs_obj *o)
{
    if (root_known && p[0] == '/' && p[1] == 0 && !fs_root()) {
        *o = root_obj;
        return 0;
    }
    return classify(p, o);
}

static int classify(const char *p, struct fs_obj *o)
{
    o->arg = 0;
    o->mode = 0;
    o->ino = 0;
    o->resolved = 0;
    /* A synthetic tree no volume and no file of the image lies in is the
     * table's alone: nothing below can serve its paths (synth_index.c). */
    int t = synth_tree_of(p), synth = t >= 0;
    if (synth && synth_tree_alone(t))
        return synth_lookup(p, o);
    /* What the layer's cache holds went through the checks below before;
     * an image file's or a volume's answer (no volume is rooted beside the
     * layer) depends on the mount table alone, so it is kept there too;
     * after a chroot a volume's answer needs its mode, which it lacks. */
    uint64_t gen = fs_upper >= 0 ? upper_gen() : 0;
    const char *root = fs_root();
    int hit = fs_upper >= 0 && !root ? upper_cache_get(p, gen, o) : 0;
    if (hit)
        return hit < 0 ? hit : 0;       /* -ENOENT: absent from the layer, as upper_classify */
    /* A file of the image shadows a volume at the same path: the program or
     * a library that lives in the working directory is served substituted.
     * Elsewhere a writable root's layer says what is left of the image. */
    int e = synth && !synth_tree_img(t) ? -1 : img_lookup(p);
    int m = synth ? synth_tree_vol(t, p) : vol_find(p);   /* a rooted one never serves a tree */
    if (e >= 0 && img_kind(e) != LS_ENT_DIR && (m >= 0 || synth || fs_upper < 0)) {
        o->type = FO_IMAGE;
        o->ent = e;
        if (fs_upper >= 0)
            upper_cache_put(p, gen, o);
        return 0;
    }
    if (m >= 0) {
        o->type = FO_VOLUME;
        o->ent = m;
        /* After a chroot a volume's symlinks are expanded here too, so
         * that ".." and absolute targets stop at the process's root. */
        if (vol_rooted(m) || fs_mnt[m].sys || root)
            o->mode = vol_lmode(m, p);
        else if (fs_upper >= 0)
            upper_cache_put(p, gen, o);
        return 0;
    }
    if (synth) {
        int r = synth_lookup(p, o);
        if (r == -ENOENT && vol_is_ancestor(p)) {
            o->type = FO_IMAGE;         /* on the way to a host sysfs tree: a virtual directory */
            o->ent = -1;
            return 0;
        }
        return r;
    }
    if (fs_upper >= 0)
        return upper_classify(p, gen, o);
    o->type = FO_IMAGE;
    o->ent = e;                         /* a directory of the image, or none */
    if (o->ent >= 0)
        return 0;
    if ((p[0] == '/' && p[1] == 0) || vol_is_ancestor(p))
        return 0;                       /* a virtual directory */
    return -ENOENT;
}

int obj_is_dir(const struct fs_obj *o)
{
    switch (o->type) {
    case FO_VOLUME:
        return o->mode ? S_ISDIR(o->mode) : 1;  /* a volume's: the host decides */
    case FO_IMAGE:
        return img_kind(o->ent) == LS_ENT_DIR;
    case FO_SYNTH:
        return synth_type(o) == ST_DIR || o->ent == SID_CWDHOST;
    }
    return 0;
}

int obj_is_link(const struct fs_obj *o)
{
    if (o->type == FO_IMAGE)
        return img_kind(o->ent) == LS_ENT_SYMLINK;
    if (o->type == FO_VOLUME)
        return S_ISLNK(o->mode);        /* the writable root's or a rooted volume's, expanded
                                         * as the image's */
    if (o->type == FO_SYNTH)
        return synth_type(o) == ST_LINK;
    return 0;
}

/* Where a relative walk starts: the cwd, or dirfd's recorded guest path. */
static int base_path(long dirfd, char *p)
{
    if (dirfd == AT_FDCWD) {
        cwd_get(p);
        return 0;
    }
    if (!fd_valid(dirfd))
        return -EBADF;
    long r = fd_copy_path(dirfd, p, LS_PATH_MAX);
    if (r == -ENOENT)
        return fd_host_open(dirfd) ? -ENOTDIR : -EBADF;
    return r < 0 ? r : 0;
}

/*
 * Replaces the link component that ended at t[i] by the link's target: the
 * remaining path t+i (empty or starting with '/') is moved to the end of the
 * buffer, the target written at the start, and the remainder moved back
 * behind it.  p loses the link's name (or restarts at "/").
 */
static int expand(struct fs_node *n, const struct fs_obj *o, size_t i)
{
    char *t = n->tmp;
    size_t rl = strlen(t + i);
    char *rest = t + LS_PATH_MAX - rl - 1;
    memmove(rest, t + i, rl + 1);
    size_t cap = LS_PATH_MAX - rl - 1;
    long tl;
    if (o->type == FO_IMAGE) {
        const char *tgt = bi_str(img_ent(o->ent)->target);
        tl = strlen(tgt);
        if ((size_t)tl >= cap)
            return -ENAMETOOLONG;
        memcpy(t, tgt, tl);
    } else if (o->type == FO_VOLUME) {
        tl = o->ent == fs_upper ? upper_readlink(n->path, t, cap)
                                : vol_readlink(o->ent, n->path, t, cap);
        if (tl < 0)
            return tl;
        if ((size_t)tl >= cap)
            return -ENAMETOOLONG;
    } else {
        tl = synth_link_target(o, t, cap);
        if (tl < 0)
            return tl;
    }
    if (tl == 0)
        return -ENOENT;
    memmove(t + tl, rest, rl + 1);
    if (t[0] == '/')
        strlcpy(n->path, n->root ? n->root : "/", LS_PATH_MAX);
    else
        path_pop(n->path);
    return 0;
}

/* Whether absolute path t is already what a walk makes of itself: no
 * empty, "." or ".." component and no trailing '/'. */
static int is_clean(const char *t)
{
    for (const char *c = t; *c; c++) {
        if (*c != '/')
            continue;
        if (c[1] == 0 || c[1] == '/')
            return 0;
        if (c[1] == '.' && (c[2] == 0 || c[2] == '/' || (c[2] == '.' && (c[3] == 0 || c[3] == '/'))))
            return 0;
    }
    return 1;
}

/* A clean absolute path a walk of this process reached before, under the
 * layer's current generation: every name on its way was then a directory
 * (a walk appends a name only below one, and a symlink it follows leaves
 * the path), and none has gone or been replaced since, or the generation
 * would have moved on (upper_cache.c).  So the walk would end where it did,
 * and the cache says with what, in one lookup instead of one a component.
 * A symlink at its end is left to the whole walk.  A name cached as absent
 * was looked up in the layer below a directory of it (upper_classify is
 * asked nothing else), so the walk would end as walk_down ends it there:
 * n->absent.  A tree the synthetic table serves alone has nothing
 * there (fs_classify).  1 if so, in n.  len: n->tmp's, as its copy counted it (no
 * pass over it again to count). */
static int walk_cached(struct fs_node *n, int wflags, uint64_t gen, size_t len)
{
    struct fs_obj o;
    int hit;
    int t = synth_tree_of(n->tmp);
    if (fs_upper < 0 || n->tmp[0] != '/' || (t >= 0 && synth_tree_alone(t)) || !is_clean(n->tmp) ||
        !(hit = upper_cache_get_len(n->tmp, len, gen, &o)) ||
        (hit > 0 && obj_is_link(&o) && (wflags & W_FOLLOW)))
        return 0;
    memcpy(n->path, n->tmp, len + 1);
    if (hit < 0) {
        o = (struct fs_obj){.type = FO_VOLUME, .ent = fs_upper};
        n->absent = 1;
    }
    n->o = o;
    return 1;
}

/* Whether relative path t starts with "." or ".." (or is only dots): a
 * walk that names the working directory itself before any name in it. */
static int names_cwd(const char *t)
{
    return t[0] == '.' && (t[1] == 0 || t[1] == '/' || (t[1] == '.' && (t[2] == 0 || t[2] == '/')));
}

/* The walk's start: the guest path into n->tmp and where it starts into
 * n->path (/ for an absolute path, else dirfd's), classified into *cur;
 * 1 if walk_cached found the end.  A working directory removed is still
 * "." (the host's cwd, SID_CWDHOST), and ".." its parent, as on Linux.
 * 0 or -errno. */
static int walk_start(long dirfd, const char *gpath, struct fs_node *n, struct fs_obj *cur,
                      int wflags, uint64_t gen)
{
    char *p = n->path, *t = n->tmp;
    long len = strncpy_from_user(t, gpath, LS_PATH_MAX);
    if (len < 0)
        return len;
    if (len == 0)
        return -ENOENT;
    if (!n->root && walk_cached(n, wflags, gen, len))
        return 1;
    if (t[0] == '/') {
        strlcpy(p, n->root ? n->root : "/", LS_PATH_MAX);
    } else {
        int r = base_path(dirfd, p);
        if (r < 0)
            return r;
        if (dirfd == AT_FDCWD && names_cwd(t) && cwd_removed()) {
            *cur = (struct fs_obj){.type = FO_SYNTH, .ent = SID_CWDHOST};
            return 0;
        }
    }
    return fs_classify(p, cur);
}

/* One step down: name (nl bytes) appended to n->path and classified into
 * *cur.  A missing last component leaves its parent in n->o (n->missing).
 * 0 or -errno. */
static int walk_down(struct fs_node *n, struct fs_obj *cur, const char *name, size_t nl,
                     int last)
{
    char *p = n->path;
    if (cur->type == FO_SYNTH && cur->ent == SID_CWDHOST)
        return -ENOENT;                 /* a removed directory has no name and takes none */
    size_t pl = strlen(p);
    if (pl == 1)
        pl = 0;                         /* p is "/" */
    if (pl + 1 + nl >= LS_PATH_MAX)
        return -ENAMETOOLONG;
    struct fs_obj parent = *cur;
    cur->resolved = 0;                  /* known of the parent's path, not of this one */
    p[pl] = '/';
    memcpy(p + pl + 1, name, nl);
    p[pl + 1 + nl] = 0;
    if (cur->type == FO_VOLUME && cur->ent != fs_upper && fs_mnt[cur->ent].alone && !n->root)
        return 0;                       /* it stays the volume's, its symlinks the host's */
    int r = fs_classify(p, cur);
    if (r == -ENOENT && last && parent.type == FO_VOLUME && parent.ent == fs_upper) {
        /* In the writable root's layer, as in a volume, the host says
         * whether the last component exists, and makes it. */
        *cur = (struct fs_obj){.type = FO_VOLUME, .ent = fs_upper};
        n->absent = 1;
        return 0;
    }
    if (r == -ENOENT && last) {
        n->missing = 1;
        n->o = parent;
    }
    return r;
}

/* The symlink *cur, met before n->tmp[i]: its target spliced in front of
 * what is left (expand), classified again.  1 when followed (the walk goes
 * on from n->tmp's start), 0 for an fd link that names a host object, or
 * -errno. */
static int walk_link(struct fs_node *n, struct fs_obj *cur, size_t i, int last, int *links)
{
    if (cur->type == FO_SYNTH && cur->ent == SID_OFDLINK && !synth_other_fd_served(cur->arg)) {
        /* Another process's fd names the host object itself, as the link
         * does on Linux (its target is the host's name for it). */
        if (!last)
            return -ENOTDIR;
        cur->ent = SID_OFDHOST;
        return 0;
    }
    if (cur->type == FO_SYNTH && cur->ent == SID_FDLINK && !fd_link_by_path(cur->arg)) {
        /* /proc/self/fd/N of an fd with no guest path, or whose file was
         * unlinked, names the host object itself; nothing can be below it. */
        if (!last)
            return -ENOTDIR;
        cur->ent = SID_FDHOST;
        return 0;
    }
    if (cur->type == FO_SYNTH && synth_ns_link(cur)) {
        /* A namespace's link leads to the namespace itself, as on Linux. */
        if (!last)
            return -ENOTDIR;
        synth_ns_follow(cur);
        return 0;
    }
    if (++*links > MAX_LINKS)
        return -ELOOP;
    int r = expand(n, cur, i);
    if (r == 0)
        r = fs_classify(n->path, cur);
    return r < 0 ? r : 1;
}

int fs_walk(long dirfd, const char *gpath, int wflags, struct fs_node *n)
{
    char *p = n->path, *t = n->tmp;
    n->missing = n->absent = 0;
    n->dir_required = 0;
    n->last_dot = 0;
    struct fs_obj cur;
    uint64_t gen = fs_upper >= 0 ? upper_gen() : 0;
    n->gen = gen;
    n->root = fs_root();
    int r = walk_start(dirfd, gpath, n, &cur, wflags, gen);
    if (r >= 0) {
        /* Only slashes: no last name at all, Linux's LAST_ROOT. */
        size_t k = 0;
        while (t[k] == '/')
            k++;
        n->last_dot = t[k] == 0 ? 3 : 0;
    }
    if (r != 0)
        return r < 0 ? r : 0;
    int links = 0;
    size_t i = 0;
    for (;;) {
        while (t[i] == '/')
            i++;
        if (!t[i])
            break;
        const char *name = t + i;
        size_t nl = 0;
        while (name[nl] && name[nl] != '/')
            nl++;
        i += nl;
        size_t j = i;
        while (t[j] == '/')
            j++;
        int last = t[j] == 0;
        int slash = last && t[i] == '/';
        int dots = nl <= 2 && name[0] == '.' && (nl == 1 || name[1] == '.') ? (int)nl : 0;
        if (last) {
            n->dir_required = slash;
            n->last_dot = dots;
        }
        if (!obj_is_dir(&cur))
            return -ENOTDIR;
        if (dots == 1)
            continue;
        if (dots == 2) {
            if (n->root && strcmp(p, n->root) == 0)
                continue;               /* ".." at the process's root is the root */
            path_pop(p);
            r = fs_classify(p, &cur);
            if (r < 0)
                return r;
            continue;
        }
        if ((r = walk_down(n, &cur, name, nl, last)) < 0)
            return r;
        if (!obj_is_link(&cur) || (last && !slash && !(wflags & W_FOLLOW)))
            continue;
        if ((r = walk_link(n, &cur, i, last, &links)) < 0)
            return r;
        if (r)
            i = 0;
    }
    n->o = cur;
    if (n->dir_required && !obj_is_dir(&cur))
        return -ENOTDIR;
    /* Below a volume that is alone the walk is lexical (walk_down) and its
     * answer depends on the mount table alone, as fs_classify's for the
     * mount point: a clean absolute path walked without a symlink is kept
     * for walk_cached, which then spares the next walk of it a
     * classification per component on the way to the mount.  Any other
     * walk that ends there (a relative path) takes from the cache what
     * it knows of the path it reached (fs_obj.resolved: volume.c). */
    if (fs_upper >= 0 && cur.type == FO_VOLUME && cur.ent != fs_upper && fs_mnt[cur.ent].alone &&
        !links) {
        struct fs_obj known;
        if (t[0] == '/' && !n->root && is_clean(t))
            upper_cache_put(t, gen, &cur);
        else if (upper_cache_get(p, gen, &known) == 1 && known.type == FO_VOLUME &&
                 known.ent == cur.ent)
            n->o.resolved = known.resolved;
    }
    return 0;
}
