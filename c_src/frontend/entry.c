/* Reading a plan cache entry (plancache.h) as libsubst/plancache.py does:
 * from a directory and a file only this user can write, checked against
 * its own size, for exactly this key, with every dependency unchanged.
 * Anything else is a miss, never an error: the Python CLI then plans. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libsubst/bootinfo.h"
#include "libsubst/plancache.h"
#include "frontend.h"

static uint64_t fnv1a(const struct buf *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < key->n; i++)
        h = (h ^ (unsigned char)key->p[i]) * 0x100000001b3ULL;
    return h;
}

/* Whether st's group is its owner's private one (safedirs.py's
 * _private_group, the same terms: primary group, named as the owner, no
 * other member listed or by primary group); USERGROUPS_ENAB's umask 002
 * makes a tool's ~/.cache 0775.  Looked up only for a group-writable
 * directory, so a warm start does not pay for NSS. */
static int group_alone(uid_t uid, gid_t gid)
{
    struct passwd *pw = getpwuid(uid);
    char name[LOGIN_NAME_MAX + 1];
    if (!pw || pw->pw_gid != gid ||
        snprintf(name, sizeof name, "%s", pw->pw_name) >= (int)sizeof name)
        return 0;
    struct group *gr = getgrgid(gid);
    if (!gr || strcmp(gr->gr_name, name))
        return 0;
    for (char **m = gr->gr_mem; *m; m++)
        if (strcmp(*m, name))
            return 0;
    int alone = 1;
    setpwent();
    while (alone && (pw = getpwent()))
        alone = pw->pw_gid != gid || pw->pw_uid == uid;
    endpwent();
    return alone;
}

static int private_group(const struct stat *st)
{
    /* One run checks the same path several times (the plans, each
     * substitute's directory): the databases are read once. */
    static uid_t uid;
    static gid_t gid;
    static int known, alone;
    if (!known || uid != st->st_uid || gid != st->st_gid) {
        uid = st->st_uid;
        gid = st->st_gid;
        alone = group_alone(uid, gid);
        known = 1;
    }
    return alone;
}

/* Whether a directory of st is one only this user or root can change;
 * above libsubst's own (!own) a sticky one may be writable by all. */
static int dir_safe(const struct stat *st, int own)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return 0;
    mode_t open_to = st->st_mode & 022;
    if ((open_to & 020) && private_group(st))
        open_to &= ~020;
    return !open_to || (!own && (st->st_mode & S_ISVTX));
}

static int components(const char *p)
{
    int n = 0;
    for (; *p; p++)
        n += *p != '/' && (p[1] == '/' || !p[1]);
    return n;
}

/* Whether every directory on absolute path, symlinks followed (each of
 * the user's or root's), is dir_safe, its last `mine` libsubst's own: as
 * libsubst/safedirs.py checks it, which refuses the run where this misses. */
static int path_safe(const char *path, int mine)
{
    char cur[PATH_MAX] = "", rest[PATH_MAX], link[PATH_MAX], name[NAME_MAX + 1];
    struct stat st;
    int links = 0;
    if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest || lstat("/", &st) < 0 ||
        !dir_safe(&st, 0))
        return 0;
    for (;;) {
        const char *p = rest;
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (!n)
            return 1;
        if (n > NAME_MAX)
            return 0;
        memcpy(name, p, n);
        name[n] = 0;
        memmove(rest, p + n, strlen(p + n) + 1);
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            char *slash = strrchr(cur, '/');
            if (slash)
                *slash = 0;
            continue;
        }
        size_t len = strlen(cur);
        if (len + 1 + n >= sizeof cur)
            return 0;
        snprintf(cur + len, sizeof cur - len, "/%s", name);
        if (lstat(cur, &st) < 0)
            return errno == ENOENT;     /* the rest is made by the Python CLI, checked */
        if (S_ISLNK(st.st_mode)) {
            ssize_t l = readlink(cur, link, sizeof link - 1);
            if (l < 0 || ++links > 40 || (st.st_uid != geteuid() && st.st_uid != 0) ||
                (size_t)l + 1 + strlen(rest) >= sizeof rest)
                return 0;
            link[l] = 0;
            cur[len] = 0;
            if (link[0] == '/')
                cur[0] = 0;
            memmove(rest + l + 1, rest, strlen(rest) + 1);
            memcpy(rest, link, l);
            rest[l] = '/';
            continue;
        }
        if (!S_ISDIR(st.st_mode))
            return 0;
        if (!dir_safe(&st, components(rest) < mine))
            return 0;
    }
}

/* $XDG_CACHE_HOME/libsubst (private_dir's). */
static char cache_root[PATH_MAX];

/* Whether a file of libsubst's cache the entry names (a substitute) lies
 * in a directory on a safe path, as uklibc/cache.py checks it; any other
 * file is not the cache's. */
static int dep_dir_safe(const char *path)
{
    size_t n = strlen(cache_root);
    char dir[PATH_MAX];
    if (strncmp(path, cache_root, n) || path[n] != '/')
        return 1;
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    return path_safe(dir, components(dir + n) + 1);
}

