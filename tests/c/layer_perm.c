/* A root process looks up DIR/priv/x (absent) in a 0700 directory, then
 * drops to uid 65534 and looks again: natively EACCES (no search permission
 * on priv); a cached absence would say ENOENT.  usage: layer_perm DIR (tests/test_writable_root_cases.py) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char d[512], p[512]; struct stat st;
    snprintf(d, sizeof d, "%s/priv", argv[1]); snprintf(p, sizeof p, "%s/x", d);
    mkdir(d, 0700); chmod(d, 0700);
    int r0 = lstat(p, &st), e0 = errno; lstat(p, &st);
    if (setgid(65534) || setuid(65534)) { printf("setuid: %s\n", strerror(errno)); return 1; }
    int r1 = lstat(p, &st), e1 = errno;
    printf("as root: %d %s; as 65534: %d %s\n", r0, strerror(e0), r1, r1 ? strerror(e1) : "ok");
    return 0;
}
