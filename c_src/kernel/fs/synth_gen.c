/*
 * Contents of the synthetic files, generated at open into a memfd.  Most copy
 * the host's file (the guest runs on the host's CPUs and memory); the
 * per-process ones are the host's with what the guest must see instead:
 *   stat, status  the guest's command name (and uid/gid in status);
 *   maps          without the lines that overlap the kernel's own memory,
 *                 the guest's files named by their guest paths;
 *   cmdline, environ, comm  from the boot-info block; auxv the loader's (exec.c);
 *   mounts, mountinfo  the guest's view: the image, the synthetic trees, the volumes
 *                 (synth_mounts.c);
 *   limits        the host's (the kernel's host process has the guest's limits);
 *   cgroup, /sys/fs/cgroup  a cgroup v2 root holding the limits the guest was
 *                 given (boot info: --memory, --cpus, --pids), as a container
 *                 shows them, whatever the host's own cgroup layout.
 * A thread's files (/proc/<pid>/task/<tid>/...) are the host's of that thread.
 * Another process's are the host's of that process, with its slot of the
 * process table (proc/ptable.c) for what the host cannot know.
 */
#include "synth.h"
#include "proc/proc.h"
#include "proc/ptable.h"


/* Appends n bytes to memfd fd, off bytes long, through a mapping of it: a
 * write(2) would count in the process's /proc/<pid>/io (syscw, wchar),
 * whose reader (psutil's io_counters) expects its own writes there, none
 * of the kernel's. */
static long memfd_append(int fd, size_t off, const char *s, size_t n)
{
    long r = hsys2(__NR_ftruncate, fd, off + n);
    if (r < 0)
        return r;
    unsigned long base = LS_PAGE_DOWN(off), len = off + n - base;
    long m = hsys6(__NR_mmap, 0, len, PROT_WRITE, MAP_SHARED, fd, base);
    if (m < 0 && m > -4096)
        return m;
    memcpy((char *)m + (off - base), s, n);
    hsys2(__NR_munmap, m, len);
    return 0;
}

/* Appends n bytes to g's buffer, grown by doubling. */
static long out_append(struct gbuf *g, const char *s, size_t n)
{
    size_t len = g->out ? g->out->len : 0;
    if (!g->out || len + n > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096 - sizeof(struct kgen) - 16;
        while (cap < len + n)
            cap *= 2;
        struct kgen *k = kmalloc(sizeof *k + cap);
        if (!k)
            return -ENOMEM;
        k->len = len;
        if (g->out)
            memcpy(k->data, g->out->data, len);
        kfree(g->out);
        g->out = k;
        g->cap = cap;
    }
    memcpy(g->out->data + len, s, n);
    g->out->len = len + n;
    return 0;
}

static void gflush(struct gbuf *g)
{
    if (g->n && !g->err) {
        long r = g->fd < 0 ? out_append(g, g->b, g->n) : memfd_append(g->fd, g->size, g->b, g->n);
        if (r < 0)
            g->err = r;
        g->size += g->n;
    }
    g->n = 0;
}

void synth_gput(struct gbuf *g, const char *s, size_t n)
{
    while (n) {
        size_t k = sizeof g->b - g->n;
        if (k > n)
            k = n;
        memcpy(g->b + g->n, s, k);
        g->n += k;
        s += k;
        n -= k;
        if (g->n == sizeof g->b)
            gflush(g);
    }
}

void synth_gputs(struct gbuf *g, const char *s)
{
    synth_gput(g, s, strlen(s));
}

static long host_open(const char *path)
{
    return hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
}

/* Not inlined, no loop: in a loop the compiler may keep the call's number
 * in another register, where pack --specialize cannot read it.  A read of
 * the host's proc files does not sleep interruptibly: no EINTR to retry. */
static __attribute__((noinline)) long host_read(long fd, char *buf, size_t n)
{
    return hsys3(__NR_read, fd, (long)buf, n);
}

/* A pread, which leaves the position of the guest's own fd alone. */
static __attribute__((noinline)) long host_pread(long fd, char *buf, size_t n, long off)
{
    return hsys4(__NR_pread64, fd, (long)buf, n, off);
}

/* Host file path to read: the guest's fd when it is that file (then
 * *own is 0), else opened now.  A read of it from offset 0 makes the host
 * generate it afresh, as a seq_file's. */
static long host_source(struct gbuf *g, const char *path, int *own)
{
    *own = !(g->src >= 0 && strcmp(path, g->src_path) == 0);
    return *own ? host_open(path) : g->src;
}

