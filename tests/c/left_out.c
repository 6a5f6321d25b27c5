/* Makes one call through syscall(2), whose number libsubst analyze cannot
 * see (glibc's syscall() takes it as an argument): a kernel specialised
 * for this program leaves it out, and the call must get ENOSYS. */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    long r = syscall(SYS_getppid);
    if (r < 0)
        printf("getppid: %s\n", errno == ENOSYS ? "ENOSYS" : "other error");
    else
        printf("getppid: a pid\n");
    return 0;
}
