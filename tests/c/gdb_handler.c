/* Raises SIGUSR1 into a handler: a backtrace from the handler goes through
 * the signal frame into raise and main, as natively (tests/test_gdb_control.py). */
#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void handler(int sig)
{
    got = sig;
}

int main(void)
{
    signal(SIGUSR1, handler);
    raise(SIGUSR1);
    return got == SIGUSR1 ? 0 : 1;
}
