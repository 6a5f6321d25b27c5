/* Execs itself once: the gdb server detaches and says so
 * (tests/test_gdb_control.py). */
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1)
        return 0;
    execl(argv[0], argv[0], "again", (char *)0);
    return 1;
}
