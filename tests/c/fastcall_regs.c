/*
 * Checks the fastcall entry keeps the syscall ABI: calls getppid and write
 * through `call *%gs:0` (as a rewritten site does) and through a real
 * `syscall` (the trap path), with every general register, the flags and a
 * vector register set to known values, and compares what survives.
 * Prints one line per check; exit status 0 when all pass.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct regs {
    unsigned long rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15, flags;
    unsigned long xmm0[2];
};

#define CALL_FAST "lea -128(%%rsp),%%rsp\n\tcall *%%gs:0\n\tlea 128(%%rsp),%%rsp\n\t"
#define CALL_TRAP "syscall\n\t"

/* Loads known values, enters the kernel, stores what the registers hold after. */
#define PROBE(name, ENTER)                                                              \
    static void name(long nr, long a0, long a1, long a2, struct regs *out)             \
    {                                                                                  \
        static const unsigned long x[2] = {0x1122334455667788UL, 0x99aabbccddeeff00UL}; \
        __asm__ volatile(                                                              \
            "push %%rbp\n\t"                                                            \
            "push %%rbx\n\t"                                                            \
            "push %%r12\n\t"                                                            \
            "push %%r13\n\t"                                                            \
            "push %%r14\n\t"                                                            \
            "push %%r15\n\t"                                                            \
            "push %[out]\n\t"                                                           \
            "movdqu (%[x]), %%xmm0\n\t"                                                 \
            "mov $0xb1b1, %%rbx\n\t"                                                    \
            "mov $0xb2b2, %%rbp\n\t"                                                    \
            "mov $0xa8a8, %%r8\n\t"                                                     \
            "mov $0xa9a9, %%r9\n\t"                                                     \
            "mov $0xaaaa, %%r10\n\t"                                                    \
            "mov $0xc12c, %%r12\n\t"                                                    \
            "mov $0xc13c, %%r13\n\t"                                                    \
            "mov $0xc14c, %%r14\n\t"                                                    \
            "mov $0xc15c, %%r15\n\t"                                                    \
            "mov $0x7fffffff, %%ecx\n\t"  /* add: OF = SF = 1, ZF = 0 */                   \
            "add $1, %%ecx\n\t"                                                          \
            "stc\n\t"                      /* CF = 1 */                                   \
            ENTER                                                                      \
            "pushfq\n\t"                                                                \
            "xchg %%rax, 8(%%rsp)\n\t"   /* rax <- out, stack: flags, result */         \
            "mov %%rbx, 8(%%rax)\n\t"                                                   \
            "mov %%rcx, 16(%%rax)\n\t"                                                  \
            "mov %%rdx, 24(%%rax)\n\t"                                                  \
            "mov %%rsi, 32(%%rax)\n\t"                                                  \
            "mov %%rdi, 40(%%rax)\n\t"                                                  \
            "mov %%rbp, 48(%%rax)\n\t"                                                  \
            "mov %%r8, 56(%%rax)\n\t"                                                   \
            "mov %%r9, 64(%%rax)\n\t"                                                   \
            "mov %%r10, 72(%%rax)\n\t"                                                  \
            "mov %%r11, 80(%%rax)\n\t"                                                  \
            "mov %%r12, 88(%%rax)\n\t"                                                  \
            "mov %%r13, 96(%%rax)\n\t"                                                  \
            "mov %%r14, 104(%%rax)\n\t"                                                 \
            "mov %%r15, 112(%%rax)\n\t"                                                 \
            "movdqu %%xmm0, 128(%%rax)\n\t"                                             \
            "pop %%rcx\n\t"                                                             \
            "mov %%rcx, 120(%%rax)\n\t"                                                 \
            "pop %%rcx\n\t"                                                             \
            "mov %%rcx, 0(%%rax)\n\t"                                                   \
            "pop %%r15\n\t"                                                             \
            "pop %%r14\n\t"                                                             \
            "pop %%r13\n\t"                                                             \
            "pop %%r12\n\t"                                                             \
            "pop %%rbx\n\t"                                                             \
            "pop %%rbp\n\t"                                                             \
            : "+a"(nr), "+D"(a0), "+S"(a1), "+d"(a2)                                   \
            : [out] "r"(out), [x] "r"(x)                                               \
            : "rcx", "r8", "r9", "r10", "r11", "xmm0", "memory", "cc");                \
    }

PROBE(probe_fast, CALL_FAST)
PROBE(probe_trap, CALL_TRAP)

static int failures;

static void expect(const char *what, const char *path, unsigned long got, unsigned long want)
{
    if (got != want) {
        printf("%s %s: got %#lx, want %#lx\n", path, what, got, want);
        failures++;
    }
}

static void check(const char *path, const struct regs *r, long want_rax, long a0, long a1, long a2)
{
    expect("rax", path, r->rax, want_rax);
    expect("rbx", path, r->rbx, 0xb1b1);
    expect("rbp", path, r->rbp, 0xb2b2);
    expect("rdi", path, r->rdi, a0);
    expect("rsi", path, r->rsi, a1);
    expect("rdx", path, r->rdx, a2);
    expect("r8", path, r->r8, 0xa8a8);
    expect("r9", path, r->r9, 0xa9a9);
    expect("r10", path, r->r10, 0xaaaa);
    expect("r12", path, r->r12, 0xc12c);
    expect("r13", path, r->r13, 0xc13c);
    expect("r14", path, r->r14, 0xc14c);
    expect("r15", path, r->r15, 0xc15c);
    expect("CF", path, r->flags & 1, 1);
    expect("OF", path, r->flags & 0x800, 0x800);
    expect("SF", path, r->flags & 0x80, 0x80);
    expect("ZF", path, r->flags & 0x40, 0);
    expect("DF", path, r->flags & 0x400, 0);
    expect("xmm0.lo", path, r->xmm0[0], 0x1122334455667788UL);
    expect("xmm0.hi", path, r->xmm0[1], 0x99aabbccddeeff00UL);
}

int main(void)
{
    struct regs r;
    static const char msg[] = "written through the probe\n";
    long ppid = getppid();
    const char *paths[] = {"fast", "trap"};
    void (*probes[])(long, long, long, long, struct regs *) = {probe_fast, probe_trap};
    for (int i = 0; i < 2; i++) {
        memset(&r, 0, sizeof r);
        probes[i](110 /* getppid */, 0x1d1d, 0x5e5e, 0xd0d0, &r);
        check(paths[i], &r, ppid, 0x1d1d, 0x5e5e, 0xd0d0);
        memset(&r, 0, sizeof r);
        fflush(stdout);
        probes[i](1 /* write */, 1, (long)msg, sizeof msg - 1, &r);
        check(paths[i], &r, sizeof msg - 1, 1, (long)msg, sizeof msg - 1);
        memset(&r, 0, sizeof r);
        probes[i](1 /* write */, 99, (long)msg, 1, &r);
        check(paths[i], &r, -9 /* EBADF */, 99, (long)msg, 1);
    }
    printf("%s\n", failures ? "FAILED" : "all registers kept");
    return failures != 0;
}
