/*
 * /proc and /sys conformance: lseek and getdents on their files and
 * directories, what a process reads of itself (cmdline, stat, status, io),
 * of its threads (/proc/PID/task/TID), a reaped child's pid, the system-wide
 * devices and filesystems, and the errors for writing read-only entries,
 * as a user without DAC override (see the openat deviation for root);
 * another process's entries (a child after its execve, as a zombie, once
 * reaped; and what another uid may not read), the caller's stdout (a
 * pipe of the harness's) reopened by name as shells and tools do
 * (`> /dev/stdout`, tftp's local file), files unlinked while open (a
 * deleted temporary, an O_TMPFILE file) reopened through /proc/self/fd/N
 * in DIR and in /tmp, compared with a native run.  Values that differ between any two runs
 * (times, addresses, pids) are printed as facts about them.
 *
 *   proc DIR          DIR a scratch directory
 *   proc DIR --sleeper ARG   (the child it execs: says so on stdout, waits for EOF on stdin)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The whole of path, NUL-terminated; its length or -errno. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    long r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(fd);
    return n;
}

/* The value of "Key:" in a status-like file, or NULL. */
static const char *field(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : 0) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            p += kl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t n = strcspn(p, "\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, p, n);
            out[n] = 0;
            return out;
        }
    }
    return 0;
}

static void self(int argc, char **argv)
{
    static char buf[65536];
    long n = slurp("/proc/self/cmdline", buf, sizeof buf);
    int same = 1;
    long off = 0;
    for (int i = 0; i < argc; i++) {
        same &= off < n && strcmp(buf + off, argv[i]) == 0;
        off += strlen(argv[i]) + 1;
    }
    printf("cmdline: argv %d, length right %d\n", same, n == off);

    n = slurp("/proc/self/stat", buf, sizeof buf);
    char *close = strrchr(buf, ')');
    int fields = 2;
    for (char *p = close + 1; *p; p++)
        fields += *p == ' ';
    char comm[64];
    sscanf(buf, "%*d (%63[^)])", comm);
    int pid, ppid, pgrp, threads;
    char state;
    sscanf(close + 2, "%c %d %d", &state, &ppid, &pgrp);
    sscanf(buf, "%d", &pid);
    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %d",
           &threads);
    printf("stat: fields %d, pid self %d, comm %s, state %c, ppid %d, pgrp %d, threads %d,"
           " ends in newline %d\n", fields, pid == getpid(), comm, state, ppid == getppid(),
           pgrp == getpgrp(), threads, buf[n - 1] == '\n');

    slurp("/proc/self/status", buf, sizeof buf);
    char v[256];
    static const char *keys[] = {"Name", "State", "Tgid", "Pid", "PPid", "Threads", "Umask",
                                 "SigBlk", "SigIgn", "VmRSS", "voluntary_ctxt_switches"};
    for (unsigned i = 0; i < sizeof keys / sizeof *keys; i++)
        printf("status %s: %s\n", keys[i], field(buf, keys[i], v, sizeof v) ? "present" : "missing");
    printf("status Name %s State %s Tgid self %d Pid self %d PPid %d Threads %s\n",
           field(buf, "Name", v, sizeof v), field(buf, "State", v + 64, 64),
           atoi(field(buf, "Tgid", v + 128, 64)) == getpid(),
           atoi(field(buf, "Pid", v + 128, 64)) == getpid(),
           atoi(field(buf, "PPid", v + 128, 64)) == getppid(), field(buf, "Threads", v + 192, 64));
}

/* /proc/self/io: its keys in Linux's order; the bytes a read and a write
 * move, and the calls, counted (task_io_accounting). */