/* The next bytes of fd, at *off of it. */
static long host_next(long fd, int own, char *buf, size_t n, long *off)
{
    long r = own ? host_read(fd, buf, n) : host_pread(fd, buf, n, *off);
    if (r > 0)
        *off += r;
    return r;
}

long synth_host_copy(struct gbuf *g, const char *path)
{
    int own;
    long fd = host_source(g, path, &own), off = 0;
    if (fd < 0)
        return fd;
    long r;
    while ((r = host_next(fd, own, g->in, sizeof g->in, &off)) > 0)
        synth_gput(g, g->in, r);
    if (own)
        hsys1(__NR_close, fd);
    return r;
}

/* Calls fn for every line (with its '\n') of host file path; over-long
 * lines are cut to the line buffer. */
long synth_host_lines(struct gbuf *g, const char *path, void (*fn)(struct gbuf *, char *, size_t))
{
    int own;
    long fd = host_source(g, path, &own), off = 0;
    if (fd < 0)
        return fd;
    long r;
    size_t ln = 0;
    const char *in = g->in;
    while ((r = host_next(fd, own, g->in, sizeof g->in, &off)) > 0) {
        /* A line's bytes at a time (memchr, memcpy), not a byte at a time:
         * a /proc read generates its file at each read from offset 0. */
        for (long i = 0, end; i < r; i = end) {
            const char *nl = memchr(in + i, '\n', r - i);
            end = nl ? nl - in + 1 : r;
            size_t k = (size_t)(end - i), room = sizeof g->line - 1 - ln;
            memcpy(g->line + ln, in + i, k < room ? k : room);
            ln += k < room ? k : room;
            if (nl) {
                g->line[ln] = 0;
                fn(g, g->line, ln);
                ln = 0;
            }
        }
    }
    if (ln) {
        g->line[ln] = 0;
        fn(g, g->line, ln);
    }
    if (own)
        hsys1(__NR_close, fd);
    return r;
}

const char *synth_host_task_path(long tid, long other, char *buf, size_t cap, const char *name)
{
    if (other)
        ksnprintf(buf, cap, "/proc/%ld%s", tid, name);
    else if (tid)
        ksnprintf(buf, cap, "/proc/self/task/%ld%s", tid, name);
    else if (strlcpy(buf, "/proc/self", cap) < cap)
        strlcpy(buf + 10, name, cap - 10);      /* every open of its own: no format to parse */
    return buf;
}

const char *synth_task_path(struct gbuf *g, char *buf, size_t cap, const char *name)
{
    return synth_host_task_path(g->tid, g->other, buf, cap, name);
}

/* An fdinfo's host file: arg is synth_arg(its pid (0: this process), fd). */
static void fdinfo_path(long arg, char *buf, size_t cap)
{
    if (synth_arg_task(arg))
        ksnprintf(buf, cap, "/proc/%ld/fdinfo/%ld", synth_arg_task(arg), synth_arg_n(arg));
    else
        ksnprintf(buf, cap, "/proc/self/fdinfo/%ld", synth_arg_n(arg));
}

long synth_host_file(int id, long arg, char *buf, size_t cap)
{
    const struct synth_ent *e = synth_entry(id);
    if (e->type != ST_FILE || id >= SID_N)
        return -ENOENT;         /* an interface's files: no host file of that name */
    if (id == SID_FDINFO) {
        fdinfo_path(arg, buf, cap);
        return 0;
    }
    if (!synth_per_process(id)) {
        strlcpy(buf, e->path, cap);
        return 0;
    }
    long tgid = synth_task_tgid(arg);
    if (tgid < 0)
        return -ENOENT;
    synth_host_task_path(arg, tgid, buf, cap, e->path);
    return 0;
}

/* The name Linux gives a process at exec: its program's file name (the
 * guest's comm where the host's is still the kernel binary's). */
const char *synth_prog_comm(void)
{
    const char *src = ls_prog->execfn;
    if (!*src && ls_prog->argc)
        src = ls_prog->argv[0];
    return path_base(src);
}

/* The guest's command name into g->comm: the host's (then 1), unless that
 * is still the boot stub's ("libsubst..."), then the program's file name
 * (15 bytes, as comm). */
static int guest_comm(struct gbuf *g, const char *host)
{
    const char *src = host;
    if (g->other && g->slot && (!host[0] || strncmp(host, "libsubst", 8) == 0))
        src = g->slot->comm;
    else if (!g->other && (!host[0] || strncmp(host, "libsubst", 8) == 0))
        src = synth_prog_comm();
    strlcpy(g->comm, src, sizeof g->comm);
    return src == host;
}

