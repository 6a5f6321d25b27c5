/*
 * open(2) of a path beneath a volume's root, as openat2 with RESOLVE_BENEATH
 * | RESOLVE_NO_MAGICLINKS would, and as safe against a concurrent rename:
 * the walk holds an fd of each directory it has entered (so ".." is the one
 * it came from, never the host's), opens each component from the last one's
 * fd with O_NOFOLLOW, reads a symlink through the fd it opened, and makes
 * the final open relative to its parent's fd, again with O_NOFOLLOW.  A
 * symlink that leads above the root is EXDEV; so is an absolute one, unless
 * its target is a plain guest path (no ".", "..", or empty component) that
 * the mount itself serves: then the walk goes on from the mount's root, as
 * the guest's own walk would (a link in /tmp to another file of /tmp, which
 * tempfile and shutil users make).  A walk that leaves the volume (such a
 * link to elsewhere, ".." above its root) writes the guest path it leads to
 * where the dispatcher asks (kthread.relink), which makes the call again
 * with it, so the guest's own walk goes on from there.
 * Most paths have no symlink and no ".." above the root: for them the host
 * resolves the directories in one openat2 (open_resolved), and the walk is
 * only what that call cannot do.  (The filter allows openat2 with one
 * open_how only, an O_PATH directory's: its mode is in memory, where a
 * filter cannot see a set-user-ID bit; arch/x86_64/entry.S.)
 */
#include "fs.h"

#define MAX_DEPTH (LS_PATH_MAX / 2)     /* directories a walk holds at once */
#define MAX_LINKS 40                    /* Linux's MAXSYMLINKS */

struct walk {
    int mnt;
    int *dirs;                          /* the entered directories; dirs[0] is the root, not ours */
    int depth;
    char *rest;                         /* what is left to resolve, from p on */
    char *p;
    char *link;                         /* a symlink's target, read */
    int links;
    int slash;                          /* the path ends in '/': its last component is a directory */
};

static long walk_start(struct walk *w, int mnt, const char *rel)
{
    *w = (struct walk){.mnt = mnt, .rest = kmalloc(LS_PATH_MAX), .link = kmalloc(LS_PATH_MAX),
                       .dirs = kmalloc(MAX_DEPTH * sizeof *w->dirs)};
    if (!w->rest || !w->link || !w->dirs)
        return -ENOMEM;
    w->dirs[0] = fs_mnt[mnt].root;
    size_t rl = strlen(rel);
    w->slash = rl > 0 && rel[rl - 1] == '/';
    if (strlcpy(w->rest, rel, LS_PATH_MAX) >= LS_PATH_MAX)
        return -ENAMETOOLONG;
    w->p = w->rest;
    return 0;
}

static void walk_end(struct walk *w)
{
    while (w->dirs && w->depth > 0)
        hsys1(__NR_close, w->dirs[w->depth--]);
    kfree(w->rest);
    kfree(w->link);
    kfree(w->dirs);
}

/* The next component, made a string in place; *last says nothing follows. */
static char *next_comp(struct walk *w, int *last)
{
    char *comp = w->p;
    while (*w->p && *w->p != '/')
        w->p++;
    int more = *w->p == '/';
    *w->p = 0;
    w->p += more;
    while (*w->p == '/')
        w->p++;
    *last = *w->p == 0;
    return comp;
}

/* The walk leaves the volume for guest path dir (then up, if up): that
 * and what is left of the walk, written where the dispatcher asks; -EXDEV. */
static long leave(struct walk *w, const char *dir, int up)
{
    char *out = kcur()->relink;
    if (out && ksnprintf(out, LS_PATH_MAX, "%s%s%s%s", dir, up ? "/.." : "",
                         *w->p || w->slash ? "/" : "", w->p) >= LS_PATH_MAX)
        out[0] = 0;
    return -EXDEV;
}

