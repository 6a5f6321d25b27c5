/*
 * The strace-style tracer: one line per traced guest syscall, written by the
 * kernel itself to the trace fd:
 *     trap openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3 <0.000012>
 * The first word is the path the call took (trap or fast).  Once the guest
 * has more than one task, every line starts with the caller's guest pid (and
 * tid, for a thread that is not its process's first), as strace -f does:
 *     [pid 3] fast write(1, "a\n", 2) = 2 <0.000003>
 * With LS_BOOT_TRACE_JSON each line is one JSON object instead (trace_end).
 * Which calls are traced is the boot info's trace_calls map: the monitor
 * turns names and strace classes into it, so a call left out costs one bit
 * test.  Counting for the summary is trace_summary.c.
 */
#include "kernel.h"
#include "syscall_table.h"
#include "trace.h"


unsigned trace_mode;
static int tagged;               /* the guest has had more than one task */
static unsigned long tsc0, mono0;   /* the TSC and CLOCK_MONOTONIC at trace_init */

static unsigned long clock_ns(int clock)
{
    struct { long tv_sec, tv_nsec; } ts;
    hsys2(__NR_clock_gettime, clock, (long)&ts);
    return ts.tv_sec * 1000000000UL + ts.tv_nsec;
}

void trace_init(void)
{
    unsigned f = K.bi->flags;
    trace_mode = (K.trace_fd >= 0 ? LS_BOOT_TRACE : 0) | (f & LS_BOOT_TRACE_SUMMARY);
    if (trace_mode)
        trace_mode |= f & LS_BOOT_TRACE_JSON;
    tsc0 = rdtsc();
    mono0 = clock_ns(1 /* CLOCK_MONOTONIC */);
    if (trace_mode & LS_BOOT_TRACE)
        trace_args_init();
    trace_summary_init(tsc0, mono0);
}

/* Calls are timed in TSC ticks (two rdtsc instead of two host calls);
 * ticks become nanoseconds at the rate measured since trace_init, in 16.16
 * fixed point (no 128-bit division in a freestanding kernel). */
unsigned long trace_ticks_ns(unsigned long ticks)
{
    unsigned long dt = rdtsc() - tsc0, dn = clock_ns(1) - mono0;
    return dt ? ticks * ((dn << 16) / dt) >> 16 : 0;
}

static int is_clone(long nr)
{
    return nr == __NR_clone || nr == __NR_clone3 || nr == __NR_fork || nr == __NR_vfork;
}

static int in_map(long nr)
{
    if ((unsigned long)nr >= LS_TRACE_MAP_BITS)
        return 1;
    return (K.bi->trace_calls[nr / 64] >> (nr % 64)) & 1;
}

/* The clones pass through the tracer even when the map leaves them out:
 * once the guest has a second task, every line gets its tag. */
int trace_wants(long nr)
{
    return in_map(nr) || is_clone(nr);
}

/* Seconds and nanoseconds as strace's <0.000012> shows them (microseconds). */
#define SEC_US(ns) (ns) / 1000000000UL, ((ns) / 1000) % 1000000UL
#define SEC_NS(ns) (ns) / 1000000000UL, (ns) % 1000000000UL

static const struct syscall_desc *desc(long nr)
{
    return (unsigned long)nr < LS_NR_SYSCALLS && syscall_table[nr].name ? &syscall_table[nr] : 0;
}

/* How many arguments the line shows: open's mode means something only when
 * it creates (as strace shows it). */
static int shown_args(const struct syscall_desc *d, long nr, const long *args)
{
    int n = d->nargs;
    if ((nr == __NR_open || nr == __NR_openat) && !(args[n - 2] & (O_CREAT | __O_TMPFILE)))
        n--;
    return n;
}

static void text_line(struct line *l, const struct trace_call *c, long ret, unsigned long ns,
                      int done)
{
    const struct syscall_desc *d = desc(c->nr);
    trace_add(l, "%s ", c->path == LS_PATH_FAST ? "fast" : "trap");
    if (!d) {
        trace_add(l, "syscall_%ld(0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx)", c->nr, c->args[0],
            c->args[1], c->args[2], c->args[3], c->args[4], c->args[5]);
    } else {
        trace_add(l, "%s(", d->name);
        int n = shown_args(d, c->nr, c->args);
        for (int i = 0; i < n; i++) {
            if (i)
                trace_add(l, ", ");
            trace_add_arg(l, d->argk[i], c->args[i], i < 5 ? c->args[i + 1] : 0, ret, done);
        }
        trace_add(l, ")");
    }
    if (!done)
        trace_add(l, " = ?\n");
    else if (ret < 0 && ret > -4096)
        trace_add(l, " = -1 %s <%lu.%06lu>\n", errno_name(-ret), SEC_US(ns));
    else if (c->nr == __NR_mmap || c->nr == __NR_brk || c->nr == __NR_mremap)
        trace_add(l, " = 0x%lx <%lu.%06lu>\n", ret, SEC_US(ns));
    else
        trace_add(l, " = %ld <%lu.%06lu>\n", ret, SEC_US(ns));
}