/* The same, from the host's comm file. */
static void guest_comm_file(struct gbuf *g)
{
    char host[32] = "";
    char path[48];
    int own;
    long fd = host_source(g, synth_task_path(g, path, sizeof path, "/comm"), &own), off = 0;
    if (fd >= 0) {
        long r = host_next(fd, own, host, sizeof host - 1, &off);
        host[r > 0 ? r : 0] = 0;
        if (own)
            hsys1(__NR_close, fd);
    }
    char *nl = strchr(host, '\n');
    if (nl)
        *nl = 0;
    guest_comm(g, host);
}

/* The same, from the host's name in a line of its stat or status, the
 * n bytes at s (no file of its own to read). */
static int guest_comm_of(struct gbuf *g, const char *s, size_t n)
{
    char host[32];
    if (n >= sizeof host)
        n = sizeof host - 1;
    memcpy(host, s, n);
    host[n] = 0;
    return guest_comm(g, host);
}

#define PF_FORKNOEXEC 0x40

/* The task flags (stat's ninth field, the seventh after the name) without
 * PF_FORKNOEXEC in the guest's first process (pid 1), which the tender
 * forked and whose program the kernel loaded as an execve would: a
 * container's pid 1 was exec'd (ps -l's F column: 4, as natively, not 5).
 * Every other guest process is a host fork, or a host execve's. */
static void put_stat_rest(struct gbuf *g, const char *s)
{
    const char *p = s;
    for (int field = 0; field < 7 && *p; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    const char *num = *p ? p + 1 : p;
    unsigned long flags = 0;
    for (p = num; *p >= '0' && *p <= '9'; p++)
        flags = flags * 10 + (*p - '0');
    if ((g->tid ? g->tid : fs_pid()) != 1 || !(flags & PF_FORKNOEXEC)) {
        synth_gputs(g, s);
        return;
    }
    char tmp[24];
    synth_gput(g, s, num - s);
    ksnprintf(tmp, sizeof tmp, "%lu", flags & ~(unsigned long)PF_FORKNOEXEC);
    synth_gputs(g, tmp);
    synth_gputs(g, p);
}

static void line_stat(struct gbuf *g, char *s, size_t n)
{
    char *open = strchr(s, '(');
    char *close = strrchr(s, ')');
    if (!open || !close || close < open) {
        synth_gput(g, s, n);
        return;
    }
    /* The pid as the guest sees it (its pid namespace's), then its name. */
    guest_comm_of(g, open + 1, close - open - 1);
    char pid[24];
    ksnprintf(pid, sizeof pid, "%ld (", g->tid ? g->tid : fs_pid());
    synth_gputs(g, pid);
    synth_gputs(g, g->comm);
    put_stat_rest(g, close);
}

static void line_status(struct gbuf *g, char *s, size_t n)
{
    char tmp[96];
    if (strncmp(s, "Name:", 5) == 0) {
        const char *name = s + 5, *end;
        while (*name == '\t')
            name++;
        for (end = name; *end && *end != '\n'; end++)
            ;
        if (guest_comm_of(g, name, end - name)) {
            synth_gput(g, s, n);        /* the host's, escaped as Linux escapes it */
        } else {
            ksnprintf(tmp, sizeof tmp, "Name:\t%s\n", g->comm);
            synth_gputs(g, tmp);
        }
    } else if (g->other) {
        synth_gput(g, s, n);               /* the host's ids, as the guest's are */
    } else if (strncmp(s, "Pid:", 4) == 0 || strncmp(s, "Tgid:", 5) == 0 ||
               strncmp(s, "PPid:", 5) == 0) {
        /* As the guest sees them: its pid namespace's. */
        long v = s[0] == 'P' && s[1] == 'P' ? hsys0(__NR_getppid)
                 : s[0] == 'P' && g->tid ? g->tid : fs_pid();
        size_t k = strchr(s, ':') - s + 1;      /* the field's name, at most "PPid:" */
        memcpy(tmp, s, k);
        ksnprintf(tmp + k, sizeof tmp - k, "\t%ld\n", v);
        synth_gputs(g, tmp);
    } else if (strncmp(s, "Uid:", 4) == 0 || strncmp(s, "Gid:", 4) == 0) {
        unsigned id = s[0] == 'U' ? K.bi->uid : K.bi->gid;
        ksnprintf(tmp, sizeof tmp, "%.4s\t%u\t%u\t%u\t%u\n", s, id, id, id, id);
        synth_gputs(g, tmp);
    } else {
        synth_gput(g, s, n);
    }
}

static unsigned long parse_hex(const char **s)
{
    unsigned long v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (c - 'a' + 10);
        else
            return v;
    }
}

