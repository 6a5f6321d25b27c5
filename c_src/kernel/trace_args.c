/*
 * How the tracer shows each argument: numbers, flags, and strings and
 * buffers of guest memory, which it copies through a pipe of its own so
 * that a pointer the guest cannot read prints as an address (strace's way)
 * instead of faulting in the kernel.
 */
#include "kernel.h"
#include "syscall_table.h"
#include "trace.h"


void trace_add(struct line *l, const char *fmt, ...)
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
    trace_add(l, "\"");
    for (long i = 0; i < n && i < max; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            trace_add(l, "\\%c", c);
        else if (c == '\n')
            trace_add(l, "\\n");
        else if (c == '\t')
            trace_add(l, "\\t");
        else if (c < 32 || c >= 127)
            trace_add(l, "\\%o", c);
        else
            trace_add(l, "%c", c);
    }
    trace_add(l, n > max ? "\"..." : "\"");
}

/* text as a JSON string: the tracer's text is ASCII, so only quotes,
 * backslashes and control characters need escaping. */
void trace_add_json_string(struct line *l, const char *text, int n)
{
    trace_add(l, "\"");
    for (int i = 0; i < n; i++) {
        unsigned char c = text[i];
        if (c == '"' || c == '\\')
            trace_add(l, "\\%c", c);
        else if (c < 32)
            trace_add(l, "\\u%04x", c);
        else
            trace_add(l, "%c", c);
    }
    trace_add(l, "\"");
}


/* A pipe that tells readable guest memory from the rest: the host answers a
 * write from memory the guest cannot read (unmapped, PROT_NONE) with EFAULT
 * or a short count, as it would the guest's own write.  Made at boot (the
 * kernel's reserved fds cannot be made later); a fork's children share it,
 * and as nobody reads back what they wrote, only drains about as much, that
 * does not matter. */
static int probe_fds[2] = {-1, -1};

