/*
 * libsubst-supervise: what stays of `libsubst run` while its guest runs.
 * The Python monitor sets the guest up (plan, cgroup, boot info, report
 * pipe), starts the relay, then execs this small executable in its own
 * process, which (monitor/guest.py's Guest.hand_over):
 *   - passes the forwarded signals on to the relay as monitor/signals.py
 *     does (LS_FORWARDED_SIGNALS; a terminal's own, si_code LS_SI_KERNEL, is
 *     not; a process group's is asked for, LS_SIG_FORWARD, and the relay
 *     drops it; SIGTERM starts the stop timeout, a second one kills; a
 *     job-control stop, LS_STOP_SIGNALS, is passed on so and then stops
 *     this process too, which the shell waits for);
 *   - drains the report channel with the bounds report.py keeps
 *     (LS_REPORT_MAX_LINE, LS_REPORT_MAX_BYTES) into a memfd;
 *   - once the relay has ended: when there is nothing to say (no crash or
 *     ENOSYS record, no OOM kill, not SIGSYS, no epilogue asked for) it
 *     removes the run's cgroups and exits with the status the CLI returns
 *     (the guest's, or 128+N for signal N); otherwise it execs the epilogue
 *     command (python -m libsubst.monitor.epilogue ...) with the wait status
 *     and the memfd appended, so the words stay in report.py.
 * The relay keeps its parent-death signal: a supervisor killed takes the
 * guest with it, and the next run removes its empty cgroup (cgroup.py).
 *
 *   libsubst-supervise RELAY_PID REPORT_FD STOP_MS STOP_TEXT ALWAYS
 *                      [CGROUP_DIR...] -- EPILOGUE_COMMAND...
 *
 * STOP_TEXT is what it says when the stop timeout kills the guest, made by
 * monitor/signals.py's stop_message, the Python monitor's words too.
 * ALWAYS is 1 when the epilogue runs whatever happens (a trace, a core
 * file, scratch directories).  Like the tender it uses no host libc.
 */
#include "tender.h"
#include "libsubst/report.h"
#include "libsubst/signals.h"
#include <linux/time.h>
#include <linux/wait.h>

#define MFD_CLOEXEC_ 1U
#define SFD_CLOEXEC_ O_CLOEXEC

static int sup_kept;            /* a line of a kind the epilogue reports (crash, enosys, missing) */
static char line[LS_REPORT_MAX_LINE];
static unsigned line_len, budget = LS_REPORT_MAX_BYTES;
static int skipping;

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = ksnprintf(buf, sizeof buf, "libsubst: ");
    n += kvsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    kwrite_all(2, buf, n);
}

static void __attribute__((noreturn)) die(const char *what, long err)
{
    say("supervisor: %s: error %ld", what, -err);
    hsys1(__NR_exit_group, 125);
    __builtin_unreachable();
}

static long parse_long(const char *s)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int starts(const char *s, unsigned n, const char *word)
{
    unsigned w = strlen(word);
    return n > w && !memcmp(s, word, w) && s[w] == ' ';
}

/* Keeps what report.py's Reader would: lines shorter than the bound while
 * the budget lasts; a longer one is dropped up to its newline. */
static void keep(int memfd, const char *buf, long n)
{
    for (long i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (skipping)
                continue;
            line[line_len++] = buf[i];
            if (line_len >= sizeof line) {
                line_len = 0;
                skipping = 1;
            }
            continue;
        }
        if (!skipping && line_len < budget) {
            line[line_len] = '\n';
            kwrite_all(memfd, line, line_len + 1);
            budget -= line_len + 1;
            sup_kept |= starts(line, line_len, "crash") || starts(line, line_len, "enosys") ||
                        starts(line, line_len, "missing");
        }
        line_len = 0;
        skipping = 0;
    }
}

