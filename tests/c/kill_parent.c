/* A child SIGKILLs its parent, the program, by kill(2) naming it, its
 * process group (0 or -pgrp), tgkill, a pidfd or a /proc/<pid> directory
 * fd: natively the program dies by it.  Under libsubst the program is pid 1
 * of the guest's pid namespace, whose init Linux spares such a signal.
 *
 *   kill_parent pid|group|pgrp|tgkill|pidfd|procdir
 * Prints "sending", then "survived" if the parent lived on for 10 s. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "pid";
    pid_t parent = getpid();
    printf("sending\n");
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        long r = -1;
        char path[32];
        if (strcmp(mode, "pid") == 0)
            r = kill(parent, SIGKILL);
        else if (strcmp(mode, "group") == 0)
            r = kill(0, SIGKILL);
        else if (strcmp(mode, "pgrp") == 0)
            r = kill(-getpgrp(), SIGKILL);
        else if (strcmp(mode, "tgkill") == 0)
            r = syscall(SYS_tgkill, parent, parent, SIGKILL);
        else if (strcmp(mode, "pidfd") == 0 || strcmp(mode, "procdir") == 0) {
            snprintf(path, sizeof path, "/proc/%d", (int)parent);
            int fd = strcmp(mode, "pidfd") == 0 ? syscall(SYS_pidfd_open, parent, 0)
                                                 : open(path, O_RDONLY | O_DIRECTORY);
            r = fd < 0 ? -1 : syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        }
        if (r != 0)
            perror(mode);
        _exit(r != 0);
    }
    struct timespec ten = {10, 0};
    while (nanosleep(&ten, &ten) != 0)
        ;
    printf("survived\n");
    return 0;
}