void trace_args_init(void)
{
    int fds[2];
    if (hsys2(__NR_pipe2, (long)fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return;
    probe_fds[0] = kfd_hide(fds[0]);
    probe_fds[1] = kfd_hide(fds[1]);
}

/* Copies up to n (<= 256) bytes of guest memory at addr into out, as many
 * as the guest can read from addr on, page by page (the host refuses a
 * write that runs into unreadable memory as a whole); with `string`, stops
 * after a page holding a NUL.  Returns the bytes copied, or -errno.  (A
 * guest thread that unmaps the memory between the check and the copy
 * crashes its own process, as it could by any other means.) */
static long peek(unsigned long addr, char *out, long n, int string)
{
    if (probe_fds[0] < 0 || probe_fds[1] < 0)
        return -EBADF;
    long done = 0;
    while (done < n) {
        unsigned long at = addr + done;
        long chunk = LS_PAGE - (at & (LS_PAGE - 1));
        if (chunk > n - done)
            chunk = n - done;
        long r = hsys3(__NR_write, probe_fds[1], at, chunk);
        if (r <= 0)
            return done ? done : r < 0 ? r : -EFAULT;
        memcpy(out + done, (const void *)at, r);
        char drain[256];
        hsys3(__NR_read, probe_fds[0], (long)drain, r);
        done += r;
        if (string && strnlen(out + done - r, r) < (size_t)r)
            break;
    }
    return done;
}

/* n bytes of guest memory at v, at most max of them shown, as a quoted
 * string; its address if the guest cannot read the first of them. */
static void add_guest(struct line *l, unsigned long v, long n, long max)
{
    char buf[256];
    long want = n < max ? n : max;
    long got = want > 0 ? peek(v, buf, want, 0) : 0;
    if (got < 0 || (got == 0 && want > 0)) {
        trace_add(l, "0x%lx", v);
        return;
    }
    /* a short copy (the buffer runs into memory the guest cannot read)
     * shows what could be read, then "..." */
    add_quoted(l, buf, got < want ? got + 1 : n, got < want ? got : max);
}

/* A NUL-terminated guest string of up to 255 bytes shown, "..." past them. */
static void add_guest_path(struct line *l, unsigned long v)
{
    char buf[256];
    long got = peek(v, buf, sizeof buf, 1);
    if (got <= 0) {
        trace_add(l, "0x%lx", v);
        return;
    }
    long len = strnlen(buf, got);
    add_quoted(l, buf, len < got ? len : got + 1, len < got ? len : got < 256 ? got : 255);
}

/* execve's argv as strace shows it: ["ls", "-l"], at most 32 strings of at
 * most 32 bytes shown; envp as its address and count. */
static void add_guest_argv(struct line *l, unsigned long v, int count_only)
{
    unsigned long p;
    long n = 0;
    if (count_only) {
        while (n < 4096 && peek(v + n * 8, (char *)&p, 8, 0) == 8 && p)
            n++;
        trace_add(l, "0x%lx /* %ld vars */", v, n);
        return;
    }
    trace_add(l, "[");
    for (; n < 32 && peek(v + n * 8, (char *)&p, 8, 0) == 8 && p; n++) {
        char buf[33];
        long got = peek(p, buf, sizeof buf, 1);
        if (n)
            trace_add(l, ", ");
        if (got <= 0) {
            trace_add(l, "0x%lx", p);
            continue;
        }
        long len = strnlen(buf, got);
        add_quoted(l, buf, len < got ? len : got, 32);
    }
    trace_add(l, n == 32 && peek(v + n * 8, (char *)&p, 8, 0) == 8 && p ? ", ...]" : "]");
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
        trace_add(l, "%s", zero);
        any = 1;
    }
    for (int i = 0; i < n; i++)
        if (f[i].bit && (v & f[i].bit) == f[i].bit) {
            trace_add(l, any ? "|%s" : "%s", f[i].name);
            v &= ~f[i].bit;
            any = 1;
        }
    if (v || !any)
        trace_add(l, any ? "|0x%lx" : "0x%lx", v);
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

void trace_add_arg(struct line *l, int kind, long v, long next, long ret, int done)
{
    switch (kind) {
    case LS_ARG_INT:
    case LS_ARG_FD:
    case LS_ARG_PID:
    case LS_ARG_SIG:
        trace_add(l, "%d", (int)v);
        break;
    case LS_ARG_DIRFD:
        if ((int)v == AT_FDCWD)
            trace_add(l, "AT_FDCWD");
        else
            trace_add(l, "%d", (int)v);
        break;
    case LS_ARG_UINT:
    case LS_ARG_SIZE:
        trace_add(l, "%lu", v);
        break;
    case LS_ARG_OFF:
        trace_add(l, "%ld", v);
        break;
    case LS_ARG_MODE:
        trace_add(l, "0%o", (unsigned)v);
        break;
    case LS_ARG_PATH:
        if (v)
            add_guest_path(l, v);
        else
            trace_add(l, "NULL");
        break;
    case LS_ARG_BUF_IN:
        if (v)
            add_guest(l, v, next, 32);
        else
            trace_add(l, "NULL");
        break;
    case LS_ARG_BUF_OUT:
        if (v && done && ret > 0)
            add_guest(l, v, ret, 32);
        else
            trace_add(l, "0x%lx", v);
        break;
    case LS_ARG_ARGV:
    case LS_ARG_ENVP:
        if (v)
            add_guest_argv(l, v, kind == LS_ARG_ENVP);
        else
            trace_add(l, "NULL");
        break;
    case LS_ARG_OFLAGS:
        add_flags(l, v & ~(unsigned long)O_ACCMODE, oflags, LS_ARRAY_SIZE(oflags),
                  (v & O_ACCMODE) == O_RDONLY ? "O_RDONLY"
                  : (v & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR");
        break;
    case LS_ARG_PROT:
        if (v == 0)
            trace_add(l, "PROT_NONE");
        else
            add_flags(l, v, prots, LS_ARRAY_SIZE(prots), 0);
        break;
    case LS_ARG_MFLAGS:
        add_flags(l, v, mflags, LS_ARRAY_SIZE(mflags), 0);
        break;
    default:
        trace_add(l, v ? "0x%lx" : "%ld", v);
    }
}

