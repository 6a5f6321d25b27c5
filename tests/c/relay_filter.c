/* Runs under a seccomp filter read from a file (struct sock_filter bytes):
 * the relay's, in tests/test_sandbox.py.  Opens /proc/self/status at fd
 * STATUS (argv[2]) and again at another fd, installs the filter, then
 * preads each with raw system calls and prints what they returned.  After
 * the filter only pread64, write and exit_group are made (the relay's
 * filter kills the rest).  Usage: relay_filter FILTER STATUS_FD */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    static struct sock_filter ins[4096];
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 2;
    size_t n = fread(ins, sizeof ins[0], 4096, f);
    fclose(f);
    int status_fd = atoi(argv[2]);
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0 || dup2(fd, status_fd) != status_fd)
        return 2;
    int other = fd == status_fd ? open("/proc/self/status", O_RDONLY) : fd;
    if (other < 0)
        return 2;
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = ins};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
        return 2;
    static char buf[64], line[128];
    long own = syscall(SYS_pread64, status_fd, buf, sizeof buf, 0);
    long r = syscall(SYS_pread64, other, buf, sizeof buf, 0);
    int len = snprintf(line, sizeof line, "status fd: %s\nother fd: %ld %s\n",
                       own > 0 ? "read" : "refused", r, r < 0 ? strerrorname_np(errno) : "read");
    syscall(SYS_write, 1, line, len);
    syscall(SYS_exit_group, 0);
}