static void io(void)
{
    static char buf[8192];
    long n;
    static const char *io_keys[] = {"rchar", "wchar", "syscr", "syscw", "read_bytes",
                                    "write_bytes", "cancelled_write_bytes"};
    long before[7], after[7];
    for (int pass = 0; pass < 2; pass++) {
        long *c = pass ? after : before;
        n = slurp("/proc/self/io", buf, sizeof buf);
        char *p = buf;
        int order = 1;
        for (int i = 0; i < 7; i++) {
            size_t kl = strlen(io_keys[i]);
            order &= strncmp(p, io_keys[i], kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ';
            c[i] = order ? atol(p + kl + 2) : -1;
            p = strchr(p, '\n');
            p = p ? p + 1 : buf + n;
        }
        if (pass == 0) {
            printf("io: read %d, keys in order %d, at the end %d\n", n > 0, order,
                   p == buf + n);
            int fd = open("io-data", O_RDWR | O_CREAT | O_TRUNC, 0644);
            memset(buf, 'i', 5000);
            write(fd, buf, 3000);
            pread(fd, buf, 5000, 0);
            pread(fd, buf, 5000, 0);
            close(fd);
            unlink("io-data");
        }
    }
    printf("io: rchar +3000x2 at least %d, wchar +3000 at least %d, syscr +2 at least %d,"
           " syscw +1 at least %d\n", after[0] - before[0] >= 6000, after[1] - before[1] >= 3000,
           after[2] - before[2] >= 2, after[3] - before[3] >= 1);
}

/* /proc/self/status of a thread, read while it runs. */
static pthread_barrier_t bar;

static void *thread(void *arg)
{
    *(long *)arg = syscall(SYS_gettid);
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    return 0;
}

static int count_dir(const char *path, int *has_self)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int n = 0;
    char me[16];
    snprintf(me, sizeof me, "%d", getpid());
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            n++;
            if (has_self && strcmp(e->d_name, me) == 0)
                *has_self = 1;
        }
    closedir(d);
    return n;
}

static void tasks(void)
{
    long tid = 0;
    pthread_t t;
    pthread_barrier_init(&bar, 0, 2);
    pthread_create(&t, 0, thread, &tid);
    pthread_barrier_wait(&bar);
    int self_listed = 0;
    printf("task entries: %d\n", count_dir("/proc/self/task", &self_listed));
    printf("task lists the main thread: %d\n", self_listed);
    char path[96], buf[4096], v[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    long n = slurp(path, buf, sizeof buf);
    int id = 0;
    sscanf(buf, "%d", &id);
    printf("task/TID/stat: %s, its pid field the tid %d\n", n < 0 ? strerrorname_np(-n) : "ok",
           id == tid);
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    slurp(path, buf, sizeof buf);
    printf("task/TID/status: Pid the tid %d, Tgid the process %d\n",
           field(buf, "Pid", v, sizeof v) && atol(v) == tid,
           field(buf, "Tgid", v, sizeof v) && atol(v) == getpid());
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
    n = slurp(path, buf, sizeof buf);
    printf("task/TID/comm: %s\n", n < 0 ? strerrorname_np(-n) : "ok");
    snprintf(path, sizeof path, "/proc/%ld/status", tid);
    n = slurp(path, buf, sizeof buf);
    printf("/proc/TID (not listed, still there): %s, Pid the tid %d\n",
           n < 0 ? strerrorname_np(-n) : "ok", field(buf, "Pid", v, sizeof v) && atol(v) == tid);
    snprintf(path, sizeof path, "/proc/self/task/%d", getpid() + 100000);
    printf("task of no such thread: %s\n", err(access(path, F_OK)));
    pthread_barrier_wait(&bar);
    pthread_join(t, 0);
    /* The joined thread leaves the list a moment after join returns (natively too). */
    int left = count_dir("/proc/self/task", 0);
    for (int i = 0; i < 2000 && left > 1; i++) {
        usleep(1000);
        left = count_dir("/proc/self/task", 0);
    }
    printf("task entries after join: %d\n", left);
}

static void children(void)
{
    int go[2];
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        char b;
        read(go[0], &b, 1);
        _exit(0);
    }
    char path[64];
    write(go[1], "x", 1);
    waitpid(c, 0, 0);
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    printf("after reaping: %s\n", err(access(path, F_OK)));
    /* A new child has a new pid (no reuse while pids remain). */
    pid_t d = fork();
    if (d == 0)
        _exit(0);
    printf("next child's pid differs: %d\n", d != c);
    waitpid(d, 0, 0);
}

