/*
 * The syscall-path micro-benchmark: ns per call of system calls made
 * through the C library, as a program makes them.  Run natively, natively
 * under a seccomp filter (the container baseline), in the guest with glibc
 * substituted (fastcalls) and in the guest on the trap path, it measures
 * what substitution buys and what the host's own floor is.  `libsubst bench
 * syscalls` runs it; the same binary serves every run.
 *
 * usage: syscall-bench [--sud] [--floors] [--only=NAME,...] [--landlock=RULE] ITERATIONS REPEATS IMAGE_FILE VOLUME_DIR [FILTER]
 * IMAGE_FILE is opened (a file of the guest's image); VOLUME_DIR is a
 * writable directory (a volume in the guest) where it makes its files: one
 * in it, and one three directories down (a/b/c/, as a server's files lie
 * below a volume's root).
 * FILTER, when given, is a file of struct sock_filter the program installs
 * as its seccomp filter before timing anything (natively only).
 * --sud turns Syscall User Dispatch on with the allowed region covering all
 * of user space, so every call passes, as the guest kernel's own host calls
 * from its text do: what SUD's check costs a call that it lets through.
 * --only times the named operations alone.
 * --floors times, in place of the program's calls, the host calls the guest
 * kernel makes for them (floor_*: from the volume's fd, beneath it), to be
 * run natively: the host's price of each, with and without the sandbox.
 * --landlock=RULE (ro|ro-no-truncate|rw, or rw's variants below) restricts
 * the program, once its files are made, with Landlock as the tender
 * restricts a guest with one volume, VOLUME_DIR: read-only (read files and
 * directories, and the optional truncate right the read-only bind refuses
 * anyway), the read-only rule
 * without truncate (the tender's before) or read-write (every right but
 * execute); nothing else is allowed, so only the volume's rows can run.
 * Variants of rw, to see what the ruleset's shape costs an open
 * (benchmarks/landlock_walk.py --candidates): rw-file adds a rule on the
 * volume's file itself (the check then ends at the file, as an image
 * file's own rule ends it); rw-rules adds RULES_MANY read-only rules on
 * other files (as an image's files have one each); rw-layers restricts
 * twice with the same ruleset (two domains); rw-rights handles only the
 * rights an open of a volume's file can ask for (read, write, truncate).
 * prints one line per operation: NAME MEDIAN_NS MIN_NS
 *
 * usage: syscall-bench [--seccomp] --trap-floor ITERATIONS REPEATS
 * times, natively, the least any trap by signal costs on this host: a
 * getppid that Syscall User Dispatch turns into a SIGSYS, answered by an
 * empty handler (one line, sud_trap_floor); with --seccomp, a getppid
 * that a filter's RET_TRAP turns into one (seccomp_trap_floor).
 * Every call's result is checked: if one failed, it says which and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include "libsubst/landlock_rules.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define BLOCK 4096
static long iters;
static const char *image_file;
static char vol_file[4096], deep_file[4096], deep_dirs[3][4096], vol_missing[4096];
static int zero_fd, null_fd, pipe_fds[2], vol_fd, ready_pipe[2], ep_fd, listen_fd;
static struct sockaddr_in listen_addr;
static volatile long sink;
static long failed;      /* calls that did not do their work: the run is then worthless */