/* The guest path of a file maps names by its host path: an image file (or
 * its window of a packed image, by the offset; its entry in *ent), a
 * volume's file (*ent -1); or NULL. */
static const char *guest_name(struct gbuf *g, const char *host, unsigned long off, int *ent)
{
    static char image[LS_PATH_MAX];  /* the packed image, as the host names it */
    if (K.image_fd >= 0 && !image[0]) {
        char fdp[40];
        ksnprintf(fdp, sizeof fdp, "/proc/self/fd/%d", K.image_fd);
        long r = hsys4(__NR_readlinkat, AT_FDCWD, (long)fdp, (long)image, sizeof image - 1);
        image[r > 0 ? r : 0] = 0;
    }
    int packed = image[0] && strcmp(host, image) == 0;
    *ent = img_host_entry(host);
    if (*ent >= 0)
        return img_path(*ent);
    for (int i = 0; packed && i < img_count(); i++) {
        const struct ls_fs_entry *e = img_ent(i);
        if (e->kind == LS_ENT_IMAGE_FILE && off >= e->data_off && off < e->data_off + e->data_size)
            return img_path(*ent = i);
    }
    int best = -1;                   /* the innermost volume holding it */
    size_t best_len = 0;
    for (int i = 0; i < fs_nmnt; i++) {
        size_t hl = strlen(fs_mnt[i].host);
        if (strncmp(host, fs_mnt[i].host, hl) == 0 && host[hl] == '/' && (best < 0 || hl > best_len))
            best = i, best_len = hl;
    }
    if (best < 0)
        return 0;
    size_t gl = fs_mnt[best].glen < sizeof g->name ? fs_mnt[best].glen : 0;
    memcpy(g->name, fs_mnt[best].guest, gl);
    strlcpy(g->name + gl, host + best_len, sizeof g->name - gl);
    return g->name;
}

int synth_maps_hidden(struct gbuf *g, const char *s, unsigned long *lo, unsigned long *hi)
{
    const char *p = s;
    *lo = parse_hex(&p);
    *hi = *lo;
    if (*p != '-')
        return 0;
    p++;
    *hi = parse_hex(&p);
    return synth_kernel_range(g->other, g->slot, *lo, *hi);
}

/* The spaces after a maps line's first col bytes (to its inode) before
 * its name, as show_map_vma's seq_pad puts them: to column 73 on x86-64. */
static void pad_to_name(struct gbuf *g, size_t col)
{
    static const char pad[] = "                                                                        ";
    size_t k = col + 1 < 73 ? 73 - col : 2;
    synth_gput(g, pad, k < sizeof pad - 1 ? k : sizeof pad - 1);
}

/* A maps line from its start s to the name at p, image entry ent's (-1: a
 * volume's file, whose ids are the host's) with the dev and inode fields
 * at id as an fstat of the file gives them in the guest (stat.c's stat_fd;
 * lsof takes a mapping whose ids are not its path's for another file's),
 * padded to the name's column as Linux pads it. */
static void put_maps_ids(struct gbuf *g, const char *s, const char *id, const char *p, int ent)
{
    if (ent < 0) {
        synth_gput(g, s, p - s);
        return;
    }
    if (ent != g->ids_ent) {
        struct stat st = {.st_dev = FS_DEV_IMAGE, .st_ino = ent + 1};
        upper_identity_at(img_path(ent), ent, &st);
        ksnprintf(g->ids, sizeof g->ids, "%02x:%02x %lu", FS_MAJOR(st.st_dev), FS_MINOR(st.st_dev),
                  (unsigned long)st.st_ino);
        g->ids_ent = ent;
    }
    synth_gput(g, s, id - s);
    synth_gputs(g, g->ids);
    pad_to_name(g, (id - s) + strlen(g->ids));
}

