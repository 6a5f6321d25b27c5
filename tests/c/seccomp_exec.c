/*
 * seccomp_exec ARGS...: runs the program named by $SECCOMP_EXEC with these
 * same arguments under a seccomp filter that allows every call, as a guest
 * that execs the kernel itself would be (test_benchmarks: the kernel must
 * refuse to leave the trap off under any filter).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = 1, .filter = &allow};
    const char *exe = getenv("SECCOMP_EXEC");
    if (argc < 1 || !exe || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp_exec");
        return 126;
    }
    execv(exe, argv);
    perror("seccomp_exec: execv");
    return 127;
}