static void op_getppid(void) { sink += getppid(); }
static void op_clock(void) { struct timespec ts; failed += clock_gettime(CLOCK_MONOTONIC, &ts) != 0; sink += ts.tv_nsec; }
static void op_read(void) { char c = 1; failed += read(zero_fd, &c, 1) != 1 || c != 0; }
static void op_write(void) { failed += write(null_fd, "x", 1) != 1; }
static void op_pipe(void) { char c = 'x'; failed += write(pipe_fds[1], &c, 1) != 1; c = 0; failed += read(pipe_fds[0], &c, 1) != 1 || c != 'x'; }
static void open_flags_close(const char *path, int flags) { int fd = open(path, flags); failed += fd < 0 || close(fd) != 0; }
static void open_close(const char *path) { open_flags_close(path, O_RDONLY | O_CLOEXEC); }
static void op_open_image(void) { open_close(image_file); }
static void op_open_volume(void) { open_close(vol_file); }
static void op_pread_volume(void) { char c = 0; failed += pread(vol_fd, &c, 1, 7) != 1 || c != 'v'; }
static void op_pwrite_volume(void) { failed += pwrite(vol_fd, "v", 1, 7) != 1; }
static void op_stat_image(void) { struct stat st; failed += stat(image_file, &st) != 0 || st.st_size == 0; }
static void op_stat_volume(void) { struct stat st; failed += stat(vol_file, &st) != 0 || st.st_size != BLOCK; }
static void op_open_volume_deep(void) { open_close(deep_file); }
static void op_open_nb_volume_deep(void) { open_flags_close(deep_file, O_RDONLY | O_NONBLOCK); }
static void op_fstat_volume(void) { struct stat st; failed += fstat(vol_fd, &st) != 0 || st.st_size != BLOCK; }
static void op_stat_volume_deep(void) { struct stat st; failed += stat(deep_file, &st) != 0 || st.st_size != BLOCK; }
/* The host's floors (--floors, natively): what the guest kernel's host
 * calls for a file three directories down cost, from the volume's fd. */
