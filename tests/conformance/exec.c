/*
 * execve conformance: what the caller gets back for programs and "#!"
 * scripts written at run time, crafted ELF files included, and what a
 * script's interpreter receives.  Run natively and under libsubst from the
 * same directory; the outputs must be the same.
 *
 *   exec DIR        every case below, DIR a scratch directory
 *   exec try F...   execve each file F, one line per result (the fuzz driver)
 * With CONF_ARGS set in its environment it prints its argv instead (the
 * program the cases run, and the scripts' interpreter).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *self_bytes;
static size_t self_len;
static char self[PATH_MAX];

static void print_args(int argc, char **argv)
{
    printf("  argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("  [%d] <%s>\n", i, argv[i]);
    const char *want = getenv("CONF_EXE");
    if (want) {
        char got[PATH_MAX] = "";
        readlink("/proc/self/exe", got, sizeof got - 1);
        printf("  /proc/self/exe is %s\n", strcmp(got, want) ? "another file" : "the caller's");
    }
}

/* Runs path (from dirfd, with execveat's flags) in a child: "label: errno
 * E", "exit N" or "signal N". */
static void run_at(const char *label, int dirfd, const char *path, char *const argv[],
                   char *const envp[], int flags)
{
    printf("%s:\n", label);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);           /* a program that runs away is ended (survives execve) */
        syscall(SYS_execveat, dirfd, path, argv, envp, flags);
        printf("  errno %s\n", strerrorname_np(errno));
        fflush(stdout);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("  signal %d\n", WTERMSIG(st));
    else if (WEXITSTATUS(st) != 127 && WEXITSTATUS(st) != 0)
        printf("  exit %d\n", WEXITSTATUS(st));
    fflush(stdout);
}

static void run(const char *label, const char *path, char *const argv[], char *const envp[])
{
    run_at(label, AT_FDCWD, path, argv, envp, 0);
}

static void put_file(const char *name, const void *data, size_t n, mode_t mode)
{
    unlink(name);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) < 0) {
        perror(name);
        exit(1);
    }
    chmod(name, mode);
}

static void put_text(const char *name, const char *text, mode_t mode)
{
    put_file(name, text, strlen(text), mode);
}

static char *envp_args[] = {"CONF_ARGS=1", 0};

static void run_args(const char *label, const char *path)
{
    char *argv[] = {(char *)path, "x", "y z", 0};
    run(label, path, argv, envp_args);
}

/* A copy of this program with one change made by edit, run as `name`. */
static void crafted(const char *name, void (*edit)(char *elf, size_t *len))
{
    char *b = malloc(self_len);
    memcpy(b, self_bytes, self_len);
    size_t len = self_len;
    edit(b, &len);
    put_file(name, b, len, 0755);
    free(b);
    run_args(name, name);
}

#define EH(b) ((Elf64_Ehdr *)(b))
#define PH(b, i) ((Elf64_Phdr *)((b) + EH(b)->e_phoff) + (i))

static Elf64_Phdr *find(char *b, unsigned type)
{
    for (int i = 0; i < EH(b)->e_phnum; i++)
        if (PH(b, i)->p_type == type)
            return PH(b, i);
    fprintf(stderr, "no program header of type %u\n", type);
    exit(1);
}

