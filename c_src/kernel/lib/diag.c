/* The kernel's diagnostics: to its own descriptor (K.diag_fd), since the
 * guest may close its fd 2. */
#include "kernel.h"

void kwarn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kdiag(K.diag_fd, "", fmt, ap);
    va_end(ap);
}

void kpanic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kdiag(K.diag_fd, "fatal: ", fmt, ap);
    va_end(ap);
    hsys1(__NR_exit_group, 125);
    __builtin_unreachable();
}