static int vol_dir_fd;
static const char *deep_rel = "a/b/c/syscall-bench.data";
static long openat2_beneath(const char *rel, unsigned long long flags)
{
    struct open_how how = {.flags = flags,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    return syscall(SYS_openat2, vol_dir_fd, rel, &how, sizeof how);
}
static void close_ok(long fd) { failed += fd < 0 || close(fd) != 0; }
static void op_f_openat(void) { close_ok(openat(vol_dir_fd, deep_rel, O_RDONLY | O_CLOEXEC)); }
static void op_f_openat2(void) { close_ok(openat2_beneath(deep_rel, O_RDONLY | O_CLOEXEC)); }
static void op_f_openat_root(void) { close_ok(openat(vol_dir_fd, "syscall-bench.data", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)); }
static void op_f_openat2_root(void) { close_ok(openat2_beneath("syscall-bench.data", O_RDONLY | O_CLOEXEC)); }
static void op_f_opath_dir(void) { close_ok(openat2_beneath("a/b/c", O_PATH | O_DIRECTORY | O_CLOEXEC)); }
static void op_f_opath_file(void) { close_ok(openat2_beneath(deep_rel, O_PATH | O_NOFOLLOW | O_CLOEXEC)); }
static void op_f_fstatat(void)
{
    struct stat st;
    failed += fstatat(vol_dir_fd, deep_rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_size != BLOCK;
}
static void op_f_statx(void)
{
    struct statx sx;
    failed += statx(vol_dir_fd, deep_rel, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | 0x4000 /* STATX_MNT_ID_UNIQUE */,
                    &sx) != 0 || sx.stx_size != BLOCK;
}
/* Today's deep stat: the directories by openat2, the name by fstatat, a close. */
static void op_f_dir_fstatat_close(void)
{
    struct stat st;
    long d = openat2_beneath("a/b/c", O_PATH | O_DIRECTORY | O_CLOEXEC);
    failed += d < 0 || fstatat(d, "syscall-bench.data", &st, AT_SYMLINK_NOFOLLOW) != 0 ||
              st.st_size != BLOCK;
    close_ok(d);
}
/* The file itself O_PATH, its statx by the fd, a close. */
static void op_f_opath_statx_close(void)
{
    struct statx sx;
    long f = openat2_beneath(deep_rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    failed += f < 0 || statx(f, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) != 0 || sx.stx_size != BLOCK;
    close_ok(f);
}

/* A file of the image's generated /etc (a data file of the boot info in the
 * guest: getpwnam's and getaddrinfo's per call), a generated /proc file
 * (its bytes made at each open), an ioctl (FIONREAD: one byte waits in the
 * pipe) and a stat that finds nothing (a PATH search's, an import's). */
static void op_open_etc(void) { open_close("/etc/passwd"); }
static void op_open_proc(void) { open_close("/proc/self/stat"); }
/* What a program does with a /proc file: open, read it whole, close; and a
 * monitor's read of a file it keeps open, from offset 0 every time. */
static int proc_stat_fd;
static void op_open_read_proc(void)
{
    char b[4096];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    failed += fd < 0 || read(fd, b, sizeof b) <= 0 || read(fd, b, sizeof b) != 0 || close(fd) != 0;
}
static void op_pread_proc(void) { char b[4096]; failed += pread(proc_stat_fd, b, sizeof b, 0) <= 0; }
static void op_ioctl(void) { int n = 0; failed += ioctl(ready_pipe[0], FIONREAD, &n) != 0 || n != 1; }
static void stat_missing(const char *path) { struct stat st; failed += stat(path, &st) != -1 || errno != ENOENT; }
static void op_stat_missing_volume(void) { stat_missing(vol_missing); }
static void op_stat_missing_usr_bin(void) { stat_missing("/usr/bin/syscall-bench-missing"); }

/* What nginx makes per request besides epoll_wait: its file's open
 * (O_RDONLY | O_NONBLOCK, a file in the volume's root as the server's),
 * glibc's fstat, a pread of the whole file and a close; a reply's header
 * and body in one writev of two iovecs (to a pipe, drained by a read);
 * a request read with recv from a loopback TCP socket that holds one (sent
 * by its peer); and a socket's close (made, then closed). */
static int conn_fds[2];
static void op_nginx_file(void)
{
    static char buf[BLOCK];
    struct stat st;
    int fd = open(vol_file, O_RDONLY | O_NONBLOCK);
    failed += fd < 0 || fstat(fd, &st) != 0 || st.st_size != BLOCK ||
              pread(fd, buf, BLOCK, 0) != BLOCK || buf[BLOCK - 1] != 'v' || close(fd) != 0;
}
static void op_writev_pipe(void)
{
    static char head[16] = "HTTP/1.1 200 OK\n", body[32], back[48];
    struct iovec iov[2] = {{head, sizeof head}, {body, sizeof body}};
    failed += writev(pipe_fds[1], iov, 2) != 48 || read(pipe_fds[0], back, 48) != 48 ||
              memcmp(back, head, sizeof head) != 0;
}
static void op_recv(void)
{
    char req[64] = "GET /", got[64];
    failed += send(conn_fds[0], req, sizeof req, 0) != sizeof req ||
              recv(conn_fds[1], got, sizeof got, 0) != sizeof got || memcmp(got, req, 5) != 0;
}
static void op_socket_close(void) { close_ok(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

static void op_epoll(void) { struct epoll_event ev; failed += epoll_wait(ep_fd, &ev, 1, 0) != 1 || ev.data.fd != ready_pipe[0]; }
static void op_sendfile(void) { off_t off = 0; failed += sendfile(null_fd, vol_fd, &off, BLOCK) != BLOCK; }

/* A client connects to the listening loopback socket and the server accepts
 * it: socket, connect, accept4 and two closes per iteration.  The accepted
 * socket inherits the listener's zero linger, so its close resets the
 * connection and no TIME_WAIT is left to exhaust the ports. */
static void op_accept(void)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) {
        failed++;
    } else {
        int s = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        failed += s < 0 || close(s) != 0;
    }
    failed += c < 0 || close(c) != 0;
}

/* The trap floor: the selector byte blocks `syscall`s only around the one
 * timed; the handler allows them again (its return, rt_sigreturn, is one)
 * and answers with a value only it gives. */
#define TRAPPED 7777
static volatile char sud_block;
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)si;
    sud_block = 0;
    ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = TRAPPED;
}
static void op_trapped(void) { sud_block = 1; failed += syscall(SYS_getppid) != TRAPPED; }

/* by_seccomp: the trap is seccomp's RET_TRAP for getppid instead, what a
 * filter standing in for SUD would send (the selector byte is then moot). */
static int trap_setup(int by_seccomp)
{
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigfillset(&sa.sa_mask);             /* as the guest kernel's trap handler */
    struct sock_filter trap_getppid[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = 4, .filter = trap_getppid};
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        return -1;
    if (by_seccomp)
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
               syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &sud_block);
}

