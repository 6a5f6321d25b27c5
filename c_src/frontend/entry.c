/* Reading a plan cache entry (plancache.h) as libsubst/plancache.py does:
 * from a directory and a file only this user can write, checked against
 * its own size, for exactly this key, with every dependency unchanged.
 * Anything else is a miss, never an error: the Python CLI then plans. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
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

/* The user's own directory nobody else can write, or -1. */
static int private_dir(void)
{
    char path[PATH_MAX];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/libsubst/plans", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.cache/libsubst/plans", home);
    else
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
        if (!dep_holds(&e, &deps[i]))
            goto miss;
    *out = e;
    return 0;
miss:
    free(data);
    return -1;
}