static void seeks(void)
{
    static const char *files[] = {"/proc/self/stat", "/proc/self/cmdline",
                                  "/proc/version", "/proc/filesystems", "/proc/self/comm",
                                  "/sys/devices/system/cpu/online",
                                  "/sys/kernel/mm/transparent_hugepage/enabled"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        char whole[8192], part[8192];
        long n = slurp(files[i], whole, sizeof whole);
        int fd = open(files[i], O_RDONLY);
        long s = lseek(fd, 3, SEEK_SET);
        long m = read(fd, part, sizeof part - 1);
        /* stat's counters (faults, times) can move between the two reads
         * (CI saw it): its head, up to the state, is compared. */
        char *head_end = i == 0 ? strrchr(whole, ')') : 0;     /* ") S" ends at +3 */
        long cmp = head_end ? head_end - whole : n - 3;
        int same = (i == 0 || m == n - 3) && m >= cmp && memcmp(part, whole + 3, cmp) == 0;
        long cur = lseek(fd, 0, SEEK_CUR);
        lseek(fd, -2, SEEK_CUR);
        long end = lseek(fd, 0, SEEK_END);
        int e_end = errno;
        long neg = lseek(fd, -1, SEEK_SET);
        int e_neg = errno;
        long past = lseek(fd, 1 << 20, SEEK_SET);
        long after = read(fd, part, 10);
        printf("%s: SEEK_SET 3 %ld, rest same %d, SEEK_CUR at the end %d, SEEK_END %s,"
               " -1 %s, past the end %ld reads %ld\n", files[i], s, same, cur == 3 + m,
               end < 0 ? strerrorname_np(e_end) : "ok", neg < 0 ? strerrorname_np(e_neg) : "ok",
               past, after);
        close(fd);
    }
    static const char *dirs[] = {"/proc/self", "/proc/self/fd", "/proc/sys/kernel",
                                 "/sys/devices/system/cpu", "/sys/kernel/mm/transparent_hugepage"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        int fd = open(dirs[i], O_RDONLY | O_DIRECTORY);
        char b1[32768], b2[32768];
        long n1 = syscall(SYS_getdents64, fd, b1, sizeof b1);
        long z = lseek(fd, 0, SEEK_SET);
        long n2 = syscall(SYS_getdents64, fd, b2, sizeof b2);
        long n3 = syscall(SYS_getdents64, fd, b2, sizeof b2);
        /* Resume from the second entry's d_off. */
        struct dirent64 { unsigned long ino; long off; unsigned short reclen; unsigned char type;
                          char name[]; } *first = (void *)b1;
        lseek(fd, first->off, SEEK_SET);
        long n4 = syscall(SYS_getdents64, fd, b2, sizeof b2);
        printf("%s: getdents %d, rewind %ld, again the same %d, then 0 %d, from the first's d_off"
               " the rest %d, tiny buffer %s\n", dirs[i], n1 > 0, z,
               n2 == n1, n3 == 0, n4 == n1 - first->reclen,
               err(syscall(SYS_getdents64, fd, b2, 8)));
        close(fd);
    }
    int self_listed = 0;
    int n = count_dir("/proc", &self_listed);
    printf("/proc lists its pid: %d, has entries %d\n", self_listed, n > 10);
}

