/* The kernel's diagnostics: to its own descriptor (K.diag_fd), since the
 * guest may close its fd 2. */
#include "kernel.h"
#include "proc/exec.h"

void kwarn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kdiag(K.diag_fd, "", fmt, ap);
    va_end(ap);
}

/* Ends a boot that cannot go on.  A boot of the guest's own execve is past
 * Linux's point of no return, and what fails it there is the guest's (its
 * limits, its memory): the process dies by SIGSEGV, as bprm_execve kills
 * it, never the whole guest with a fatal error. */
void kpanic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int execed = K.bi && (K.bi->flags & LS_BOOT_EXECED);
    kdiag(K.diag_fd, execed ? "execve past its point of no return: " : "fatal: ", fmt, ap);
    va_end(ap);
    if (execed)
        exec_fail_late();
    hsys1(__NR_exit_group, 125);
    __builtin_unreachable();
}
