/* Counts the SIGUSR1s it is sent: "ready" once its handlers are in place,
 * "SIGUSR1 N" at each, "SIGUSR1 x N" at each SIGUSR2, exit 0 at SIGTERM.
 * A standard signal pending with a higher-numbered one is handled first,
 * on every hop of libsubst's forwarding too: a SIGUSR2 sent after a
 * SIGUSR1 is a barrier behind which no late copy of that SIGUSR1 hides. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void say(const char *what, int n)
{
    char line[64];
    int len = snprintf(line, sizeof line, "%s %d\n", what, n);
    write(1, line, len);
}

static void on_usr1(int sig)
{
    say("SIGUSR1", ++count);
}

static void on_usr2(int sig)
{
    say("SIGUSR1 x", count);
}

static void on_term(int sig)
{
    _exit(0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, 0);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, 0);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, 0);
    write(1, "ready\n", 6);
    for (;;)
        pause();
}