static const struct op { const char *name; void (*fn)(void); } trap_ops[] = {
    {"sud_trap_floor", op_trapped},
}, seccomp_trap_ops[] = {
    {"seccomp_trap_floor", op_trapped},
}, ops[] = {
    {"getppid", op_getppid},
    {"clock_gettime", op_clock},
    {"read_1_dev_zero", op_read},
    {"write_1_dev_null", op_write},
    {"pipe_write_read", op_pipe},
    {"open_close_image", op_open_image},
    {"open_close_volume", op_open_volume},
    {"open_close_volume_deep", op_open_volume_deep},
    {"open_nonblock_close_volume_deep", op_open_nb_volume_deep},
    {"pread_1_volume", op_pread_volume},
    {"pwrite_1_volume", op_pwrite_volume},
    {"stat_image", op_stat_image},
    {"stat_volume", op_stat_volume},
    {"stat_volume_deep", op_stat_volume_deep},
    {"fstat_volume", op_fstat_volume},
    {"epoll_wait_ready", op_epoll},
    {"sendfile_4k_volume", op_sendfile},
    {"connect_accept4_close", op_accept},
    {"open_close_etc", op_open_etc},
    {"open_close_proc", op_open_proc},
    {"open_read_close_proc", op_open_read_proc},
    {"pread_proc_stat", op_pread_proc},
    {"ioctl_fionread_pipe", op_ioctl},
    {"stat_missing_volume", op_stat_missing_volume},
    {"stat_missing_usr_bin", op_stat_missing_usr_bin},
    {"nginx_file_volume", op_nginx_file},
    {"writev_2_pipe", op_writev_pipe},
    {"send_recv_loopback", op_recv},
    {"socket_close", op_socket_close},
};

static const struct op floor_ops[] = {
    {"floor_openat_root_close", op_f_openat_root},
    {"floor_openat2_root_close", op_f_openat2_root},
    {"floor_openat_close", op_f_openat},
    {"floor_openat2_beneath_close", op_f_openat2},
    {"floor_opath_dir_close", op_f_opath_dir},
    {"floor_opath_file_close", op_f_opath_file},
    {"floor_fstatat", op_f_fstatat},
    {"floor_statx_mnt_id", op_f_statx},
    {"floor_dir_fstatat_close", op_f_dir_fstatat_close},
    {"floor_opath_statx_close", op_f_opath_statx_close},
};

