/*
 * Fault signals: the guest kernel keeps the host's SIGSEGV and SIGBUS
 * handlers (it turns faults of its own copies into EFAULT) and delivers
 * every other fault to the program as Linux does.  Each case prints what the
 * program's handler saw; run natively and under libsubst, the same.
 *
 *   faults DIR      DIR a scratch directory
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile char *page;
static volatile int hits;
static volatile long seen_addr_ok, seen_code, seen_onstack;
static char altstack[64 * 1024];

static void longjmp_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    seen_addr_ok = si->si_addr == (void *)page;
    seen_code = si->si_code;
    hits++;
    siglongjmp(back, sig);
}

/* Makes the page writable and returns: the faulting store runs again. */
static void fixing_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    hits++;
    mprotect((void *)((unsigned long)si->si_addr & ~4095UL), 4096, PROT_READ | PROT_WRITE);
}

static void stack_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    (void)ctx;
    char here;
    seen_onstack = &here >= altstack && &here < altstack + sizeof altstack;
    hits++;
    siglongjmp(back, sig);
}

static void count_handler(int sig)
{
    (void)sig;
    hits++;
}

static void mask_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    ucontext_t *uc = ctx;
    sigset_t now;
    sigprocmask(SIG_BLOCK, 0, &now);
    /* the handler's mask: the signal itself and sa_mask; the saved one: the caller's */
    printf("  in handler: SEGV blocked %d, USR2 blocked %d, USR1 saved blocked %d\n",
           sigismember(&now, sig), sigismember(&now, SIGUSR2),
           sigismember(&uc->uc_sigmask, SIGUSR1));
    hits++;
    siglongjmp(back, sig);
}

static void on(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, 0);
}

static volatile int depth_limit = 1 << 30;    /* never reached: the stack ends first */

static int recurse(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n < depth_limit ? recurse(n + 1) + pad[0] : 0;
}

/* A thread with an alternate stack of its own: its overflow's handler runs
 * there, not on another thread's. */
static __thread sigjmp_buf tback;
static __thread char *talt;
static __thread volatile long t_on_own;

static void thread_stack_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    (void)ctx;
    char here;
    t_on_own = &here >= talt && &here < talt + 64 * 1024;
    siglongjmp(tback, sig);
}

static void *overflow_thread(void *arg)
{
    (void)arg;
    talt = malloc(64 * 1024);
    stack_t ss = {.ss_sp = talt, .ss_size = 64 * 1024};
    sigaltstack(&ss, 0);
    if (sigsetjmp(tback, 1) == 0)
        recurse(0);
    return (void *)t_on_own;
}

/* Runs fn in a child; its output and how it ended. */
static void in_child(const char *label, void (*fn)(void))
{
    printf("%s:\n", label);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        fn();
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("  killed by signal %d\n", WTERMSIG(st));
    else
        printf("  exit %d\n", WEXITSTATUS(st));
}

static void no_handler(void)
{
    signal(SIGSEGV, SIG_DFL);
    *(volatile char *)page = 1;
}

static void ignored(void)
{
    signal(SIGSEGV, SIG_IGN);
    raise(SIGSEGV);             /* sent: ignored */
    printf("  raise ignored\n");
    fflush(stdout);
    *(volatile char *)page = 1; /* a fault: kills anyway */
}

static void blocked(void)
{
    on(SIGSEGV, longjmp_handler, 0);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigprocmask(SIG_BLOCK, &s, 0);
    *(volatile char *)page = 1; /* a fault while blocked: kills */
}

static void resethand(void)
{
    on(SIGSEGV, longjmp_handler, SA_RESETHAND);
    if (sigsetjmp(back, 1) == 0)
        *(volatile char *)page = 1;
    printf("  first fault handled %d\n", hits);
    fflush(stdout);
    *(volatile char *)page = 1; /* the handler is gone: killed */
}

/* rt_sigreturn, the program's own (a trap in the guest), with a frame
 * that cannot be read, or whose FPU state cannot be: Linux raises SIGSEGV
 * (SI_KERNEL), which kills, or runs a handler on the alternate stack; the
 * guest kernel reads the frame as guest memory. */
static char frame_room[16384] __attribute__((aligned(64)));

static void sigreturn_on(char *sp)
{
    __asm__ volatile("mov %0, %%rsp; mov $15, %%eax; syscall; ud2" : : "r"(sp) : "memory");
}

