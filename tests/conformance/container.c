/*
 * What root of the guest's own namespaces may change, compared with a
 * native run as root of new user and UTS namespaces (test_conformance.py's
 * NATIVE_PREFIX): its host and domain names (its UTS namespace's, which
 * uname, gethostname, /proc/sys/kernel and a child see), but not the host's
 * clock (clock_settime, settimeofday: Linux's argument checks, then EPERM).
 *
 *   container DIR          DIR a scratch directory (unused)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report(const char *label, long r)
{
    printf("%s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
}

static void show(const char *path)
{
    char buf[128] = "";
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f))
        printf("%s: %s\n", path, strerrorname_np(errno));
    else
        printf("%s: %s", path, buf);
    if (f)
        fclose(f);
}

static void names(const char *who)
{
    struct utsname u;
    char h[128];
    uname(&u);
    gethostname(h, sizeof h);
    printf("%s: uname %s/%s, gethostname %s\n", who, u.nodename, u.domainname, h);
}

static void hostname(void)
{
    report("sethostname", sethostname("conformance-host", 16));
    report("setdomainname", setdomainname("conformance.example", 19));
    names("self");
    show("/proc/sys/kernel/hostname");
    show("/proc/sys/kernel/domainname");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        names("child");
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, 0, 0);
    char long_name[70];
    memset(long_name, 'x', sizeof long_name);
    report("sethostname, 65 bytes", sethostname(long_name, 65));
    report("sethostname, bad buffer", syscall(SYS_sethostname, (char *)8, 4));
    report("sethostname, 64 bytes", sethostname(long_name, 64));
    report("setdomainname, 65 bytes", setdomainname(long_name, 65));
}

static void clocks(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    report("clock_settime(REALTIME, now)", clock_settime(CLOCK_REALTIME, &now));
    struct timespec bad_ns = {now.tv_sec, 1000000000}, negative = {-1, 0};
    report("clock_settime(REALTIME, 1e9 ns)", clock_settime(CLOCK_REALTIME, &bad_ns));
    report("clock_settime(REALTIME, -1 s)", clock_settime(CLOCK_REALTIME, &negative));
    report("clock_settime(REALTIME, bad pointer)",
           syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8));
    report("clock_settime(MONOTONIC, now)", clock_settime(CLOCK_MONOTONIC, &now));
    report("clock_settime(BOOTTIME, now)", clock_settime(CLOCK_BOOTTIME, &now));
    report("clock_settime(TAI, now)", clock_settime(CLOCK_TAI, &now));
    report("clock_settime(10, now)", clock_settime(10, &now));
    report("clock_settime(1000, now)", clock_settime(1000, &now));
    clockid_t cpu;
    clock_getcpuclockid(0, &cpu);
    report("clock_settime(own CPU clock)", clock_settime(cpu, &now));
    report("clock_settime(own thread's CPU clock)",
           clock_settime(CLOCK_THREAD_CPUTIME_ID, &now));
    struct timeval tv = {now.tv_sec, 0}, bad_us = {now.tv_sec, 2000000};
    struct timezone tz = {0, 0}, far = {16 * 60, 0};
    report("settimeofday(now)", settimeofday(&tv, 0));
    report("settimeofday(2e6 us)", settimeofday(&bad_us, 0));
    report("settimeofday(none, none)", syscall(SYS_settimeofday, 0, 0));
    report("settimeofday(none, tz)", settimeofday(0, &tz));
    report("settimeofday(none, tz 16 h west)", settimeofday(0, &far));
    report("settimeofday(bad pointer)", syscall(SYS_settimeofday, (void *)8, 0));
    struct timespec later;
    clock_gettime(CLOCK_REALTIME, &later);
    printf("the clock unchanged: %d\n", later.tv_sec >= now.tv_sec && later.tv_sec < now.tv_sec + 60);
}

int main(void)
{
    hostname();
    clocks();
    return 0;
}