static void trunc_ehdr(char *b, size_t *n) { (void)b; *n = 40; }
static void trunc_phdr(char *b, size_t *n) { *n = EH(b)->e_phoff + 60; }
static void trunc_body(char *b, size_t *n) { (void)b; *n = 4096 + 100; }
static void bad_magic(char *b, size_t *n) { (void)n; b[1] = 'e'; }
static void bad_machine(char *b, size_t *n) { (void)n; EH(b)->e_machine = EM_386; }
static void bad_type(char *b, size_t *n) { (void)n; EH(b)->e_type = ET_REL; }
static void bad_phentsize(char *b, size_t *n) { (void)n; EH(b)->e_phentsize = 32; }
static void zero_phnum(char *b, size_t *n) { (void)n; EH(b)->e_phnum = 0; }
static void many_phnum(char *b, size_t *n) { (void)n; EH(b)->e_phnum = 74; }
static void far_phoff(char *b, size_t *n) { (void)n; EH(b)->e_phoff = 1UL << 40; }
static void interp_short(char *b, size_t *n) { (void)n; find(b, PT_INTERP)->p_filesz = 1; }
static void interp_long(char *b, size_t *n) { (void)n; find(b, PT_INTERP)->p_filesz = 5000; }
static void interp_unterminated(char *b, size_t *n)
{
    (void)n;
    Elf64_Phdr *p = find(b, PT_INTERP);
    b[p->p_offset + p->p_filesz - 1] = 'x';
}
static void interp_past_end(char *b, size_t *n) { (void)n; find(b, PT_INTERP)->p_offset = 1UL << 30; }
static void set_interp(char *b, const char *path)
{
    Elf64_Phdr *p = find(b, PT_INTERP);
    memset(b + p->p_offset, 0, p->p_filesz);
    strcpy(b + p->p_offset, path);
}
static void interp_missing(char *b, size_t *n) { (void)n; set_interp(b, "/lib64/ld-missing.so.2"); }
static void interp_text(char *b, size_t *n) { (void)n; set_interp(b, "text"); }
static void interp_dir(char *b, size_t *n) { (void)n; set_interp(b, "adir"); }
static void interp_noexec(char *b, size_t *n) { (void)n; set_interp(b, "noexec"); }
static void interp_self(char *b, size_t *n) { (void)n; set_interp(b, "copy"); }
static void huge_memsz(char *b, size_t *n)
{
    (void)n;
    for (int i = 0; i < EH(b)->e_phnum; i++)
        if (PH(b, i)->p_type == PT_LOAD && (PH(b, i)->p_flags & PF_W)) {
            PH(b, i)->p_memsz = 1UL << 46;
            return;
        }
}
static void misaligned_load(char *b, size_t *n)
{
    (void)n;
    for (int i = 0; i < EH(b)->e_phnum; i++)
        if (PH(b, i)->p_type == PT_LOAD && PH(b, i)->p_offset) {
            PH(b, i)->p_offset += 1;
            return;
        }
}

static void script(const char *name, const char *text, mode_t mode)
{
    put_text(name, text, mode);
    run_args(name, name);
}

