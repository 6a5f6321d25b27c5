/*
 * Deeply nested signal handlers: an SA_NODEFER handler entered again from
 * inside itself, by a fault of its own or by a raise, level after level
 * (a crash handler that crashes, a runtime's signal loop), each level a
 * signal frame with the FPU state below the last, as natively on the
 * program's stack (8 MiB: some 2500 levels), on an alternate stack and in
 * a second thread.  Each case runs in a child and prints how deep it got.
 *
 *   signal_depth MODE      MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static __thread sigjmp_buf out;
static __thread volatile int depth;
static volatile int want, sig, by_raise;

static void again(void)
{
    if (by_raise)
        raise(sig);
    else
        *(volatile int *)16 = depth;        /* SIGSEGV, inside the handler */
}

static void handler(int s, siginfo_t *si, void *uc)
{
    (void)s;
    (void)si;
    (void)uc;
    volatile char work[256];                /* a handler's own frame, used */
    memset((char *)work, depth, sizeof work);
    if (++depth < want)
        again();
    siglongjmp(out, 1);
}

static void *nest(void *arg)
{
    (void)arg;
    depth = 0;
    if (!sigsetjmp(out, 1))
        again();
    return (void *)(long)depth;
}

static void run(const char *label, int s, int raised, int onstack, int levels, int threaded)
{
    printf("%s, %d levels: ", label, levels);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        sig = s, by_raise = raised, want = levels;
        if (onstack) {
            stack_t ss = {.ss_sp = malloc(1 << 20), .ss_size = 1 << 20};
            sigaltstack(&ss, 0);
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | (onstack ? SA_ONSTACK : 0);
        sigaction(s, &sa, 0);
        void *got;
        if (threaded) {
            pthread_t t;
            pthread_create(&t, 0, nest, 0);
            pthread_join(t, &got);
        } else {
            got = nest(0);
        }
        printf("reached %ld\n", (long)got);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("killed by signal %d\n", WTERMSIG(st));
}

int main(void)
{
    for (int levels = 100; levels <= 400; levels *= 4) {
        run("SIGSEGV by faults", SIGSEGV, 0, 0, levels, 0);
        run("SIGSEGV by raise", SIGSEGV, 1, 0, levels, 0);
        run("SIGUSR1 by raise", SIGUSR1, 1, 0, levels, 0);
        run("SIGUSR1 by raise in a thread", SIGUSR1, 1, 0, levels, 1);
        run("SIGSEGV by faults in a thread", SIGSEGV, 0, 0, levels, 1);
    }
    /* A 1 MiB sigaltstack: some 300 levels natively. */
    run("SIGSEGV by faults on a sigaltstack", SIGSEGV, 0, 1, 100, 0);
    run("SIGSEGV by raise on a sigaltstack", SIGSEGV, 1, 1, 100, 0);
    run("SIGUSR1 by raise on a sigaltstack", SIGUSR1, 1, 1, 100, 0);
    return 0;
}
