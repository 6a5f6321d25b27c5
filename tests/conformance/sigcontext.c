/*
 * The context a signal handler is shown when its signal interrupted a
 * blocking call: read() on an empty pipe, interrupted by SIGALRM, with and
 * without SA_RESTART.  The handler checks that its ucontext's rip lies in
 * libc's text (dladdr names the function, and libc.so.6 its object) and
 * that rsp lies in the thread's stack, as far below the caller's frame as
 * natively; the call
 * then fails with EINTR or restarts and returns the byte the handler
 * wrote, as natively.  A second thread does the same, on its own stack.
 * Then SIGSEGV and SIGBUS sent to the reading thread by another
 * (pthread_kill), which the guest kernel delivers itself (it owns their
 * host handlers): the same context, EINTR or a restart, as natively.
 * A signal the program sends itself (raise, kill) shows its handler the
 * sending call's site and stack too, as natively (the guest kernel's
 * host call, interrupted, is not waiting there).
 *
 *   sigcontext MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static int pfd[2];
static volatile uintptr_t frame_at;     /* a local of the blocked caller */
static volatile uintptr_t seen_rip, seen_rsp;
static volatile sig_atomic_t ran;

static void on_alarm(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    seen_rip = uc->uc_mcontext.gregs[REG_RIP];
    seen_rsp = uc->uc_mcontext.gregs[REG_RSP];
    ran++;
    if (write(pfd[1], "x", 1) != 1)
        _exit(3);
}

/* The object and function rip lies in, "none" for each it is not in. */
static void where(uintptr_t rip, const char **object, const char **function)
{
    Dl_info info;
    *object = *function = "none";
    if (dladdr((void *)rip, &info)) {
        *object = info.dli_fname && strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1
                                                                  : "?";
        *function = info.dli_sname ? info.dli_sname : "?";
    }
}

/* A read of the empty pipe the timer's SIGALRM interrupts, and what the
 * handler saw, said as both runs say it.  A signal that came before the
 * read began (a slow machine: rip outside libc) is sent again with twice
 * the delay, at most 8 times. */
struct send {
    pthread_t to;
    int sig;
    long us;
};

/* Sends a signal to a thread after a delay: SIGSEGV and SIGBUS as kill(2)
 * sends them, which no timer does. */
static void *sender(void *arg)
{
    struct send *s = arg;
    struct timespec ts = {s->us / 1000000, s->us % 1000000 * 1000};
    nanosleep(&ts, 0);
    pthread_kill(s->to, s->sig);
    return 0;
}

static void blocked_read_of(const char *label, int sig, int restart)
{
    struct sigaction sa = {.sa_sigaction = on_alarm, .sa_flags = SA_SIGINFO | restart};
    sigaction(sig, &sa, 0);
    const char *object = "none", *function = "none";
    long r = 0;
    int err = 0;
    volatile char here = 0;
    frame_at = (uintptr_t)&here;
    for (long us = 20000, tries = 0; tries < 8; us *= 2, tries++) {
        char c = 0;
        ran = 0;
        seen_rip = seen_rsp = 0;
        struct itimerval it = {.it_value = {us / 1000000, us % 1000000}};
        struct send send = {pthread_self(), sig, us};
        pthread_t t;
        if (sig == SIGALRM)
            setitimer(ITIMER_REAL, &it, 0);
        else if (pthread_create(&t, 0, sender, &send) != 0)
            _exit(2);
        r = read(pfd[0], &c, 1);
        err = errno;
        if (sig != SIGALRM)
            pthread_join(t, 0);
        if (r < 0 && read(pfd[0], &c, 1) != 1)  /* the handler's byte */
            printf("%s: no byte left\n", label);
        where(seen_rip, &object, &function);
        if (strcmp(object, "libc.so.6") == 0)
            break;
    }
    /* The same code runs on the same stack layout in both runs: the
     * distance is the same, the program's own. */
    uintptr_t below = frame_at - seen_rsp;
    char rsp[64] = "elsewhere";
    if (seen_rsp < frame_at && below < 65536)
        snprintf(rsp, sizeof rsp, "%lu bytes below the caller's local", (unsigned long)below);
    printf("%s: read %ld %s, handler ran %d; rip in %s (%s); rsp %s\n", label, r,
           r < 0 ? strerrorname_np(err) : "ok", (int)ran, object, function, rsp);
}

static void blocked_read(const char *label, int restart)
{
    blocked_read_of(label, SIGALRM, restart);
}

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    seen_rip = uc->uc_mcontext.gregs[REG_RIP];
    seen_rsp = uc->uc_mcontext.gregs[REG_RSP];
    ran++;
}

/* A signal sent to itself: where its handler is shown the program was. */
static void sent_to_self(const char *label, int how)
{
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, 0);
    volatile char here = 0;
    frame_at = (uintptr_t)&here;
    ran = 0;
    long r = how ? kill(getpid(), SIGUSR1) : raise(SIGUSR1);
    const char *object, *function;
    where(seen_rip, &object, &function);
    uintptr_t below = frame_at - seen_rsp;
    char rsp[64] = "elsewhere";
    if (seen_rsp < frame_at && below < 65536)
        snprintf(rsp, sizeof rsp, "%lu bytes below the caller's local", (unsigned long)below);
    printf("%s: %ld, handler ran %d; rip in %s (%s); rsp %s\n", label, r, (int)ran, object,
           function, rsp);
}

static void *second(void *arg)
{
    (void)arg;
    blocked_read("second thread, EINTR", 0);
    blocked_read("second thread, SA_RESTART", SA_RESTART);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, 0, _IOLBF, 0);
    if (pipe(pfd) < 0)
        return 2;
    blocked_read("first thread, EINTR", 0);
    blocked_read("first thread, SA_RESTART", SA_RESTART);
    sent_to_self("raise", 0);
    sent_to_self("kill", 1);
    /* The second thread gets the timer's signal: the first blocks it. */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, 0);
    pthread_t t;
    sigset_t none;
    sigemptyset(&none);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setsigmask_np(&attr, &none);
    if (pthread_create(&t, &attr, second, 0) != 0)
        return 2;
    pthread_join(t, 0);
    blocked_read_of("SIGSEGV sent, EINTR", SIGSEGV, 0);
    blocked_read_of("SIGSEGV sent, SA_RESTART", SIGSEGV, SA_RESTART);
    blocked_read_of("SIGBUS sent, EINTR", SIGBUS, 0);
    blocked_read_of("SIGBUS sent, SA_RESTART", SIGBUS, SA_RESTART);
    return 0;
}
