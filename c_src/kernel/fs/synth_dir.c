/*
 * Listing the synthetic directories: /proc, /proc/<pid>, /proc/<pid>/fd
 * (the guest's open fds, from the host's /proc/self/fd, kernel fds hidden),
 * /proc/<pid>/task (its threads, from the host's /proc/self/task), the
 * guest's processes in /proc (the host's of the guest's pid namespace),
 * /proc/sys..., /sys (with the host's sysfs trees below each directory),
 * /dev.
 */
#include "synth.h"
#include "proc/ptable.h"

static unsigned char dtype(int type)
{
    switch (type) {
    case ST_DIR:
        return FS_DT_DIR;
    case ST_LINK:
        return FS_DT_LNK;
    case ST_CHR:
        return FS_DT_CHR;
    default:
        return FS_DT_REG;
    }
}

static void put_num(struct dent *d, long v)
{
    ksnprintf(d->nbuf, sizeof d->nbuf, "%ld", v);
    d->name = d->nbuf;
    d->nlen = strlen(d->nbuf);
}

/* Adds v to x's numbers, kept ascending. */
static void add_num(void *arg, long v)
{
    struct dctx *x = arg;
    if (x->nfds == x->cap) {
        int ncap = x->cap ? x->cap * 2 : 64;
        int *nf = kmalloc(ncap * sizeof *nf);
        if (!nf)
            return;
        if (x->fds)
            memcpy(nf, x->fds, x->nfds * sizeof *nf);
        kfree(x->fds);
        x->fds = nf;
        x->cap = ncap;
    }
    int k = x->nfds++;
    while (k > 0 && x->fds[k - 1] > v) {
        x->fds[k] = x->fds[k - 1];
        k--;
    }
    x->fds[k] = v;
}

/* The numbers the host lists in dir, ascending: the guest's open fds (from
 * /proc/<pid>/fd, the kernel's own left out: every guest process has the
 * same cap), its threads (/proc/<pid>/task) or its processes (/proc). */
static void load_nums(struct dctx *x, const char *dir, int fds, int self, long floor)
{
    x->loaded = 1;
    long hfd = hsys4(__NR_openat, AT_FDCWD, (long)dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (hfd < 0)
        return;
    char *buf = kmalloc(4096);
    while (buf) {
        long n = hsys3(__NR_getdents64, hfd, (long)buf, 4096);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const char *name = buf + off + 19;
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            off += reclen;
            long fd = synth_parse_num(&name);
            if (fd < 0 || *name || (fds && ((self && fd == hfd) || !fd_valid(fd) || fd >= floor)))
                continue;
            add_num(x, fd);
        }
    }
    kfree(buf);
    hsys1(__NR_close, hfd);
}

/* The name of the component below dir (dl bytes) on the way to mount i,
 * a host sysfs tree, in *len; NULL if it is not below dir. */
static const char *tree_child(const char *dir, size_t dl, int i, size_t *len)
{
    const struct vmount *v = &fs_mnt[i];
    if (!v->sys || v->glen <= dl + 1 || strncmp(v->guest, dir, dl) != 0 || v->guest[dl] != '/')
        return 0;
    const char *name = v->guest + dl + 1;
    const char *end = strchr(name, '/');
    *len = end ? (size_t)(end - name) : strlen(name);
    return name;
}

/* After a synthetic /sys directory's own entries, those of the host's
 * sysfs trees below it (volume.c) or on the way to them (/sys/class's
 * power_supply, /sys/devices's virtual): each name once, and none the
 * table has.  Cookies: synth_ng + the mount's index + 3. */
static int sys_trees_next(const char *dir, size_t dl, long i, long *c, struct dent *d)
{
    char path[LS_PATH_MAX];
    for (; i < fs_nmnt; i++) {
        size_t len;
        const char *name = tree_child(dir, dl, i, &len);
        if (!name || len >= sizeof d->nbuf || dl + 1 + len >= sizeof path)
            continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            size_t l2;
            const char *n2 = tree_child(dir, dl, j, &l2);
            seen = n2 && l2 == len && strncmp(n2, name, len) == 0;
        }
        memcpy(path, dir, dl);
        path[dl] = '/';
        memcpy(path + dl + 1, name, len);
        path[dl + 1 + len] = 0;
        for (int k = 0; k < synth_ng && !seen; k++)
            seen = strcmp(synth_gtab[k].path, path) == 0;
        if (seen)
            continue;
        memcpy(d->nbuf, name, len);
        d->nbuf[len] = 0;
        d->name = d->nbuf;
        d->nlen = len;
        d->ino = 0x30000UL + i;
        d->type = FS_DT_DIR;
        *c = synth_ng + i + 3;
        return 1;
    }
    return 0;
}

/* Cookies: 2 + k.  fd dir: k = the fd number; pid dirs: k = the synth_ptab index;
 * global dirs: k = synth_gtab index, then (for /proc) k = synth_ng + pid. */