static void sigreturn_bad(int fpstate, int handled)
{
    ucontext_t *uc = (ucontext_t *)(frame_room + 4096);
    memset(uc, 0, sizeof *uc);
    uc->uc_mcontext.fpregs = (void *)(page + 64);
    char *sp = fpstate ? (char *)uc : (char *)page + 2048;
    if (!handled) {
        signal(SIGSEGV, SIG_DFL);
        sigreturn_on(sp);
    }
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, 0);
    hits = 0;
    on(SIGSEGV, longjmp_handler, SA_ONSTACK);
    if (sigsetjmp(back, 1) == 0)
        sigreturn_on(sp);
    printf("  handler %d, si_code %ld\n", hits, seen_code);
}

static void bad_frame(void)
{
    sigreturn_bad(0, 0);
}

static void bad_fpstate(void)
{
    sigreturn_bad(1, 0);
}

static void bad_frame_handled(void)
{
    sigreturn_bad(0, 1);
}

static void bad_fpstate_handled(void)
{
    sigreturn_bad(1, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: faults DIR\n");
        return 2;
    }
    setvbuf(stdout, 0, _IOLBF, 0);
    page = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    on(SIGSEGV, longjmp_handler, 0);
    if (sigsetjmp(back, 1) == 0)
        *page = 1;
    printf("write to a read-only page: handler %d, si_addr ok %ld, si_code %ld\n", hits,
           seen_addr_ok, seen_code);

    hits = 0;
    on(SIGSEGV, fixing_handler, 0);
    *page = 7;
    printf("handler fixes the page and returns: handler %d, value %d\n", hits, *page);

    hits = 0;
    munmap((void *)page, 4096);
    on(SIGSEGV, longjmp_handler, 0);
    if (sigsetjmp(back, 1) == 0)
        *page = 1;
    printf("unmapped page: handler %d, si_code %ld\n", hits, seen_code);

    hits = 0;
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, 0);
    on(SIGSEGV, stack_handler, SA_ONSTACK);
    if (sigsetjmp(back, 1) == 0)
        recurse(0);
    printf("stack overflow on the alternate stack: handler %d, on it %ld\n", hits, seen_onstack);

    on(SIGSEGV, thread_stack_handler, SA_ONSTACK);
    pthread_t th;
    void *own;
    pthread_create(&th, 0, overflow_thread, 0);
    pthread_join(th, &own);
    printf("a thread's overflow on its own alternate stack: %ld\n", (long)own);

    hits = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = mask_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGSEGV, &sa, 0);
    sigset_t usr1, before, after;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &before);
    page = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(back, 1) == 0)
        (void)*page;
    sigprocmask(SIG_BLOCK, 0, &after);
    printf("masks: handler %d, mask restored by siglongjmp %d\n", hits,
           sigismember(&after, SIGUSR2) == 0 && sigismember(&after, SIGSEGV) == 0);
    sigprocmask(SIG_SETMASK, &before, 0);

    hits = 0;
    signal(SIGSEGV, count_handler);
    kill(getpid(), SIGSEGV);
    raise(SIGSEGV);
    printf("sent SIGSEGV with a handler: handler %d\n", hits);

    /* SIGBUS: a page of a file past its end. */
    hits = 0;
    int fd = open("short", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "x", 1);
    char *m = mmap(0, 8192, PROT_READ, MAP_SHARED, fd, 0);
    page = m + 4096;
    on(SIGBUS, longjmp_handler, 0);
    if (sigsetjmp(back, 1) == 0)
        (void)*page;
    printf("read past the end of a file: SIGBUS handler %d, si_addr ok %ld, si_code %ld\n", hits,
           seen_addr_ok, seen_code);
    close(fd);

    page = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    in_child("no handler", no_handler);
    in_child("SIG_IGN", ignored);
    in_child("blocked", blocked);
    in_child("SA_RESETHAND", resethand);
    page = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    in_child("rt_sigreturn, unreadable frame", bad_frame);
    in_child("rt_sigreturn, unreadable FPU state", bad_fpstate);
    in_child("rt_sigreturn, unreadable frame, a handler", bad_frame_handled);
    in_child("rt_sigreturn, unreadable FPU state, a handler", bad_fpstate_handled);
    return 0;
}