static void system_files(void)
{
    static char buf[65536];
    long n = slurp("/proc/filesystems", buf, sizeof buf);
    printf("/proc/filesystems: %s, proc nodev %d, tmpfs %d\n", n < 0 ? strerrorname_np(-n) : "ok",
           strstr(buf, "nodev\tproc\n") != 0, strstr(buf, "nodev\ttmpfs\n") != 0);
    n = slurp("/proc/devices", buf, sizeof buf);
    printf("/proc/devices: %s, character devices %d, mem 1 %d, block devices %d\n",
           n < 0 ? strerrorname_np(-n) : "ok", strncmp(buf, "Character devices:\n", 19) == 0,
           strstr(buf, "\n  1 mem\n") != 0, strstr(buf, "\nBlock devices:\n") != 0);
    /* As a user without DAC override (root may open them, then write fails
     * per file: see the openat deviation). */
    pid_t c = fork();
    if (c > 0) {
        waitpid(c, 0, 0);
        return;
    }
    if (setgid(65534) < 0 || setuid(65534) < 0)
        printf("cannot become nobody: %s\n", strerrorname_np(errno));
    static const char *ro[] = {"/proc/self/stat", "/proc/self/status", "/proc/version",
                               "/proc/cpuinfo", "/proc/self/cmdline",
                               "/proc/filesystems", "/sys/devices/system/cpu/online"};
    for (unsigned i = 0; i < sizeof ro / sizeof *ro; i++) {
        int fd = open(ro[i], O_WRONLY);
        int e = errno;
        long w = fd >= 0 ? write(fd, "x", 1) : 0;
        printf("write %s: open %s", ro[i], fd < 0 ? strerrorname_np(e) : "ok");
        if (fd >= 0)
            printf(", write %s", err(w));
        printf("\n");
        if (fd >= 0)
            close(fd);
    }
    printf("create in /proc: %s\n", err(open("/proc/new", O_WRONLY | O_CREAT, 0644)));
    printf("mkdir in /sys: %s\n", err(mkdir("/sys/new", 0755)));
    printf("unlink in /proc/self: %s\n", err(unlink("/proc/self/status")));
    fflush(stdout);
    _exit(0);
}

/* Whether /proc/PID's entry name can be read: "ok" or the errno's name. */
static const char *readable(pid_t pid, const char *name)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    long n = slurp(path, buf, sizeof buf);
    return n < 0 ? strerrorname_np(-n) : "ok";
}

static const char *link_of(pid_t pid, const char *name, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    long n = readlink(path, out, cap - 1);
    if (n < 0)
        return strerrorname_np(errno);
    out[n] = 0;
    return out;
}

/* A state letter from /proc/PID/stat, or '-' if it cannot be read. */
static char state_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (slurp(path, buf, sizeof buf) < 0)
        return '-';
    char *close = strrchr(buf, ')');
    return close ? close[2] : '?';
}