/* {"pid":1,"tid":1,"path":"fast","nr":1,"name":"write","args":["1","\"hi\\n\"","3"],
 *  "ret":3,"errno":null,"time":1733.000000001,"duration":0.000002000}
 * args are the text trace's renderings; time is CLOCK_REALTIME at entry;
 * ret, errno and duration are null for a call that does not return. */
static void json_line(struct line *l, const struct trace_call *c, long ret, unsigned long ns,
                      int done)
{
    const struct syscall_desc *d = desc(c->nr);
    trace_add(l, "{\"pid\":%ld,\"tid\":%ld,\"path\":\"%s\",\"nr\":%ld,", c->pid, c->tid,
        c->path == LS_PATH_FAST ? "fast" : "trap", c->nr);
    if (d)
        trace_add(l, "\"name\":\"%s\",\"args\":[", d->name);
    else
        trace_add(l, "\"name\":\"syscall_%ld\",\"args\":[", c->nr);
    int n = d ? shown_args(d, c->nr, c->args) : 6;
    for (int i = 0; i < n; i++) {
        struct line arg;
        arg.len = 0;
        if (d)
            trace_add_arg(&arg, d->argk[i], c->args[i], i < 5 ? c->args[i + 1] : 0, ret, done);
        else
            trace_add(&arg, "0x%lx", c->args[i]);
        if (i)
            trace_add(l, ",");
        trace_add_json_string(l, arg.buf, arg.len);
    }
    trace_add(l, "],");
    if (!done)
        trace_add(l, "\"ret\":null,\"errno\":null,");
    else if (ret < 0 && ret > -4096)
        trace_add(l, "\"ret\":-1,\"errno\":\"%s\",", errno_name(-ret));
    else
        trace_add(l, "\"ret\":%ld,\"errno\":null,", ret);
    trace_add(l, "\"time\":%lu.%09lu,", SEC_NS(c->wall));
    if (done)
        trace_add(l, "\"duration\":%lu.%09lu}\n", SEC_NS(ns));
    else
        trace_add(l, "\"duration\":null}\n");
}

/* done == 0: the call does not return (exit) and is shown before it runs. */
static void emit(const struct trace_call *c, long ret, unsigned long ns, int done)
{
    struct line l;
    l.len = 0;
    if (trace_mode & LS_BOOT_TRACE_JSON) {
        json_line(&l, c, ret, ns, done);
    } else {
        if (tagged || c->pid != 1 || c->tid != c->pid)
            trace_add(&l, c->tid == c->pid ? "[pid %ld] " : "[pid %ld tid %ld] ", c->pid, c->tid);
        text_line(&l, c, ret, ns, done);
    }
    if (l.len >= (int)sizeof l.buf - 1) {
        if (trace_mode & LS_BOOT_TRACE_JSON)
            return;                  /* a cut object would not parse: none is better */
        l.buf[l.len - 1] = '\n';
    }
    kwrite_all(K.trace_fd, l.buf, l.len);
}

/* The execve being made: a successful one shows its line from
 * trace_before_exec, just before the next kernel replaces this one. */
static struct trace_call *pending_exec;

void trace_before_exec(void)
{
    struct trace_call *c = pending_exec;
    if (c) {
        unsigned long ticks = rdtsc() - c->t0;
        trace_count_done(c->nr, 0, ticks);
        if (trace_mode & LS_BOOT_TRACE)
            emit(c, 0, trace_ticks_ns(ticks), 1);
    }
    trace_summary_mark();
}

void trace_begin(struct trace_call *c, int path, long nr, const long *args)
{
    c->shown = in_map(nr);
    if (!c->shown)
        return;
    c->path = path;
    c->nr = nr;
    memcpy(c->args, args, sizeof c->args);
    if (trace_mode & LS_BOOT_TRACE) {
        c->pid = sys_getpid();
        c->tid = hsys0(__NR_gettid);     /* kcur()->tid may predate the pid namespace */
    }
    c->wall = trace_mode & LS_BOOT_TRACE_JSON ? clock_ns(0 /* CLOCK_REALTIME */) : 0;
    /* A call is counted before it runs: the process may end inside it (a
     * kill of itself) or go on in the next kernel (execve).  exit and
     * exit_group are shown but not counted, as strace -c cannot count them. */
    if (nr == __NR_exit_group || nr == __NR_exit) {
        if (trace_mode & LS_BOOT_TRACE)
            emit(c, 0, 0, 0);
    } else {
        trace_count_call(nr, path);
    }
    if (nr == __NR_execve || nr == __NR_execveat)
        pending_exec = c;
    c->t0 = rdtsc();
}

void trace_end(const struct trace_call *c, long ret, long nr, long pid)
{
    if (is_clone(nr) && ret == 0 && sys_getpid() != pid)
        return;     /* the child of a fork returns here too: not a call of its own */
    if (is_clone(nr) && ret > 0)
        tagged = 1;
    if (!c->shown)
        return;
    unsigned long ticks = rdtsc() - c->t0;
    if (nr == __NR_execve || nr == __NR_execveat)
        pending_exec = 0;                      /* it returned, so it failed */
    trace_count_done(nr, ret, ticks);
    if (trace_mode & LS_BOOT_TRACE)
        emit(c, ret, trace_ticks_ns(ticks), 1);
}