static long now_ms(void)
{
    struct timespec t;
    hsys2(__NR_clock_gettime, CLOCK_MONOTONIC, (long)&t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long read_file(const char *dir, const char *name, char *buf, long size)
{
    char path[TENDER_PATH_MAX];
    ksnprintf(path, sizeof path, "%s/%s", dir, name);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    long n = hsys3(__NR_read, fd, (long)buf, size - 1);
    hsys1(__NR_close, fd);
    buf[n > 0 ? n : 0] = 0;
    return n;
}

/* Whether the memory cgroup's OOM killer ended one of the guest's processes
 * (v2 memory.events, v1 memory.oom_control: a line "oom_kill N"). */
static int oom_killed(char **dirs, int n)
{
    static char buf[4096];
    for (int i = 0; i < n; i++)
        for (int v1 = 0; v1 < 2; v1++) {
            if (read_file(dirs[i], v1 ? "memory.oom_control" : "memory.events", buf, sizeof buf) <= 0)
                continue;
            for (char *p = buf; p; p = strchr(p, '\n')) {
                p += *p == '\n';
                if (!strncmp(p, "oom_kill ", 9))
                    return p[9] != '0';
            }
        }
    return 0;
}

/* Removes a run's cgroup once what is left in it has ended, as cgroup.py's
 * _remove does: the guest's processes die with its pid namespace's first
 * one, and any left is killed; bounded (200 tries, 10 ms apart). */
static void remove_cgroup(const char *dir)
{
    static char buf[4096];
    for (int i = 0; i < 200; i++) {
        long r = hsys3(__NR_unlinkat, AT_FDCWD, (long)dir, AT_REMOVEDIR);
        if (r == 0 || r == -ENOENT)
            return;
        if (read_file(dir, "cgroup.procs", buf, sizeof buf) < 0)
            return;
        for (char *p = buf; *p; p++) {
            long pid = 0;
            for (; *p >= '0' && *p <= '9'; p++)
                pid = pid * 10 + (*p - '0');
            if (pid > 0)
                hsys2(__NR_kill, pid, SIGKILL);
            if (!*p)
                break;
        }
        struct timespec ten_ms = {0, 10000000};
        hsys2(__NR_nanosleep, (long)&ten_ms, 0);
    }
}

/* LIBSUBST_TIMES_FD=N: the start-up benchmark's breakdown (benchmarks/
 * timeline.py) reads when the guest ended and the kernel's boot record
 * ("boot" line of the report) from fd N. */
static void times(char **envp, long memfd, long ended_ns)
{
    static const char var[] = "LIBSUBST_TIMES_FD=";
    static char kept[LS_REPORT_MAX_BYTES];
    char text[64];
    for (; *envp && strncmp(*envp, var, sizeof var - 1); envp++)
        ;
    long fd = *envp ? parse_long(*envp + sizeof var - 1) : -1;
    if (fd < 0)
        return;
    kwrite_all(fd, text, ksnprintf(text, sizeof text, "supervisor %ld\n", ended_ns));
    long n = hsys4(__NR_pread64, memfd, (long)kept, sizeof kept, 0);
    for (long i = 0; i < n; i++)
        if ((i == 0 || kept[i - 1] == '\n') && starts(kept + i, n - i, "boot")) {
            long end = i;
            while (end < n && kept[end] != '\n')
                end++;
            kwrite_all(fd, kept + i, end - i + (end < n));
        }
}

/* Asks the relay to pass sig on (signals.h: LS_SIG_FORWARD), which it
 * does unless the guest had a process group's copy of it. */
static void forward(long relay, int sig)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = LS_SIG_FORWARD;
    si.si_code = LS_SI_QUEUE;
    si.si_pid = hsys0(__NR_getpid);
    si.si_uid = hsys0(__NR_getuid);
    si.si_value.sival_int = sig;
    hsys3(__NR_rt_sigqueueinfo, relay, LS_SIG_FORWARD, (long)&si);
}

/* Stops this process by sig, a job-control stop the signalfd took: its
 * default action, once unblocked, as it would stop a native program (the
 * shell's wait sees the same stop signal); an ignored one does nothing, as
 * the guest inherited that disposition too.  Blocked again once continued. */
static void stop_self(int sig)
{
    unsigned long bit = 1UL << (sig - 1);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&bit, 0, sizeof bit);
    hsys3(__NR_tgkill, hsys0(__NR_getpid), hsys0(__NR_gettid), sig);
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&bit, 0, sizeof bit);
}

