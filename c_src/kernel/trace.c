/*
 * The strace-style tracer: one line per guest syscall, written by the
 * kernel itself to the trace fd:
 *     trap openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3 <0.000012>
 * The first word is the path the call took (trap or fast).
 */
#include "kernel.h"
#include "syscall_table.h"

struct line {
    char buf[1024];
    int len;
};

static void add(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int room = (int)sizeof l->buf - l->len;
    if (room > 1) {
        int n = kvsnprintf(l->buf + l->len, room, fmt, ap);
        l->len += n < room ? n : room - 1;
    }
    va_end(ap);
}

static void add_quoted(struct line *l, const char *s, long n, long max)
{
    add(l, "\"");
    for (long i = 0; i < n && i < max; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            add(l, "\\%c", c);
        else if (c == '\n')
            add(l, "\\n");
        else if (c == '\t')
            add(l, "\\t");
        else if (c < 32 || c >= 127)
            add(l, "\\%o", c);
        else
            add(l, "%c", c);
    }
    add(l, n > max ? "\"..." : "\"");
}

struct flagname {
    unsigned long bit;
    const char *name;
};

static void add_flags(struct line *l, unsigned long v, const struct flagname *f, int n,
                      const char *zero)
{
    int any = 0;
    if (zero) {
        add(l, "%s", zero);
        any = 1;
    }
    for (int i = 0; i < n; i++)
        if (f[i].bit && (v & f[i].bit) == f[i].bit) {
            add(l, any ? "|%s" : "%s", f[i].name);
            v &= ~f[i].bit;
            any = 1;
        }
    if (v || !any)
        add(l, any ? "|0x%lx" : "0x%lx", v);
}

static const struct flagname oflags[] = {
    {O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"}, {O_NOCTTY, "O_NOCTTY"}, {O_TRUNC, "O_TRUNC"},
    {O_APPEND, "O_APPEND"}, {O_NONBLOCK, "O_NONBLOCK"}, {O_DSYNC, "O_DSYNC"},
    {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_CLOEXEC, "O_CLOEXEC"},
    {O_PATH, "O_PATH"}, {O_NOATIME, "O_NOATIME"}, {O_DIRECT, "O_DIRECT"},
    {O_LARGEFILE, "O_LARGEFILE"},
};
static const struct flagname prots[] = {
    {PROT_READ, "PROT_READ"}, {PROT_WRITE, "PROT_WRITE"}, {PROT_EXEC, "PROT_EXEC"},
};
static const struct flagname mflags[] = {
    {MAP_SHARED, "MAP_SHARED"}, {MAP_PRIVATE, "MAP_PRIVATE"}, {MAP_FIXED, "MAP_FIXED"},
    {MAP_ANONYMOUS, "MAP_ANONYMOUS"}, {MAP_DENYWRITE, "MAP_DENYWRITE"},
    {MAP_NORESERVE, "MAP_NORESERVE"}, {MAP_STACK, "MAP_STACK"}, {MAP_POPULATE, "MAP_POPULATE"},
    {MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"}, {MAP_GROWSDOWN, "MAP_GROWSDOWN"},
};

static void add_arg(struct line *l, int kind, long v, long next, long ret, int done)
{
    switch (kind) {
    case LS_ARG_INT:
    case LS_ARG_FD:
    case LS_ARG_PID:
    case LS_ARG_SIG:
        add(l, "%d", (int)v);
        break;
    case LS_ARG_DIRFD:
        if ((int)v == AT_FDCWD)
            add(l, "AT_FDCWD");
        else
            add(l, "%d", (int)v);
        break;
    case LS_ARG_UINT:
    case LS_ARG_SIZE:
        add(l, "%lu", v);
        break;
    case LS_ARG_OFF:
        add(l, "%ld", v);
        break;
    case LS_ARG_MODE:
        add(l, "0%o", (unsigned)v);
        break;
    case LS_ARG_PATH:
        if (v)
            add_quoted(l, (const char *)v, strnlen((const char *)v, 256), 255);
        else
            add(l, "NULL");
        break;
    case LS_ARG_BUF_IN:
        if (v)
            add_quoted(l, (const char *)v, next, 32);
        else
            add(l, "NULL");
        break;
    case LS_ARG_BUF_OUT:
        if (v && done && ret > 0)
            add_quoted(l, (const char *)v, ret, 32);
        else
            add(l, "0x%lx", v);
        break;
    case LS_ARG_OFLAGS:
        add_flags(l, v & ~(unsigned long)O_ACCMODE, oflags, LS_ARRAY_SIZE(oflags),
                  (v & O_ACCMODE) == O_RDONLY ? "O_RDONLY"
                  : (v & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR");
        break;
    case LS_ARG_PROT:
        if (v == 0)
            add(l, "PROT_NONE");
        else
            add_flags(l, v, prots, LS_ARRAY_SIZE(prots), 0);
        break;
    case LS_ARG_MFLAGS:
        add_flags(l, v, mflags, LS_ARRAY_SIZE(mflags), 0);
        break;
    default:
        add(l, v ? "0x%lx" : "%ld", v);
    }
}

/* ns == ~0: the call does not return (exit); printed before it runs. */
void trace_syscall(int path, long nr, const long *args, long ret, unsigned long ns)
{
    struct line l;
    l.len = 0;
    int done = ns != ~0UL;
    const struct syscall_desc *d =
        (unsigned long)nr < LS_NR_SYSCALLS && syscall_table[nr].name ? &syscall_table[nr] : 0;
    add(&l, "%s ", path == LS_PATH_FAST ? "fast" : "trap");
    if (!d) {
        add(&l, "syscall_%ld(0x%lx, 0x%lx, 0x%lx, ...)", nr, args[0], args[1], args[2]);
    } else {
        add(&l, "%s(", d->name);
        int nargs = d->nargs;
        /* open's mode means something only when it creates (as strace shows it). */
        if ((nr == __NR_open || nr == __NR_openat) && !(args[nargs - 2] & (O_CREAT | __O_TMPFILE)))
            nargs--;
        for (int i = 0; i < nargs; i++) {
            if (i)
                add(&l, ", ");
            add_arg(&l, d->argk[i], args[i], i < 5 ? args[i + 1] : 0, ret, done);
        }
        add(&l, ")");
    }
    if (!done)
        add(&l, " = ?\n");
    else if (ret < 0 && ret > -4096)
        add(&l, " = -1 %s <%lu.%06lu>\n", errno_name(-ret), ns / 1000000000UL,
            (ns / 1000) % 1000000UL);
    else if (nr == __NR_mmap || nr == __NR_brk || nr == __NR_mremap)
        add(&l, " = 0x%lx <%lu.%06lu>\n", ret, ns / 1000000000UL, (ns / 1000) % 1000000UL);
    else
        add(&l, " = %ld <%lu.%06lu>\n", ret, ns / 1000000000UL, (ns / 1000) % 1000000UL);
    if (l.len >= (int)sizeof l.buf - 1)
        l.buf[l.len - 1] = '\n';
    kwrite_all(K.trace_fd, l.buf, l.len);
}