static int setup(const char *vol_dir)
{
    char block[BLOCK];
    socklen_t len = sizeof listen_addr;
    memset(block, 'v', sizeof block);
    snprintf(vol_file, sizeof vol_file, "%s/syscall-bench.data", vol_dir);
    snprintf(vol_missing, sizeof vol_missing, "%s/syscall-bench.missing", vol_dir);
    zero_fd = open("/dev/zero", O_RDONLY);
    null_fd = open("/dev/null", O_WRONLY);
    vol_fd = open(vol_file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    proc_stat_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 3; i++) {
        snprintf(deep_dirs[i], sizeof deep_dirs[i], "%s/%c", i ? deep_dirs[i - 1] : vol_dir, 'a' + i);
        if (mkdir(deep_dirs[i], 0700) != 0 && errno != EEXIST)
            return -1;
    }
    vol_dir_fd = open(vol_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    snprintf(deep_file, sizeof deep_file, "%s/syscall-bench.data", deep_dirs[2]);
    int deep_fd = open(deep_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (deep_fd < 0 || write(deep_fd, block, sizeof block) != sizeof block || close(deep_fd) != 0)
        return -1;
    if (vol_dir_fd < 0 || zero_fd < 0 || null_fd < 0 || vol_fd < 0 || proc_stat_fd < 0 ||
        pipe(pipe_fds) < 0 || pipe(ready_pipe) < 0 ||
        write(vol_fd, block, sizeof block) != sizeof block || write(ready_pipe[1], "r", 1) != 1)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ready_pipe[0]};
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0 || epoll_ctl(ep_fd, EPOLL_CTL_ADD, ready_pipe[0], &ev) != 0)
        return -1;
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0 ||
        bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 ||
        listen(listen_fd, 64) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) != 0)
        return -1;
    /* nginx's kind of connection for send_recv_loopback, accepted once. */
    conn_fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn_fds[0] < 0 || connect(conn_fds[0], (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 ||
        (conn_fds[1] = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
        return -1;
    return 0;
}

/* The container baseline: this program under a seccomp filter, as a
 * container runs its programs. */
static struct sock_filter filter_ins[BPF_MAXINSNS];
static size_t filter_len;

/* Read before Landlock, which leaves the program only its volume. */
static int read_filter(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    filter_len = fread(filter_ins, sizeof filter_ins[0], BPF_MAXINSNS, f);
    fclose(f);
    return 0;
}

static int install_filter(void)
{
    size_t n = filter_len;
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = filter_ins};
    if (n == 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int time_ops(const struct op *ops, unsigned nops, int repeats)
{
    double t[64];
    for (unsigned i = 0; i < nops; i++) {
        for (long k = 0; k < iters / 10; k++)   /* warm up */
            ops[i].fn();
        for (int r = 0; r < repeats; r++) {
            double t0 = now_ns();
            for (long k = 0; k < iters; k++)
                ops[i].fn();
            t[r] = (now_ns() - t0) / iters;
        }
        if (failed) {
            fprintf(stderr, "syscall-bench: %ld calls of %s failed\n", failed, ops[i].name);
            return 1;
        }
        qsort(t, repeats, sizeof t[0], cmp);
        printf("%s %.1f %.1f\n", ops[i].name, t[repeats / 2], t[0]);
    }
    return 0;
}

/* Calls from [0, 2^47), every user address, are not dispatched: only the
 * check runs (the selector is NULL, as the guest kernel's). */
static int sud_pass_all(void)
{
    return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 1UL << 47, 0);
}

#define RULES_MANY 1000
static char rules_dir[4096];         /* rw-rules' files, removed at the end */

static int add_rule(int rs, const char *path, unsigned long long rights)
{
    struct landlock_path_beneath_attr rule = {.allowed_access = rights,
                                              .parent_fd = open(path, O_PATH | O_CLOEXEC)};
    if (rule.parent_fd < 0)
        return -1;
    int r = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    return r | close(rule.parent_fd);
}

/* rw-rules' other files, made before the ruleset, in VOLUME_DIR/.rules. */
static int make_rules_dir(const char *dir)
{
    snprintf(rules_dir, sizeof rules_dir, "%s/.rules", dir);
    if (mkdir(rules_dir, 0700) != 0 && errno != EEXIST)
        return -1;
    for (int i = 0; i < RULES_MANY; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%d", rules_dir, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || close(fd) != 0)
            return -1;
    }
    return 0;
}

static void remove_rules_dir(void)
{
    for (int i = 0; rules_dir[0] && i < RULES_MANY; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%d", rules_dir, i);
        unlink(p);
    }
    if (rules_dir[0])
        rmdir(rules_dir);
}

/* The tender's rule for a volume (c_src/tender/landlock.c), under a ruleset
 * that handles every right this host's Landlock knows; or a variant (the
 * usage above). */
static int landlock_volume(const char *dir, const char *rule_name)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return -1;
    unsigned long long handled = ls_landlock_handled_fs(abi);
    unsigned long long truncate = LS_LL_TRUNCATE;
    int rw = !strncmp(rule_name, "rw", 2);
    if (!strcmp(rule_name, "rw-rights"))
        handled &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | truncate;
    if (!strcmp(rule_name, "rw-rules") && make_rules_dir(dir) != 0)
        return -1;
    unsigned long long vol = rw ? LS_LL_VOLUME_RW
                             : !strcmp(rule_name, "ro") ? LS_LL_VOLUME_RO : LS_LL_READ;
    unsigned long long read_file = handled & (LANDLOCK_ACCESS_FS_READ_FILE | truncate);
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
    int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0 || add_rule(rs, dir, handled & vol) != 0)
        return -1;
    if (!strcmp(rule_name, "rw-file") && add_rule(rs, vol_file, read_file) != 0)
        return -1;
    for (int i = 0; rules_dir[0] && i < RULES_MANY; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%d", rules_dir, i);
        if (add_rule(rs, p, read_file) != 0)
            return -1;
    }
    int layers = !strcmp(rule_name, "rw-layers") ? 2 : 1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    for (int i = 0; i < layers; i++)
        if (syscall(SYS_landlock_restrict_self, rs, 0) != 0)
            return -1;
    return close(rs);
}

