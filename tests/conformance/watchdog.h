/* A child that kills the calling process after a number of seconds: a
 * conformance program that hangs fails its run instead of blocking the
 * suite.  Included by the programs, each compiled on its own. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t watchdog_start(unsigned seconds)
{
    pid_t target = getpid(), dog = fork();
    if (dog == 0) {
        sleep(seconds);
        kill(target, SIGKILL);
        _exit(0);
    }
    return dog;
}

static void watchdog_end(pid_t dog)
{
    kill(dog, SIGKILL);
    waitpid(dog, 0, 0);
}