/* /proc/self/fdinfo of a file of the scratch directory: its position and flags. */
static void fdinfo(void)
{
    int fd = open("fdinfo.txt", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    write(fd, "abc", 3);
    char path[64], buf[1024], v[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    long n = slurp(path, buf, sizeof buf);
    printf("fdinfo: %s, pos %s,", n < 0 ? strerrorname_np(-n) : "ok", field(buf, "pos", v, 32));
    printf(" flags %s\n", field(buf, "flags", v, 32));
    int listed = 0;
    DIR *d = opendir("/proc/self/fdinfo");
    struct dirent *e;
    while (d && (e = readdir(d)))
        listed |= atoi(e->d_name) == fd;
    closedir(d);
    printf("fdinfo lists it: %d\n", listed);
    close(fd);
    unlink("fdinfo.txt");
}

static void others(const char *self_exe)
{
    int in[2], out[2];
    pipe2(in, O_CLOEXEC);
    pipe2(out, O_CLOEXEC);
    pid_t c = fork();
    if (c == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        setenv("PROC_CONFORMANCE", "child", 1);
        execl(self_exe, "proc", ".", "--sleeper", "two words", (char *)0);
        _exit(127);
    }
    char b, v[256], path[64], buf[65536], mine[4096], cwd[4096];
    read(out[0], &b, 1);             /* after its execve */
    for (int i = 0; i < 5000 && state_of(c) != 'S'; i++)
        usleep(1000);                /* until it waits in read */
    int listed = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)))
        listed |= atoi(e->d_name) == c;
    closedir(d);
    printf("other: /proc lists the child %d\n", listed);
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    slurp(path, buf, sizeof buf);
    char comm[64], state;
    int pid, ppid, pgrp, fields = 2;
    sscanf(buf, "%d (%63[^)])", &pid, comm);
    char *rp = strrchr(buf, ')');
    sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgrp);
    for (char *p = rp + 1; *p; p++)
        fields += *p == ' ';
    printf("other stat: fields %d, pid %d, comm %s, state %c, ppid mine %d, pgrp mine %d\n",
           fields, pid == c, comm, state, ppid == getpid(), pgrp == getpgrp());
    snprintf(path, sizeof path, "/proc/%d/status", c);
    slurp(path, buf, sizeof buf);
    printf("other status: Name %s, PPid mine %d, Uid mine %d\n", field(buf, "Name", v, 64),
           atoi(field(buf, "PPid", v + 64, 64)) == getpid(),
           atoi(field(buf, "Uid", v + 128, 64)) == (int)getuid());
    snprintf(path, sizeof path, "/proc/%d/cmdline", c);
    long n = slurp(path, buf, sizeof buf);
    static const char want[] = "proc\0.\0--sleeper\0two words";
    printf("other cmdline: as execed %d\n", n == sizeof want && memcmp(buf, want, n) == 0);
    snprintf(path, sizeof path, "/proc/%d/comm", c);
    slurp(path, buf, sizeof buf);
    printf("other comm: %s", buf);
    snprintf(path, sizeof path, "/proc/%d/environ", c);
    n = slurp(path, buf, sizeof buf);
    int found = 0;
    for (long off = 0; off < n; off += strlen(buf + off) + 1)
        found |= strcmp(buf + off, "PROC_CONFORMANCE=child") == 0;
    printf("other environ: %s, has the child's variable %d\n", n < 0 ? strerrorname_np(-n) : "ok",
           found);
    long m = readlink("/proc/self/exe", mine, sizeof mine - 1);
    mine[m > 0 ? m : 0] = 0;
    printf("other exe: the same program %d\n", strcmp(link_of(c, "exe", v, sizeof v), mine) == 0);
    printf("other cwd: mine %d\n",
           strcmp(link_of(c, "cwd", v, sizeof v), getcwd(cwd, sizeof cwd)) == 0);
    snprintf(path, sizeof path, "/proc/%d/maps", c);
    slurp(path, buf, sizeof buf);
    printf("other maps: a stack %d, the program %d\n", strstr(buf, "[stack]") != 0,
           strstr(buf, mine) != 0);
    int fd012 = 0;
    for (int fd = 0; fd < 3; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", c, fd);
        fd012 += access(path, F_OK) == 0;
    }
    printf("other fd: 0, 1, 2 there %d, 0 a pipe %d\n", fd012 == 3,
           strncmp(link_of(c, "fd/0", v, sizeof v), "pipe:[", 6) == 0);
    snprintf(path, sizeof path, "/proc/%d/task", c);
    printf("other task: %d entries\n", count_dir(path, 0));
    printf("other statm %s, io %s, limits %s, fdinfo/1 %s\n", readable(c, "statm"),
           readable(c, "io"), readable(c, "limits"), readable(c, "fdinfo/1"));
    printf("other kill 0: %s\n", err(kill(c, 0)));

    close(in[1]);                    /* it exits: a zombie until reaped */
    for (int i = 0; i < 5000 && state_of(c) != 'Z'; i++)
        usleep(1000);
    printf("zombie: state %c, cmdline %s", state_of(c), readable(c, "cmdline"));
    snprintf(path, sizeof path, "/proc/%d/cmdline", c);
    printf(" of %ld bytes, comm %s, exe %s\n", slurp(path, buf, sizeof buf), readable(c, "comm"),
           link_of(c, "exe", v, sizeof v));
    waitpid(c, 0, 0);
    printf("reaped: stat %s\n", readable(c, "stat"));

    /* Another uid: what it may read of this (root's) process. */
    pid_t me = getpid();
    pid_t o = fork();
    if (o == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            printf("cannot become nobody: %s\n", strerrorname_np(errno));
        static const char *names[] = {"stat", "status", "cmdline", "comm", "environ", "maps",
                                      "io", "limits"};
        for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
            printf("another uid, %s: %s\n", names[i], readable(me, names[i]));
        const char *x = link_of(me, "exe", v, 128), *y = link_of(me, "cwd", v + 128, 128);
        printf("another uid, exe: %s, cwd: %s\n", x == v ? "ok" : x, y == v + 128 ? "ok" : y);
        snprintf(path, sizeof path, "/proc/%d/fd", me);
        int k = count_dir(path, 0);
        printf("another uid, fd: %s\n", k < 0 ? strerrorname_np(-k) : "ok");
        fflush(stdout);
        _exit(0);
    }
    waitpid(o, 0, 0);
}