static int landlock_rule(const char *name)
{
    static const char *const names[] = {"ro", "ro-no-truncate", "rw", "rw-file", "rw-rules",
                                         "rw-layers", "rw-rights"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return 0;
}

static int selected(const char *only, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = only; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *prog = argv[0], *only = NULL, *landlock = NULL;
    int sud = 0, by_seccomp = 0, floors = 0;
    for (; argc > 1 && !strncmp(argv[1], "--", 2) && strcmp(argv[1], "--trap-floor"); argc--, argv++) {
        if (!strcmp(argv[1], "--sud"))
            sud = 1;
        else if (!strcmp(argv[1], "--floors"))
            floors = 1;
        else if (!strcmp(argv[1], "--seccomp"))
            by_seccomp = 1;
        else if (!strncmp(argv[1], "--only=", 7))
            only = argv[1] + 7;
        else if (!strncmp(argv[1], "--landlock=", 11) && landlock_rule(argv[1] + 11))
            landlock = argv[1] + 11;
        else
            argc = 0;                    /* the usage line below */
    }
    int floor = argc == 4 && !strcmp(argv[1], "--trap-floor");
    if (!floor && argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s [--sud] [--floors] [--only=NAME,...] [--landlock=RULE]\n"
                "           ITERATIONS REPEATS IMAGE_FILE VOLUME_DIR [FILTER]\n"
                "       %s [--seccomp] --trap-floor ITERATIONS REPEATS\n", prog, prog);
        return 2;
    }
    iters = atol(argv[1 + floor]);
    int repeats = atoi(argv[2 + floor]);
    if (iters < 1 || repeats < 1 || repeats > 64 || (floor ? trap_setup(by_seccomp) : setup(argv[4])) != 0) {
        perror("syscall-bench: setup");
        return 1;
    }
    if (floor)
        return by_seccomp ? time_ops(seccomp_trap_ops, 1, repeats) : time_ops(trap_ops, 1, repeats);
    if (argc == 6 && read_filter(argv[5]) != 0) {
        perror("syscall-bench: seccomp filter");
        return 1;
    }
    if (landlock && landlock_volume(argv[4], landlock) != 0) {
        perror("syscall-bench: Landlock");
        return 1;
    }
    /* SUD first: the guest's filter takes its prctl only from kernel text. */
    if (sud && sud_pass_all() != 0) {
        perror("syscall-bench: Syscall User Dispatch");
        return 1;
    }
    if (argc == 6 && install_filter() != 0) {
        perror("syscall-bench: seccomp filter");
        return 1;
    }
    image_file = argv[3];
    const struct op *set = floors ? floor_ops : ops;
    unsigned nset = floors ? sizeof floor_ops / sizeof floor_ops[0] : sizeof ops / sizeof ops[0];
    struct op chosen[sizeof ops / sizeof ops[0] + sizeof floor_ops / sizeof floor_ops[0]];
    unsigned n = 0;
    for (unsigned i = 0; i < nset; i++)
        if (!only || selected(only, set[i].name))
            chosen[n++] = set[i];
    int r = time_ops(chosen, n, repeats);
    unlink(vol_file);
    unlink(deep_file);
    remove_rules_dir();
    for (int i = 2; i >= 0; i--)
        rmdir(deep_dirs[i]);
    return r;
}