/* Without the kernel's own memory; files named by their guest paths. */
int synth_maps_line(struct gbuf *g, char *s, size_t n)
{
    unsigned long lo, hi;
    if (synth_maps_hidden(g, s, &lo, &hi))
        return 0;
    const char *p, *id = s;
    /* address perms offset dev inode   path */
    unsigned long off = 0;
    p = s;
    for (int field = 0; field < 5; field++) {
        if (field == 2)
            off = parse_hex(&p);
        if (field == 3)
            id = p;
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    if (*p == '/' && s[n - 1] == '\n') {
        s[n - 1] = 0;
        int ent;
        const char *guest = guest_name(g, p, off, &ent);
        s[n - 1] = '\n';
        if (guest) {
            put_maps_ids(g, s, id, p, ent);
            synth_gputs(g, guest);
            synth_gputs(g, "\n");
            return 1;
        }
    }
    /* The anonymous mappings Linux names by what they hold, their names
     * padded to the column Linux's are: the stack the program started on
     * (the host's [stack] is the kernel's first, unnamed to the guest), the
     * kernel's brk (anonymous memory to the host) as the heap. */
    unsigned long stack = g->other ? (g->slot ? g->slot->start_stack : 0) : ls_start_stack;
    int at_stack = stack && lo <= stack && stack <= hi;
    const char *name = *p == '\n' && at_stack ? "[stack]\n" : 0;
    if (stack && !at_stack && strcmp(p, "[stack]\n") == 0)
        name = "\n";
    unsigned long heap, top;
    mm_heap(&heap, &top);
    if (*p == '\n' && !g->other && top > heap && lo <= heap && heap < hi)
        name = "[heap]\n";
    if (name) {
        const char *end = p;
        while (end > s && end[-1] == ' ')
            end--;
        synth_gput(g, s, end - s);
        if (name[0] != '\n')
            pad_to_name(g, end - s);
        synth_gputs(g, name);
        return 1;
    }
    synth_gput(g, s, n);
    return 1;
}

static void line_maps(struct gbuf *g, char *s, size_t n)
{
    synth_maps_line(g, s, n);
}

/* The flags F_GETFL gives (fd.c), with the host's close-on-exec bit: this
 * process's fd as its table says; another process's table is not readable
 * here, so its O_NOFOLLOW shows only with O_PATH (on a guest's own
 * O_NOFOLLOW open of a regular file it is lost, see the README). */
static void line_fdinfo(struct gbuf *g, char *s, size_t n)
{
    if (strncmp(s, "pos:", 4) == 0 && !synth_arg_task(g->tid)) {
        /* An fd whose reads the kernel serves has its position there. */
        int based = fd_is_based(synth_arg_n(g->tid));
        struct kofd *o = based == FD_WINDOW || based == FD_GEN ? fd_get(synth_arg_n(g->tid)) : 0;
        if (o) {
            char tmp[40];
            ksnprintf(tmp, sizeof tmp, "pos:\t%ld\n", o->pos);
            synth_gputs(g, tmp);
        }
        kofd_put(o);
        if (o)
            return;
    }
    if (strncmp(s, "flags:", 6) == 0) {
        const char *p = s + 6;
        while (*p == '\t' || *p == ' ')
            p++;
        unsigned long v = 0;
        for (; *p >= '0' && *p <= '7'; p++)
            v = v * 8 + (*p - '0');
        if (synth_arg_task(g->tid)) {
            if (!(v & O_PATH))
                v &= ~(unsigned long)O_NOFOLLOW;
        } else {
            struct kofd *o = fd_get(synth_arg_n(g->tid));
            if (o && (o->flags & KF_F_BASED))   /* the image fd's are not the fd's */
                v = (v & O_CLOEXEC) | O_LARGEFILE | o->arg;
            v = kofd_getfl(o, v);
            kofd_put(o);
        }
        char tmp[48];
        ksnprintf(tmp, sizeof tmp, "flags:\t0%lo\n", v);
        synth_gputs(g, tmp);
        return;
    }
    synth_gput(g, s, n);
}

static void put_strings(struct gbuf *g, unsigned count, const char *const *v)
{
    for (unsigned i = 0; i < count; i++)
        synth_gput(g, v[i], strlen(v[i]) + 1);
}


static long fill(struct gbuf *g, const struct synth_ent *e)
{
    const char *path = e->path;
    char hp[64];
    switch (e->gen) {
    case SG_HOSTCOPY:
        return synth_host_copy(g, path);
    case SG_LIMITS:
        return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, path), synth_put_limit);
    case SG_SELFCOPY:
        return synth_host_copy(g, synth_task_path(g, hp, sizeof hp, path));
    case SG_TEXT:
        synth_gputs(g, e->aux);
        return 0;
    case SG_CGROUP:
        return synth_put_cgroup(g, path_base(path));
    case SG_STAT:
        return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/stat"), line_stat);
    case SG_STATUS:
        return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/status"), line_status);
    case SG_SMAPS:
        return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/smaps"), synth_smaps_line);
    case SG_SMAPS_ROLLUP:
        return synth_put_smaps_rollup(g);
    case SG_MAPS:
        if (g->other)
            return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/maps"), line_maps);
        return synth_host_lines(g, "/proc/self/maps", line_maps);
    case SG_CMDLINE:
    case SG_ENVIRON:
        if (!g->other)
            put_strings(g, e->gen == SG_CMDLINE ? ls_prog->argc : ls_prog->envc,
                        e->gen == SG_CMDLINE ? ls_prog->argv : ls_prog->envp);
        else if (g->slot && g->state != 'Z')    /* a zombie has no memory left to show */
            synth_gput(g, e->gen == SG_CMDLINE ? g->slot->args : g->slot->env,
                 e->gen == SG_CMDLINE ? g->slot->args_len : g->slot->env_len);
        return 0;
    case SG_AUXV:
        if (!g->other)
            synth_gput(g, (const char *)ls_saved_auxv, ls_saved_auxv_len);
        else if (g->slot && g->state != 'Z')
            synth_gput(g, (const char *)g->slot->auxv, g->slot->auxv_len);
        return 0;
    case SG_MOUNTS:
        synth_put_mounts(g, MOUNTS_TABLE);
        return 0;
    case SG_MOUNTINFO:
        synth_put_mounts(g, MOUNTS_INFO);
        return 0;
    case SG_MOUNTSTATS:
        synth_put_mounts(g, MOUNTS_STATS);
        return 0;
    case SG_FDINFO:
        fdinfo_path(g->tid, hp, sizeof hp);
        return synth_host_lines(g, hp, line_fdinfo);
    case SG_NET:
        return synth_put_net(g, path_base(path));
    case SG_NETIF:
        return synth_put_netif(g, path_base(path), g->tid);
    case SG_COMM:
        guest_comm_file(g);
        synth_gputs(g, g->comm);
        synth_gputs(g, "\n");
        return 0;
    }
    return -EINVAL;
}