/* Each open of stdout by name writes a line through the new fd (O_RDWR,
 * both ends of a pipe, is not tried: see synth_node.c). */
static void stdout_by_name(void)
{
    const char *names[] = {"/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"};
    const int flags[] = {O_WRONLY, O_WRONLY | O_CREAT | O_TRUNC, O_WRONLY | O_APPEND | O_CLOEXEC};
    fflush(stdout);
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        for (unsigned j = 0; j < sizeof flags / sizeof *flags; j++) {
            int fd = open(names[i], flags[j], 0644);
            if (fd < 0) {
                printf("open %s %#o: %s\n", names[i], flags[j], err(fd));
                fflush(stdout);
                continue;
            }
            dprintf(fd, "written through %s %#o\n", names[i], flags[j]);
            close(fd);
        }
}

/* One reopening of fd through its link: what it reads, and a write
 * through it that the first fd sees. */
static void reopen_unlinked(const char *what, int fd)
{
    char name[64], buf[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    const int flags[] = {O_RDONLY, O_RDWR, O_WRONLY | O_APPEND};
    for (unsigned i = 0; i < sizeof flags / sizeof *flags; i++) {
        int r = open(name, flags[i]);
        if (r < 0) {
            printf("%s reopen %#o: %s\n", what, flags[i], err(r));
            continue;
        }
        if ((flags[i] & O_ACCMODE) != O_WRONLY) {
            long n = pread(r, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = 0;
            printf("%s reopen %#o reads %ld \"%s\"\n", what, flags[i], n, buf);
        }
        if (flags[i] != O_RDONLY) {
            long w = write(r, "+", 1);
            long n = pread(fd, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = 0;
            printf("%s write %ld, the first fd reads \"%s\"\n", what, w, buf);
        }
        close(r);
    }
}

/* Its link as Linux writes it: the name and " (deleted)"; an O_TMPFILE
 * file's name is "#<inode>" in its directory. */
static void link_of_unlinked(const char *what, int fd, const char *dir, const char *path)
{
    char name[64], link[4096], want[4200];
    struct stat st;
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    long n = readlink(name, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    fstat(fd, &st);
    if (path)
        snprintf(want, sizeof want, "%s (deleted)", path);
    else
        snprintf(want, sizeof want, "%s/#%lu (deleted)", dir, (unsigned long)st.st_ino);
    printf("%s link %s, nlink %lu\n", what, strcmp(link, want) == 0 ? "as Linux names it" : link,
           (unsigned long)st.st_nlink);
}

static void unlinked_by_name(void)
{
    char cwd[4096];     /* (named by linkat of its link: EXDEV in a guest, README Known limits) */
    if (!getcwd(cwd, sizeof cwd))
        return;
    const char *dirs[] = {cwd, "/tmp"};
    for (unsigned i = 0; i < 2; i++) {
        const char *where = i ? "tmp" : "dir";
        char path[4200], what[32];
        snprintf(path, sizeof path, "%s/unlinked.XXXXXX", dirs[i]);
        int fd = mkstemp(path);
        write(fd, "deleted", 7);
        unlink(path);
        snprintf(what, sizeof what, "%s deleted", where);
        link_of_unlinked(what, fd, dirs[i], path);
        reopen_unlinked(what, fd);
        close(fd);
        int t = open(dirs[i], O_TMPFILE | O_RDWR, 0600);
        if (t < 0) {
            printf("%s O_TMPFILE: %s\n", where, err(t));
            continue;
        }
        write(t, "tmpfile", 7);
        snprintf(what, sizeof what, "%s O_TMPFILE", where);
        link_of_unlinked(what, t, dirs[i], 0);
        reopen_unlinked(what, t);
        close(t);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc == 4 && strcmp(argv[2], "--sleeper") == 0) {
        char b;
        write(1, "x", 1);
        while (read(0, &b, 1) > 0)
            ;
        return 0;
    }
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: proc DIR\n");
        return 2;
    }
    self(argc, argv);
    io();
    tasks();
    children();
    seeks();
    system_files();
    char exe[4096];
    long n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    fdinfo();
    others(exe);
    stdout_by_name();
    unlinked_by_name();
    return 0;
}
