/* Makes one call through syscall(2) with a number computed at run time
 * (read back from memory), which libsubst analyze cannot see: it reads a
 * constant loaded into syscall()'s first argument, not this.  A kernel
 * specialised for this program leaves it out, and the call must get ENOSYS. */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    volatile long nr = SYS_getppid;
    long r = syscall(nr);
    if (r < 0)
        printf("getppid: %s\n", errno == ENOSYS ? "ENOSYS" : "other error");
    else
        printf("getppid: a pid\n");
    return 0;
}