/* Generates e's bytes (of thread or process tid) through g, whose fd,
 * src and src_path are set: 0 or -errno. */
static long generate(struct gbuf *g, const struct synth_ent *e, long tid)
{
    g->tid = tid;
    g->err = 0;
    g->n = g->size = 0;
    g->slot = 0;
    g->ids_ent = -1;
    g->out = 0;
    g->cap = 0;
    /* An fdinfo's argument is a pid and an fd (the host's file says all);
     * an interface file's, its ifindex. */
    long r = g->other = e->gen == SG_FDINFO || e->gen == SG_NETIF
                            ? 0 : synth_other_slot(tid, &g->slot, &g->state);
    if (r >= 0)
        r = fill(g, e);
    kfree(g->slot);
    gflush(g);
    return r < 0 ? r : g->err;
}

long synth_generate(const struct synth_ent *e, long tid, int cloexec)
{
    struct gbuf *g = kmalloc(sizeof *g);
    if (!g)
        return -ENOMEM;
    long fd = fs_memfd_new(path_base(e->path), cloexec);
    if (fd >= 0) {
        g->fd = fd;
        g->src = -1;
        long r = generate(g, e, tid);
        /* Sealed as every memfd the kernel fills; the guest's fd is a
         * reopen of it (fs_reopen), at offset 0, its mode synth_fix_stat's. */
        if (r < 0 || (r = hsys3(__NR_fcntl, fd, F_ADD_SEALS, FS_SEALS)) < 0) {
            hsys1(__NR_close, fd);
            fd = r;
        }
    }
    kfree(g);
    return fd;
}

long synth_generate_buf(int id, long arg, long fd, const char *src, struct kgen **out)
{
    struct gbuf *g = kmalloc(sizeof *g);
    if (!g)
        return -ENOMEM;
    g->fd = -1;
    g->src = fd;
    g->src_path = src;
    long r = generate(g, synth_entry(id), arg);
    if (r >= 0 && !g->out && (g->out = kmalloc(sizeof **out)))
        g->out->len = 0;                /* an empty file */
    if (r >= 0 && !g->out)
        r = -ENOMEM;
    if (r < 0)
        kfree(g->out);
    else
        *out = g->out;
    kfree(g);
    return r;
}