/* The user's own directory nobody else can write, on a path only the user
 * or root can change, or -1. */
static int private_dir(void)
{
    char path[PATH_MAX];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(cache_root, sizeof cache_root, "%s/libsubst", xdg);
    else if (home && *home)
        snprintf(cache_root, sizeof cache_root, "%s/.cache/libsubst", home);
    else
        return -1;
    /* As os.path.abspath writes it (the entry's paths are): one slash
     * between names; a "." or ".." in it is the Python CLI's to serve. */
    char *w = cache_root;
    for (const char *r = cache_root; *r; r++)
        if (*r != '/' || w == cache_root || w[-1] != '/')
            *w++ = *r;
    *w = 0;
    if (cache_root[0] != '/' || strstr(cache_root, "/./") || strstr(cache_root, "/../") ||
        snprintf(path, sizeof path, "%s/plans", cache_root) >= (int)sizeof path ||
        !path_safe(path, 2))
        return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        close(fd);
        return -1;
    }
    return fd;
}

const char *entry_string(const struct entry *e, uint32_t off)
{
    if (off == 0 || off >= e->size || !memchr(e->data + off, 0, e->size - off))
        return NULL;
    return e->data + off;
}

static int64_t ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Whether one dependency still has the identity recorded. */
static int dep_holds(const struct entry *e, const struct ls_plan_dep *d)
{
    const char *path = entry_string(e, d->path);
    struct stat st;
    if (!path)
        return 0;
    int r = (d->flags & LS_DEP_NOFOLLOW) ? lstat(path, &st) : stat(path, &st);
    if (r < 0)
        return (d->flags & LS_DEP_ABSENT) != 0;
    if ((d->flags & LS_DEP_ABSENT) || st.st_dev != d->dev || st.st_ino != d->ino ||
        (st.st_mode & S_IFMT) != (d->mode & S_IFMT))
        return 0;
    if (d->flags & LS_DEP_SAME_INODE)
        return 1;
    return (uint64_t)st.st_size == d->size && ns(st.st_mtim) == d->mtime_ns &&
           ns(st.st_ctim) == d->ctime_ns && st.st_mode == d->mode;
}

const char *entry_item(const struct entry *e, uint32_t at, uint32_t i)
{
    uint32_t off;
    memcpy(&off, e->data + at + 4 * (size_t)i, 4);
    return entry_string(e, off);
}

static int within(uint64_t off, uint64_t size, uint64_t total)
{
    return off <= total && size <= total - off;
}

int entry_read(const struct buf *key, struct entry *out)
{
    char name[LS_PLAN_NAME_LEN + 1];
    struct stat st;
    int dfd = private_dir();
    if (dfd < 0)
        return -1;
    snprintf(name, sizeof name, "%016llx", (unsigned long long)fnv1a(key));
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022) || st.st_size < (off_t)sizeof(struct ls_plan_head) ||
        st.st_size > LS_PLAN_MAX_BYTES) {
        close(fd);
        return -1;
    }
    size_t size = st.st_size, got = 0;
    char *data = malloc(size);
    while (data && got < size) {
        ssize_t n = pread(fd, data + got, size - got, got);
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    const struct ls_plan_head *h = (const void *)data;
    struct entry e = {data, size, h};
    if (!data || got != size || h->magic != LS_PLAN_MAGIC || h->version != LS_PLAN_VERSION ||
        h->size != size || !within(h->key_off, h->key_size, size) ||
        !within(h->deps_off, (uint64_t)h->ndeps * sizeof(struct ls_plan_dep), size) ||
        h->deps_off % 8 || !within(h->boot_off, h->boot_size, size) || h->boot_off % 8 ||
        h->boot_size < sizeof(struct ls_bootinfo) ||
        !within(h->plan_off, h->plan_size, size) || !entry_string(&e, h->kernel) ||
        !within(h->env_deps_off, 4ULL * h->n_env_deps, size) ||
        !within(h->overrides_off, 4ULL * h->n_overrides, size) ||
        !within(h->epilogue_off, 4ULL * h->n_epilogue, size) || h->n_epilogue < 1 ||
        !entry_string(&e, h->supervisor) || !entry_string(&e, h->stop_text) ||
        ((h->flags & LS_PLAN_IMAGE) && !entry_string(&e, h->image)) ||
        h->key_size != key->n || memcmp(data + h->key_off, key->p, key->n) != 0)
        goto miss;
    struct ls_bootinfo boot;
    memcpy(&boot, data + h->boot_off, sizeof boot);
    if (h->argv_keep > boot.argc || !within(boot.argv_off, 4ULL * boot.argc, h->boot_size))
        goto miss;
    const struct ls_plan_dep *deps = (const void *)(data + h->deps_off);
    for (uint32_t i = 0; i < h->ndeps; i++)
        if (!dep_holds(&e, &deps[i]) || !dep_dir_safe(entry_string(&e, deps[i].path)))
            goto miss;
    *out = e;
    return 0;
miss:
    free(data);
    return -1;
}