void __attribute__((used)) supervise_main(unsigned long *sp)
{
    int argc = sp[0];
    char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
    if (argc < 7)
        die("usage: RELAY_PID REPORT_FD STOP_MS STOP_TEXT ALWAYS [CGROUP...] -- EPILOGUE...", -EINVAL);
    long relay = parse_long(argv[1]), rep = parse_long(argv[2]), stop_ms = parse_long(argv[3]);
    const char *stop_text = argv[4];
    int always = argv[5][0] == '1';
    char **cgroups = argv + 6;
    int ncgroups = 0;
    while (6 + ncgroups < argc && strcmp(cgroups[ncgroups], "--"))
        ncgroups++;
    char **epilogue = cgroups + ncgroups + 1;
    int nepilogue = argc - 6 - ncgroups - 1;
    if (relay <= 0 || rep < 0 || stop_ms < 0 || nepilogue < 1)
        die("bad arguments", -EINVAL);

    /* Still blocked from the monitor (signals.before_start): the ones sent
     * meanwhile wait in the signalfd. */
    unsigned long mask = LS_FORWARDED_SIGNALS | LS_STOP_SIGNALS;
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&mask, 0, sizeof mask);
    long sfd = hsys4(__NR_signalfd4, -1, (long)&mask, sizeof mask, SFD_CLOEXEC_);
    long pidfd = hsys2(__NR_pidfd_open, relay, 0);
    long memfd = hsys2(__NR_memfd_create, (long)"libsubst-report", 0);
    if (sfd < 0 || pidfd < 0 || memfd < 0)
        die("signalfd, pidfd_open or memfd_create", sfd < 0 ? sfd : pidfd < 0 ? pidfd : memfd);

    static char buf[65536];
    struct { int fd; short events, revents; } p[3] = {{sfd, 1, 0}, {pidfd, 1, 0}, {rep, 1, 0}};
    long deadline = -1;
    int stopping = 0;
    for (;;) {
        struct timespec wait, *tp = 0;
        if (deadline >= 0) {
            long left = deadline - now_ms();
            wait.tv_sec = left > 0 ? left / 1000 : 0;
            wait.tv_nsec = left > 0 ? left % 1000 * 1000000 : 0;
            tp = &wait;
        }
        long r = hsys5(__NR_ppoll, (long)p, 3, (long)tp, 0, 0);
        if (r < 0 && r != -EINTR)
            die("ppoll", r);
        if (r == 0) {                       /* the stop timeout expired */
            say("%s", stop_text);
            hsys2(__NR_kill, relay, SIGKILL);
            deadline = -1;
            continue;
        }
        if (p[2].revents) {
            long n = hsys3(__NR_read, rep, (long)buf, sizeof buf);
            if (n > 0)
                keep(memfd, buf, n);
            else if (n != -EINTR)
                p[2].fd = -1;               /* end of file: no guest process holds it */
        }
        if (p[0].revents) {
            struct { unsigned signo; int err, code; unsigned pid; char pad[112]; } si;
            if (hsys3(__NR_read, sfd, (long)&si, sizeof si) != sizeof si)
                continue;
            if (si.signo < 64 && (LS_STOP_SIGNALS & (1UL << (si.signo - 1)))) {
                if (si.code != LS_SI_KERNEL)
                    forward(relay, si.signo);
                stop_self(si.signo);
                continue;
            }
            if (si.code == LS_SI_KERNEL)
                continue;                   /* the terminal's: the guest has it too */
            if (si.signo == SIGTERM && stopping) {
                hsys2(__NR_kill, relay, SIGKILL);       /* a second SIGTERM */
                deadline = -1;
                continue;
            }
            if (si.signo == SIGTERM) {
                deadline = now_ms() + stop_ms;
                stopping = 1;
            }
            forward(relay, si.signo);
        }
        if (p[1].revents)
            break;
    }
    int status = 0;
    long r;
    while ((r = hsys4(__NR_wait4, relay, (long)&status, 0, 0)) == -EINTR)
        ;
    long n;                                 /* the rest, until every guest process has ended */
    while (p[2].fd >= 0 && ((n = hsys3(__NR_read, rep, (long)buf, sizeof buf)) > 0 || n == -EINTR))
        if (n > 0)
            keep(memfd, buf, n);
    struct timespec t;
    hsys2(__NR_clock_gettime, CLOCK_MONOTONIC, (long)&t);
    times(envp, memfd, t.tv_sec * 1000000000L + t.tv_nsec);
    int sig = status & 0x7f;
    int code = r < 0 ? 125 : sig ? 128 + sig : (status >> 8) & 0xff;
    if (always || sup_kept || sig == SIGSYS || oom_killed(cgroups, ncgroups)) {
        char status_arg[16], memfd_arg[16];
        ksnprintf(status_arg, sizeof status_arg, "%d", r < 0 ? 125 << 8 : status);
        ksnprintf(memfd_arg, sizeof memfd_arg, "%ld", memfd);
        char *args[nepilogue + 3];
        memcpy(args, epilogue, nepilogue * sizeof *args);
        args[nepilogue] = status_arg;
        args[nepilogue + 1] = memfd_arg;
        args[nepilogue + 2] = 0;
        r = hsys3(__NR_execve, (long)args[0], (long)args, (long)envp);
        say("cannot start the report's epilogue %s: error %ld", args[0], -r);
    }
    for (int i = 0; i < ncgroups; i++)
        remove_cgroup(cgroups[i]);
    hsys1(__NR_exit_group, code);
    __builtin_unreachable();
}

/* The process entry: the host's initial stack (argc, argv, envp). */
__asm__(".text\n"
        ".globl supervise_start\n"
        ".type supervise_start, @function\n"
        "supervise_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call supervise_main\n"
        "    hlt\n");