int synth_dir_next(const struct kofd *o, long *c, struct dent *d, struct dctx *x)
{
    long k = *c - 2;
    int fds = o->ent == SID_P + synth_np - 1;      /* /proc/<pid>/fd: the last of synth_ptab */
    int info = o->ent == SID_P + synth_np - 3;     /* /proc/<pid>/fdinfo: the same numbers */
    fds |= info;
    if (fds || o->ent == SID_P + synth_np - 2) {   /* /proc/<pid>/task: the one before */
        if (!x->loaded) {
            char dir[48], state;
            struct kproc_slot *s = 0;
            int self = synth_other_slot(o->arg, &s, &state) <= 0;
            if (!self)
                ksnprintf(dir, sizeof dir, "/proc/%ld/%s", o->arg, fds ? "fd" : "task");
            else
                strlcpy(dir, fds ? "/proc/self/fd" : "/proc/self/task", sizeof dir);
            /* Another process's kernel fds start at its own floor. */
            load_nums(x, dir, fds, self, s ? s->kfd_floor : 0x7fffffff);
            kfree(s);
        }
        for (int i = 0; i < x->nfds; i++)
            if (x->fds[i] >= k) {
                put_num(d, x->fds[i]);
                d->ino = info ? 0x40000UL + x->fds[i]
                         : fds ? 0x20000UL + x->fds[i]
                               : 0x10000UL + SID_P + ((unsigned long)x->fds[i] << 12);
                d->type = info ? FS_DT_REG : fds ? FS_DT_LNK : FS_DT_DIR;
                *c = x->fds[i] + 3;
                return 1;
            }
        return 0;
    }
    if (o->ent >= SID_P && o->ent < SID_P + synth_np) {
        /* /proc/<pid> or a directory below it: the synth_ptab entries one
         * level down.  A thread's directory (arg: its tid) has no task. */
        const char *dir = synth_ptab[o->ent - SID_P].path;
        size_t dl = strlen(dir);
        int thread = !dl && o->arg && synth_task_tgid(o->arg) != o->arg;
        for (k++; k < synth_np; k++) {
            const char *p = synth_ptab[k].path;
            if (strncmp(p, dir, dl) != 0 || p[dl] != '/' || strchr(p + dl + 1, '/') ||
                (thread && k == synth_np - 2))
                continue;
            d->name = p + dl + 1;
            d->nlen = strlen(d->name);
            d->ino = 0x10000UL + SID_P + k;
            d->type = dtype(synth_ptab[k].type);
            *c = k + 2;
            return 1;
        }
        return 0;
    }
    if (o->ent == SID_N) {
        /* An interface's directory (synth_net.c): its files. */
        if (++k >= synth_nn)
            return 0;
        d->name = synth_ntab[k].path + 1;
        d->nlen = strlen(d->name);
        d->ino = 0x10000UL + SID_N + k + ((unsigned long)o->arg << 12);
        d->type = FS_DT_REG;
        *c = k + 2;
        return 1;
    }
    if (o->ent < 0 || o->ent >= synth_ng)
        return 0;
    const char *dir = synth_gtab[o->ent].path;
    size_t dl = strlen(dir);
    for (; k < synth_ng; k++) {
        const char *p = synth_gtab[k].path;
        if (strncmp(p, dir, dl) != 0 || p[dl] != '/' || strchr(p + dl + 1, '/'))
            continue;
        if (strcmp(p, "/dev/tty") == 0 && !synth_have_tty())
            continue;
        d->name = p + dl + 1;
        d->nlen = strlen(d->name);
        d->ino = 0x10000UL + k;
        d->type = dtype(synth_gtab[k].type);
        *c = k + 3;
        return 1;
    }
    if (k >= synth_ng && strcmp(dir, "/sys/class/net") == 0) {
        /* The interfaces, by index (cookie: synth_ng + the index). */
        if (!x->loaded) {
            x->loaded = 1;
            synth_each_netif(add_num, x);
        }
        for (int i = 0; i < x->nfds; i++)
            if (x->fds[i] >= k - synth_ng && synth_netif_name(x->fds[i], d->nbuf) == 0) {
                d->name = d->nbuf;
                d->nlen = strlen(d->nbuf);
                d->ino = 0x10000UL + SID_N + ((unsigned long)x->fds[i] << 12);
                d->type = FS_DT_DIR;
                *c = synth_ng + x->fds[i] + 3;
                return 1;
            }
        return 0;
    }
    if (k >= synth_ng && strncmp(dir, "/sys", 4) == 0 && (dir[4] == 0 || dir[4] == '/'))
        return sys_trees_next(dir, dl, k - synth_ng, c, d);
    if (k >= synth_ng && strcmp(dir, "/proc") == 0) {
        if (!x->loaded)
            load_nums(x, "/proc", 0, 0, 0x7fffffff);
        for (int i = 0; i < x->nfds; i++)
            if (x->fds[i] >= k - synth_ng) {
                put_num(d, x->fds[i]);
                d->ino = 0x10000UL + SID_P +
                         (x->fds[i] == fs_pid() ? 0 : (unsigned long)x->fds[i] << 12);
                d->type = FS_DT_DIR;
                *c = synth_ng + x->fds[i] + 3;
                return 1;
            }
    }
    return 0;
}
