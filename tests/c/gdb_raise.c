/* Raises SIGUSR1 without a handler: gdb decides whether it is delivered
 * (tests/test_gdb_control.py). */
#include <signal.h>
#include <unistd.h>

int main(void) {
    raise(SIGUSR1);
    write(1, "survived\n", 9);
    return 0;
}