static void cases(void)
{
    char buf[8192];
    put_file("copy", self_bytes, self_len, 0755);
    put_file("noexec", self_bytes, self_len, 0644);
    put_text("text", "hello\n", 0755);
    put_text("empty", "", 0755);
    rmdir("adir");
    mkdir("adir", 0755);
    unlink("loop");
    symlink("loop", "loop");

    run_args("elf written at run time", "copy");
    run_args("relative ./copy", "./copy");
    run_args("no execute bit", "noexec");
    run_args("not an ELF", "text");
    run_args("empty file", "empty");
    run_args("a directory", "adir");
    run_args("missing", "missing");
    run_args("through a file", "text/x");
    run_args("symlink loop", "loop");
    memset(buf, 'a', 300);
    buf[300] = 0;
    run_args("component over NAME_MAX", buf);
    memset(buf, 0, sizeof buf);
    for (int i = 0; i < 1100; i++)
        strcat(buf, "adir/");
    run_args("path over PATH_MAX", buf);

    /* Linux's limits on the strings execve copies: one string at most
     * MAX_ARG_STRLEN (128 KiB) with its NUL; all of them with their
     * pointers at most a quarter of the stack limit, never over 6 MiB
     * (bprm_stack_limits), however many they are. */
    static char big[131072 + 1];
    memset(big, 'e', sizeof big - 1);
    memcpy(big, "B=", 2);
    char *bigenv[] = {"CONF_ARGS=1", big, 0};
    char *oneargv[] = {"copy", 0};
    big[131071] = 0;
    run("an environment string of 128 KiB with its NUL", "copy", oneargv, bigenv);
    big[131071] = 'e';
    run("an environment string over 128 KiB", "copy", oneargv, bigenv);
    big[131071] = 0;
    static char *manyargv[20002];
    manyargv[0] = "copy";
    for (int i = 1; i < 81; i++)
        manyargv[i] = big;
    run("arguments over 6 MiB", "copy", manyargv, envp_args);
    for (int i = 1; i < 20001; i++)
        manyargv[i] = "a";
    run("20000 short arguments", "copy", manyargv, envp_args);

    char *nullargv[] = {0};
    run("empty argv", "copy", nullargv, envp_args);
    char *reargv[] = {"again", "1", 0};
    char *reenv[] = {"CONF_ARGS=1", 0, 0};
    char exe_env[PATH_MAX + 16];
    snprintf(exe_env, sizeof exe_env, "CONF_EXE=%s", self);
    reenv[1] = exe_env;
    run("/proc/self/exe", "/proc/self/exe", reargv, reenv);

    /* "#!" scripts: interpreter, one optional argument, the name exec'd. */
    snprintf(buf, sizeof buf, "#!%s\n", self);
    script("plain script", buf, 0755);
    char *custom[] = {"custom-argv0", "a", 0};
    run("script keeps argv[1:], drops argv[0]", "plain script", custom, envp_args);
    run("script with an empty argv", "plain script", nullargv, envp_args);
    snprintf(buf, sizeof buf, "#!%s  one two  \t\n", self);
    script("argument with blanks", buf, 0755);
    snprintf(buf, sizeof buf, "#!%s \t \n", self);
    script("trailing blanks", buf, 0755);
    snprintf(buf, sizeof buf, "#! \t %s -x\n", self);
    script("leading blanks", buf, 0755);
    snprintf(buf, sizeof buf, "#!%s -y", self);
    script("no newline", buf, 0755);
    snprintf(buf, sizeof buf, "#!%s\r\n", self);
    script("carriage return", buf, 0755);
    snprintf(buf, sizeof buf, "#!%s -a\n#!/bin/false\n", self);
    script("only the first line", buf, 0755);
    put_file("nul in line", buf, snprintf(buf, sizeof buf, "#!%s%c -z\n", self, 0), 0755);
    run_args("nul in line", "nul in line");
    script("no interpreter", "#!\n", 0755);
    script("blank interpreter", "#!  \t \n", 0755);
    memset(buf, 0, sizeof buf);
    strcpy(buf, "#!/");
    memset(buf + 3, 'x', 300);
    script("interpreter cut at 256 bytes", buf, 0755);
    snprintf(buf, sizeof buf, "#!%s ", self);
    memset(buf + strlen(buf), 'a', 400);
    script("argument cut at 256 bytes", buf, 0755);
    script("relative interpreter", "#!copy rel\n", 0755);
    script("interpreter without execute bit", "#!noexec\n", 0755);
    script("interpreter is a directory", "#!adir\n", 0755);
    script("interpreter missing", "#!/nonexistent/interp\n", 0755);
    script("interpreter not an ELF", "#!text\n", 0755);
    snprintf(buf, sizeof buf, "#!%s\n", self);
    script("script without execute bit", buf, 0644);
    /* Nesting: n1 runs this program, nK runs n(K-1). */
    snprintf(buf, sizeof buf, "#!%s\n", self);
    put_text("n1", buf, 0755);
    for (int k = 2; k <= 7; k++) {
        char name[8], line[16];
        snprintf(name, sizeof name, "n%d", k);
        snprintf(line, sizeof line, "#!n%d nest\n", k - 1);
        put_text(name, line, 0755);
    }
    run_args("nested 4", "n4");
    run_args("nested 5", "n5");
    run_args("nested 6", "n6");
    run_args("nested 7", "n7");

    /* execveat: from a directory fd, of an fd itself (fexecve). */
    char *args[] = {"prog", "x", 0};
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    int efd = open("copy", O_RDONLY);
    int efd_cloexec = open("copy", O_RDONLY | O_CLOEXEC);
    int epath = open("copy", O_PATH);
    snprintf(buf, sizeof buf, "#!%s\n", self);
    put_text("fd script", buf, 0755);
    int sfd = dup2(open("fd script", O_RDONLY), 40);   /* a number the script's name shows */
    int sfd_cloexec = open("fd script", O_RDONLY | O_CLOEXEC);
    unlink("linkcopy");
    symlink("copy", "linkcopy");
    run_at("execveat from a directory fd", dfd, "copy", args, envp_args, 0);
    run_at("execveat of a script from a directory fd", dfd, "fd script", args, envp_args, 0);
    run_at("fexecve", efd, "", args, envp_args, AT_EMPTY_PATH);
    run_at("fexecve of a close-on-exec fd", efd_cloexec, "", args, envp_args, AT_EMPTY_PATH);
    run_at("fexecve of an O_PATH fd", epath, "", args, envp_args, AT_EMPTY_PATH);
    run_at("fexecve of a script", sfd, "", args, envp_args, AT_EMPTY_PATH);
    run_at("fexecve of a close-on-exec script", sfd_cloexec, "", args, envp_args, AT_EMPTY_PATH);
    run_at("empty path without AT_EMPTY_PATH", efd, "", args, envp_args, 0);
    run_at("AT_SYMLINK_NOFOLLOW on a symlink", dfd, "linkcopy", args, envp_args,
           AT_SYMLINK_NOFOLLOW);
    run_at("AT_SYMLINK_NOFOLLOW on a file", dfd, "copy", args, envp_args, AT_SYMLINK_NOFOLLOW);
    run_at("unknown flag", AT_FDCWD, "copy", args, envp_args, 0x1);
    run_at("relative path from a file fd", efd, "copy", args, envp_args, 0);
    run_at("absolute path ignores the fd", efd, self, args, envp_args, 0);

    /* ELF files crafted from this program. */
    crafted("header cut short", trunc_ehdr);
    crafted("program headers cut short", trunc_phdr);
    crafted("segments cut short", trunc_body);
    crafted("bad magic", bad_magic);
    crafted("i386 machine", bad_machine);
    crafted("relocatable", bad_type);
    crafted("bad e_phentsize", bad_phentsize);
    crafted("no program headers", zero_phnum);
    crafted("program headers over a page", many_phnum);
    crafted("program headers far away", far_phoff);
    crafted("PT_INTERP of 1 byte", interp_short);
    crafted("PT_INTERP of 5000 bytes", interp_long);
    crafted("PT_INTERP not terminated", interp_unterminated);
    crafted("PT_INTERP past the end", interp_past_end);
    crafted("interpreter missing (ELF)", interp_missing);
    crafted("interpreter not an ELF (ELF)", interp_text);
    crafted("interpreter is a directory (ELF)", interp_dir);
    crafted("interpreter without execute bit (ELF)", interp_noexec);
    crafted("interpreter is a program", interp_self);
    crafted("huge p_memsz", huge_memsz);
    crafted("misaligned PT_LOAD offset", misaligned_load);
}

int main(int argc, char **argv)
{
    if (getenv("CONF_ARGS")) {
        print_args(argc, argv);
        return 0;
    }
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "try") == 0) {
        for (int i = 2; i < argc; i++)
            run_args(argv[i], argv[i]);
        return 0;
    }
    if (argc != 2 || readlink("/proc/self/exe", self, sizeof self - 1) < 0) {
        fprintf(stderr, "usage: exec DIR\n");
        return 2;
    }
    FILE *f = fopen(self, "rb");
    fseek(f, 0, SEEK_END);
    self_len = ftell(f);
    rewind(f);
    self_bytes = malloc(self_len);
    if (fread(self_bytes, 1, self_len, f) != self_len)
        return 1;
    fclose(f);
    /* DIR may be one to make: in the guest's scratch /tmp, say. */
    if ((mkdir(argv[1], 0755) < 0 && errno != EEXIST) || chdir(argv[1]) < 0) {
        perror(argv[1]);
        return 1;
    }
    cases();
    return 0;
}
