/*
 * nesting conformance: guest handlers that make calls the kernel serves while
 * the thread is inside another one, on small stacks with a guard page below
 * (an overflow is a SIGSEGV, not silent corruption): a SIGSEGV handler on an
 * 16 KiB sigaltstack entered by raise(); a siglongjmp out of blocking reads
 * and selects, then many calls; a handler interrupted inside a blocking read
 * by another signal whose handler makes calls of its own; an SA_ONSTACK
 * handler that interrupted a blocking read on the trap path (a raw
 * syscall no window can move) asks sigaltstack where it runs, as Go's
 * signal handler does (a SIGURG that found it elsewhere crashed Go).
 *
 *   nesting MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define SMALL (16 * 1024)

static int pfd[2];
static sigjmp_buf jb;
static int opened;

/* SMALL usable bytes above a PROT_NONE page. */
static char *small_stack(void)
{
    char *p = mmap(0, SMALL + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, 4096, PROT_NONE) < 0)
        _exit(2);
    return p + 4096;
}

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, 0);
}

static void open_close(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        opened++;
        close(fd);
    }
}

static void on_segv(int sig)
{
    open_close();
    printf("segv handler: signal %d, opened %d\n", sig, opened);
}

/* The repro: raise() returns through a kernel-served mask restore. */
static void segv_on_altstack(void)
{
    stack_t ss = {.ss_sp = small_stack(), .ss_size = SMALL};
    sigaltstack(&ss, 0);
    handle(SIGSEGV, on_segv, SA_ONSTACK);
    for (int i = 0; i < 20; i++)
        raise(SIGSEGV);
    fflush(stdout);
}

static void on_alarm_jump(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

static void arm(long usec)
{
    struct itimerval it = {.it_value = {.tv_usec = usec}};
    setitimer(ITIMER_REAL, &it, 0);
}

static ucontext_t main_uc, small_uc;

/* On a small stack: leave blocking calls by siglongjmp, then many calls. */
static void jump_out_then_call(void)
{
    handle(SIGALRM, on_alarm_jump, 0);
    char c;
    int jumped = 0;
    for (int i = 0; i < 10; i++) {
        if (sigsetjmp(jb, 1) == 0) {
            arm(2000);
            if (i % 2) {
                fd_set r;
                FD_ZERO(&r);
                FD_SET(pfd[0], &r);
                select(pfd[0] + 1, &r, 0, 0, 0);
            } else if (read(pfd[0], &c, 1) < 0) {
                break;
            }
        } else {
            jumped++;
        }
    }
    opened = 0;
    for (int i = 0; i < 200; i++)
        open_close();
    printf("jumped out %d times, then opened %d files\n", jumped, opened);
    fflush(stdout);
}

static volatile sig_atomic_t alarms;

static void on_alarm_write(int sig)
{
    (void)sig;
    alarms++;
    open_close();
    if (write(pfd[1], "y", 1) != 1)
        _exit(3);
}

static void on_usr1_read(int sig)
{
    char c = 0;
    arm(2000);
    long r = read(pfd[0], &c, 1);   /* the alarm's handler runs inside it */
    open_close();
    printf("usr1 handler (signal %d): read %ld '%c' after %d alarm(s)\n", sig, r, c, alarms);
}

/* A handler interrupted, inside a blocking read, by another signal, once on
 * the small stack itself and once on a small sigaltstack. */
static void nested_handlers(void)
{
    handle(SIGALRM, on_alarm_write, SA_RESTART);
    for (int onstack = 0; onstack < 2; onstack++) {
        alarms = 0;
        handle(SIGUSR1, on_usr1_read, SA_RESTART | (onstack ? SA_ONSTACK : 0));
        raise(SIGUSR1);
    }
    fflush(stdout);
}

static void on_small_stack(void (*fn)(void))
{
    getcontext(&small_uc);
    small_uc.uc_stack.ss_sp = small_stack();
    small_uc.uc_stack.ss_size = SMALL;
    small_uc.uc_link = &main_uc;
    makecontext(&small_uc, fn, 0);
    swapcontext(&main_uc, &small_uc);
}

static volatile int on_reported;

/* Whether the handler runs on the stack sigaltstack reports, SS_ONSTACK:
 * Go's adjustSignalStack throws "handler not on signal stack" else. */
static void on_alarm_ask(int sig)
{
    stack_t st;
    char here;
    (void)sig;
    on_reported = sigaltstack(0, &st) == 0 && (st.ss_flags & SS_ONSTACK) &&
                  &here >= (char *)st.ss_sp && &here < (char *)st.ss_sp + st.ss_size;
}

/* read(2) through a syscall instruction between two branch targets, so no
 * window around it moves to a stub: it traps in every guest. */
static long trapped_read(int fd, void *buf, long n)
{
    long r;
    __asm__ volatile("jmp 1f\n1:\tsyscall\n\tjmp 2f\n2:"
                     : "=a"(r) : "0"(0L), "D"((long)fd), "S"(buf), "d"(n)
                     : "rcx", "r11", "memory");
    return r;
}

static void onstack_handler_in_a_trapped_read(void)
{
    stack_t ss = {.ss_sp = small_stack(), .ss_size = SMALL};
    char c;
    sigaltstack(&ss, 0);
    for (int i = 0; i < 3; i++) {
        on_reported = -1;
        handle(SIGALRM, on_alarm_ask, SA_ONSTACK);
        arm(20000);
        long r = trapped_read(pfd[0], &c, 1);
        printf("trapped read: %ld, handler on the stack sigaltstack reports: %d\n", r,
               on_reported);
    }
    fflush(stdout);
}

int main(void)
{
    setvbuf(stdout, 0, _IOFBF, 1 << 16);
    if (pipe(pfd) < 0)
        return 2;
    segv_on_altstack();
    on_small_stack(jump_out_then_call);
    on_small_stack(nested_handlers);
    onstack_handler_in_a_trapped_read();
    return 0;
}
