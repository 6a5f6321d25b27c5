/* stale ENOENT hunter for the writable root's cache of absent names (fs/upper_cache.c;
 * tests/test_writable_root_cases.py).  usage: layer_absent DIR MODE ROUNDS [STOP_US]
 * MODE: loop | threads | rename | excl | kill | exitgroup
 * prints "STALE ..." for each stale answer, then "stale=N" */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
static const char *D; static int stale; static long nl;
static int ex(const char *p) { struct stat st; return lstat(p, &st) == 0; }
static int listed(const char *d, const char *name) {
    DIR *dd = opendir(d); struct dirent *e; int f = 0;
    while (dd && (e = readdir(dd))) if (!strcmp(e->d_name, name)) f = 1;
    if (dd) closedir(dd); return f;
}
static int pfd[2];
static void *creator_thread(void *a) {
    long n = (long)a; char p[512];
    for (long i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/t%ld", D, i);
        int fd = open(p, O_CREAT | O_WRONLY, 0644); close(fd);
        write(pfd[1], &i, sizeof i);
    }
    return 0;
}
int main(int argc, char **argv) {
    D = argv[1]; const char *mode = argv[2]; long R = atol(argv[3]); char p[512], q[512];
    setvbuf(stdout, 0, _IONBF, 0);
    if (!strcmp(mode, "loop") || !strcmp(mode, "threads")) {
        pipe(pfd);
        for (long i = 0; i < R; i++) { snprintf(p, sizeof p, "%s/t%ld", D, i); ex(p); ex(p); }
        pthread_t t; pid_t pid = -1;
        if (!strcmp(mode, "threads")) pthread_create(&t, 0, creator_thread, (void *)R);
        else if ((pid = fork()) == 0) { creator_thread((void *)R); _exit(0); }
        for (long k = 0; k < R; k++) {
            long i; read(pfd[0], &i, sizeof i);
            snprintf(p, sizeof p, "%s/t%ld", D, i);
            if (!ex(p)) { stale++; printf("STALE %s\n", p); }
            snprintf(p, sizeof p, "%s/t%ld", D, i + 1); ex(p);  /* cache the next one absent */
        }
        if (pid > 0) waitpid(pid, 0, 0); else pthread_join(t, 0);
    } else if (!strcmp(mode, "rename")) {
        for (long i = 0; i < R; i++) {
            snprintf(p, sizeof p, "%s/ra%ld/x", D, i); snprintf(q, sizeof q, "%s/ra%ld", D, i);
            mkdir(q, 0755); ex(p); ex(p);       /* /ra/x absent, cached */
            pid_t c = fork();
            if (!c) { char b[512], bx[512]; snprintf(b, 512, "%s/rb%ld", D, i); snprintf(bx, 512, "%s/x", b);
                mkdir(b, 0755); close(open(bx, O_CREAT | O_WRONLY, 0644));
                _exit(rename(b, q) != 0); }
            int st; waitpid(c, &st, 0);
            if (!ex(p)) { stale++; printf("STALE %s (rename of dir above)\n", p); }
        }
    } else if (!strcmp(mode, "excl")) {
        for (long i = 0; i < R; i++) {
            snprintf(p, sizeof p, "%s/e%ld", D, i); ex(p);
            pid_t c = fork();
            int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
            int e = errno;
            if (fd < 0 && e == EEXIST && !ex(p)) { stale++; printf("STALE %s EEXIST but stat ENOENT (%s)\n", p, c ? "parent" : "child"); }
            if (fd >= 0) close(fd);
            if (!c) _exit(0);
            waitpid(c, 0, 0);
            if (!ex(p)) { stale++; printf("STALE %s after race\n", p); }
        }
    } else if (!strcmp(mode, "stop")) {
        int pp[2]; pipe(pp); long created = 0;
        for (long i = 0; i < R; i++) {
            char name[64]; snprintf(name, sizeof name, "s%ld", i);
            snprintf(p, sizeof p, "%s/%s", D, name); ex(p); ex(p);   /* absent, cached */
            pid_t c = fork();
            if (!c) { char b = 0; write(pp[1], &b, 1);
                int fd = open(p, O_CREAT | O_WRONLY, 0644); (void)fd; pause(); _exit(0); }
            char b; read(pp[0], &b, 1);
            volatile long s = 0; long spin = (i * 7919) % (argc > 4 ? atol(argv[4]) : 4000);
            for (long k = 0; k < spin; k++) s++;
            kill(c, SIGSTOP); int st; waitpid(c, &st, WUNTRACED);
            int l = listed(D, name), e = ex(p); created += l;
            if (l && !e) { stale++; printf("STALE %s: creator stopped, listed but lstat ENOENT\n", p); }
            kill(c, SIGKILL); waitpid(c, 0, 0);
            l = listed(D, name); e = ex(p);
            if (l && !e) { stale++; printf("STALE %s: creator killed, listed but lstat ENOENT\n", p);
                int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
                printf("   O_CREAT|O_EXCL on it: %s\n", fd < 0 ? strerror(errno) : "made (!)"); }
        }
        nl = created;
    } else if (!strcmp(mode, "kill") || !strcmp(mode, "exitgroup")) {
        int pp[2]; pipe(pp);
        for (long i = 0; i < R; i++) {
            char name[64]; snprintf(name, sizeof name, "k%ld", i);
            snprintf(p, sizeof p, "%s/%s", D, name); ex(p); ex(p);   /* absent, cached */
            pid_t c = fork();
            if (!c) {
                if (!strcmp(mode, "exitgroup")) {
                    /* a thread makes the name while the main thread ends the process */
                    pthread_t t; pipe(pfd);
                    D = D; /* creator_thread names t%ld; use our own */
                    char b = 0; write(pp[1], &b, 1);
                    int fd = open(p, O_CREAT | O_WRONLY, 0644); (void)fd;
                    _exit(0);
                }
                char b = 0; write(pp[1], &b, 1);
                int fd = open(p, O_CREAT | O_WRONLY, 0644); (void)fd;
                pause(); _exit(0);
            }
            char b; read(pp[0], &b, 1);
            volatile long s = 0; long spin = (i * 7919) % (argc > 4 ? atol(argv[4]) : 4000);
            for (long k = 0; k < spin; k++) s++;
            kill(c, SIGKILL); waitpid(c, 0, 0);
            int l = listed(D, name), e = ex(p); nl += l;
            if (l && !e) { stale++; printf("STALE %s: listed but lstat ENOENT\n", p);
                int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
                printf("   O_CREAT|O_EXCL on it: %s\n", fd < 0 ? strerror(errno) : "made (!)"); }
        }
    }
    printf("stale=%d listed=%ld\n", stale, nl);
    return stale != 0;
}