void vol_relink_add(const char *name)
{
    char *out = kcur()->relink;
    size_t ol = out && *out ? strlen(out) : 0;
    if (ol && ksnprintf(out + ol, LS_PATH_MAX - ol, "/%s", name) >= (long)(LS_PATH_MAX - ol))
        out[0] = 0;
}

static long go_up(struct walk *w)
{
    if (w->depth == 0)
        return leave(w, fs_mnt[w->mnt].guest, 1);   /* above the volume's root */
    hsys1(__NR_close, w->dirs[w->depth--]);
    return 0;
}

/* Opens the next component of a walk: an O_PATH fd of name in dir, never
 * followed by the host.  *kind says what it is (S_IFDIR, S_IFLNK, ...). */
static long step(int dir, const char *name, unsigned *kind)
{
    /* Most components are directories: O_DIRECTORY tells them in one call
     * (a symlink, even to a directory, fails it with ENOTDIR). */
    long fd = hsys4(__NR_openat, dir, (long)name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
    struct stat st;
    *kind = S_IFDIR;
    if (fd != -ENOTDIR)
        return fd;
    fd = hsys4(__NR_openat, dir, (long)name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    long r = hsys2(__NR_fstat, fd, (long)&st);
    if (r < 0) {
        hsys1(__NR_close, fd);
        return r;
    }
    *kind = st.st_mode & S_IFMT;
    return fd;
}

/* For an absolute link target of mount mnt: where it is below the mount's
 * root ("" for the root), or 0 if it is not a plain path that mnt serves. */
static const char *same_mount(int mnt, const char *target)
{
    const struct vmount *v = &fs_mnt[mnt];
    if (vol_find(target) != mnt || strncmp(target, v->guest, v->glen) != 0)
        return 0;
    const char *rel = target + v->glen;
    for (const char *c = rel; *c;) {          /* each component: "/name" */
        const char *e = c + 1;
        while (*e && *e != '/')
            e++;
        size_t l = e - c - 1;
        if ((l == 0 && *e) || (l == 1 && c[1] == '.') || (l == 2 && c[1] == '.' && c[2] == '.'))
            return 0;
        c = e;
    }
    while (*rel == '/')
        rel++;
    return rel;
}

/* The symlink open at fd (closed here): its target takes its place in what
 * is left to resolve, an absolute one from the mount's root.  0 or -errno. */
static long follow_link(struct walk *w, long fd)
{
    char *link = w->link;
    long n = hsys4(__NR_readlinkat, fd, (long)"", (long)link, LS_PATH_MAX - 1);
    hsys1(__NR_close, fd);
    if (n < 0)
        return n;
    if (++w->links > MAX_LINKS)
        return -ELOOP;
    link[n] = 0;
    if (n == 0)
        return -EXDEV;
    if (link[0] == '/') {
        const char *below = same_mount(w->mnt, link);
        if (!below)
            return leave(w, link, 0);   /* absolute, elsewhere: outside the volume */
        while (w->depth > 0)            /* from the mount's root again */
            hsys1(__NR_close, w->dirs[w->depth--]);
        n = strlen(below);
        memmove(link, below, n + 1);
        if (n == 0) {
            link[0] = '.';
            link[1] = 0;
            n = 1;
        }
    }
    size_t tl = n, pl = strlen(w->p);
    if (tl + 1 + pl + 1 > LS_PATH_MAX)
        return -ENAMETOOLONG;
    memmove(w->rest + tl + 1, w->p, pl + 1);
    memcpy(w->rest, link, tl);
    w->rest[tl] = pl || w->slash ? '/' : 0;  /* a trailing slash stays with the path */
    if (!pl && w->slash)
        w->rest[tl + 1] = 0;
    w->p = w->rest;
    return 0;
}

/* One component, neither "." nor "..": a directory is entered, a symlink
 * followed; a file, or a last component that is missing, ends the walk
 * (*final names it for the open).  0 to go on, 1 at the end, or -errno. */
static long walk_comp(struct walk *w, char *comp, int last, const char **final)
{
    unsigned kind = 0;
    long fd = step(w->dirs[w->depth], comp, &kind);
    if (fd == -ENOENT && last && !w->slash) {
        *final = comp;                  /* the open says: ENOENT, or O_CREAT makes it */
        return 1;
    }
    if (fd < 0)
        return fd;
    if (kind == S_IFDIR && w->depth + 1 >= MAX_DEPTH) {
        hsys1(__NR_close, fd);
        return -ENAMETOOLONG;
    }
    if (kind == S_IFDIR && (!last || w->slash)) {
        w->dirs[++w->depth] = fd;       /* with a trailing slash the open names "." */
        return last;
    }
    if (kind == S_IFLNK)
        return follow_link(w, fd);
    hsys1(__NR_close, fd);
    if (!last || w->slash)
        return -ENOTDIR;
    *final = comp;                      /* a file: opened by name, O_NOFOLLOW */
    return 1;
}

/* No retry on EINTR: a signal during a blocking open (a FIFO's) restarts
 * it on the host as the guest's handler asked (SA_RESTART), else the guest
 * gets EINTR, as on Linux; its handler runs in the wait. */
static long open_nofollow(int dir, const char *name, int flags, int mode)
{
    return host_openat(dir, name, flags | O_NOFOLLOW, mode);
}

/* dir, an fd the kernel holds while it opens a file from it, moved above
 * its number, which the file's open then takes: Linux's open returns the
 * lowest free fd, and dir was that.  (Never the file's fd moved instead:
 * closing any fd of a file drops the process's record locks on it.) */
static long lift(long dir)
{
    long hi = hsys3(__NR_fcntl, dir, F_DUPFD_CLOEXEC, dir + 1);
    if (hi < 0)
        return dir;
    hsys1(__NR_close, dir);
    return hi;
}

static int no_resolve;                  /* openat2 refused: an old host, or no seal */

/* What the host's openat2 beneath a mount's root (following no symlink,
 * leaving no directory) answered: its fd or -errno, or -EAGAIN for what
 * only the walk resolves (a symlink on the way, ELOOP; ".." above the
 * root, EXDEV; a rename racing a "..", EAGAIN; a signal). */
static long resolved(long fd)
{
    if (fd == -ENOSYS || fd == -EPERM || fd == -EINVAL)   /* no openat2, or not this one */
        no_resolve = 1;
    if (fd == -ENOSYS || fd == -EPERM || fd == -EINVAL || fd == -ELOOP || fd == -EXDEV ||
        fd == -EINTR)
        return -EAGAIN;
    return fd;
}

/* The directory dir beneath mount mnt's root, in one host call. */
static long resolve_dir(int mnt, const char *dir)
{
    return no_resolve ? -EAGAIN : resolved(ls_resolve_dir(fs_mnt[mnt].root, dir));
}

/* The open in at most two host calls, and a close, when no symlink is on
 * the way: the directories by resolve_dir, the last component opened from
 * there with O_NOFOLLOW (which only a symlink fails, with ELOOP, or
 * ENOTDIR under O_DIRECTORY: Linux checks that first); a file to read
 * with the common flags (O_RDONLY, with O_CLOEXEC or O_NONBLOCK: the
 * open_hows of entry.S) below the root in one openat2.  A name in the
 * root itself is one openat with O_NOFOLLOW whatever the flags: the same
 * single call, with nothing on the way to resolve, and the host's openat2
 * costs more than its openat (benchmarks/host_floors.py).  0 when only the
 * walk can say (then nothing is open), else 1 and the result in *out.
 * Inlined: a frame is an unpredicted return after the host call. */
static inline __attribute__((always_inline)) int open_resolved(int mnt, const char *rel,
                                                               int flags, int mode,
                                                               int follow_last, long *out)
{
    if (flags == (O_PATH | O_DIRECTORY | O_CLOEXEC))   /* a parent directory (vol_parent) */
        return (*out = resolve_dir(mnt, rel)) != -EAGAIN;
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || (follow_last && (flags & O_PATH)))
        return 0;                       /* a directory's "/" or dot, or an O_PATH symlink */
    long (*open_file)(long, const char *) = flags == (O_RDONLY | O_CLOEXEC) ? ls_open_ro
                                            : flags == O_RDONLY ? ls_open_rd
                                            : flags == (O_RDONLY | O_NONBLOCK) ? ls_open_nb : 0;
    if (open_file && follow_last && !no_resolve && base > rel) {
        /* A wait (a FIFO's open): EINTR is the guest's, not the walk's. */
        long r = host_open_beneath(open_file, fs_mnt[mnt].root, rel);
        return (*out = r == -EINTR ? r : resolved(r)) != -EAGAIN;
    }
    long root = fs_mnt[mnt].root, dir = root;   /* kept: the host call clobbers memory */
    if (base > rel) {
        char d[LS_PATH_MAX];
        size_t dl = base - rel;
        memcpy(d, rel, dl);
        d[dl] = 0;
        if ((dir = resolve_dir(mnt, d)) == -EAGAIN)
            return 0;
        if (dir < 0)
            return (*out = dir), 1;     /* ENOENT, ENOTDIR, EACCES: the walk's own answers */
        dir = lift(dir);
    }
    long r = open_nofollow(dir, base, flags, mode);
    if (dir != root)
        hsys1(__NR_close, dir);
    if (follow_last && (r == -ELOOP || (r == -ENOTDIR && (flags & O_DIRECTORY))))
        return 0;                       /* a symlink, followed by the walk */
    *out = r;
    return 1;
}

/* The walk itself, component by component, for what open_resolved left. */
static long walk_open(int mnt, const char *rel, int flags, int mode, int follow_last)
{
    struct walk w;
    const char *final = ".";            /* what the last open names in dirs[depth] */
    long r = walk_start(&w, mnt, rel);
    while (r == 0 && *w.p) {
        int last;
        char *comp = next_comp(&w, &last);
        int named = last && !w.slash;   /* the last component, not a directory's */
        if (!*comp || !strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            r = go_up(&w);
        } else if (named && !follow_last) {
            final = comp;
            r = 1;
        } else if (named && !(flags & O_PATH) &&
                   (r = open_nofollow(w.dirs[w.depth], comp, flags, mode)) != -ELOOP &&
                   !(r == -ENOTDIR && (flags & O_DIRECTORY))) {
            /* The common case, a file that is no symlink, in one host call:
             * opened with O_NOFOLLOW, only a symlink fails, with ELOOP (or
             * ENOTDIR with O_DIRECTORY: Linux checks that first), and only
             * then is it read and followed. */
            walk_end(&w);
            return r;
        } else {
            r = walk_comp(&w, comp, last, &final);
        }
    }
    if (r >= 0)
        r = open_nofollow(w.dirs[w.depth], final, flags, mode);
    walk_end(&w);
    return r;
}

long vol_open_beneath(int mnt, const char *rel, int flags, int mode)
{
    int follow_last = !((flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL)));
    long done;
    if (open_resolved(mnt, rel, flags, mode, follow_last, &done))
        return done;
    return walk_open(mnt, rel, flags, mode, follow_last);
}

static long dir_beneath(int mnt, const char *dir, int *resolved)
{
    long fd = resolve_dir(mnt, dir);
    *resolved = fd >= 0;
    return fd != -EAGAIN ? fd : walk_open(mnt, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 1);
}

/* A parent directory, held only while the kernel serves the call. */
long vol_dir_beneath(int mnt, const char *dir, int *resolved)
{
    return KFD_ROOM_RETRY(dir_beneath(mnt, dir, resolved));
}
