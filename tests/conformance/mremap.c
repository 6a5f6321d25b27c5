/*
 * mremap conformance: moves, growth and shrinking, MREMAP_MAYMOVE,
 * MREMAP_FIXED, MREMAP_DONTUNMAP and the error cases, compared with a
 * native run (addresses are printed only as relations, never as values).
 *
 *   mremap DIR      DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL

static void show(const char *label, void *r, void *expect)
{
    if (r == MAP_FAILED)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else if (expect)
        printf("%s: ok, %s\n", label, r == expect ? "where asked" : "elsewhere");
    else
        printf("%s: ok\n", label);
}

/* 1 if [p, p+len) is mapped, page by page. */
static int mapped(void *p, size_t len)
{
    unsigned char v[64];
    return mincore(p, len, v) == 0;
}

static char *anon(size_t len)
{
    return mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: mremap DIR\n");
        return 2;
    }
    setvbuf(stdout, 0, _IOLBF, 0);
    /* A hole after p: grow in place. */
    char *area = mmap(0, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area, 16 * PG);
    char *p = mmap(area, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
    strcpy(p, "kept");
    char *r = mremap(p, 2 * PG, 4 * PG, 0);
    show("grow in place", r, p);
    if (r == MAP_FAILED)
        return 1;
    r[3 * PG] = 1;
    printf("  contents %s\n", r);

    /* Something in the way: no MAYMOVE fails, MAYMOVE moves. */
    char *block = mmap(p + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    show("grow into a mapping", mremap(p, 4 * PG, 8 * PG, 0), 0);
    char *m = mremap(p, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
    show("grow with MREMAP_MAYMOVE", m, p);
    if (m == MAP_FAILED)
        return 1;
    printf("  contents %s, old range mapped %d, new tail zero %d\n", m, mapped(p, PG),
           m[7 * PG] == 0);
    munmap(block, PG);

    char *s = mremap(m, 8 * PG, 2 * PG, 0);
    show("shrink", s, m);
    printf("  tail still mapped %d\n", mapped(m + 2 * PG, PG));

    /* MREMAP_FIXED onto a chosen place, replacing what was there. */
    char *target = anon(8 * PG);
    memset(target, 'x', 8 * PG);
    char *f = mremap(s, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, target + 2 * PG);
    show("MREMAP_FIXED", f, target + 2 * PG);
    if (f == MAP_FAILED)
        return 1;
    printf("  contents %s, neighbour %c, source mapped %d\n", f, target[PG], mapped(s, PG));
    show("MREMAP_FIXED without MAYMOVE", mremap(f, 2 * PG, 2 * PG, MREMAP_FIXED, target), 0);
    show("MREMAP_FIXED onto itself", mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
                                             f + PG), 0);

    /* MREMAP_DONTUNMAP: the old range stays, empty. */
    char *d = anon(2 * PG);
    strcpy(d, "moved");
    char *dn = mremap(d, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    show("MREMAP_DONTUNMAP", dn, d);
    if (dn == MAP_FAILED)
        dn = d;
    else
        printf("  new %s, old mapped %d, old zero %d\n", dn, mapped(d, 2 * PG), d[0] == 0);
    show("MREMAP_DONTUNMAP of another size", mremap(dn, 2 * PG, 4 * PG,
                                                    MREMAP_MAYMOVE | MREMAP_DONTUNMAP), 0);
    show("MREMAP_DONTUNMAP without MAYMOVE", mremap(dn, 2 * PG, 2 * PG, MREMAP_DONTUNMAP), 0);
    char *dt = anon(4 * PG);
    char *df = mremap(dn, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED,
                      dt + PG);
    show("MREMAP_DONTUNMAP with MREMAP_FIXED", df, dt + PG);
    if (df != MAP_FAILED)
        printf("  new %s\n", df);

    /* Shared mappings: old_len 0 makes a second view of the same pages. */
    char *sh = mmap(0, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    strcpy(sh, "shared");
    char *dup = mremap(sh, 0, 2 * PG, MREMAP_MAYMOVE);
    show("old_len 0 of a shared mapping", dup, sh);
    if (dup != MAP_FAILED) {
        strcpy(dup, "both");
        printf("  seen through the first %s\n", sh);
    }
    show("old_len 0 of a private mapping", mremap(d, 0, PG, MREMAP_MAYMOVE), 0);

    /* A file mapping keeps its file across a move. */
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "from the file", 14);
    ftruncate(fd, 4 * PG);
    char *fm = mmap(0, PG, PROT_READ, MAP_SHARED, fd, 0);
    char *fm2 = mremap(fm, PG, 3 * PG, MREMAP_MAYMOVE);
    show("file mapping grows", fm2, 0);
    if (fm2 != MAP_FAILED)
        printf("  contents %s\n", fm2);
    close(fd);

    /* Errors. */
    show("unaligned address", mremap(p + 1, PG, PG, 0), 0);
    show("new_len 0", mremap(target, PG, 0, MREMAP_MAYMOVE), 0);
    show("unknown flag", mremap(target, PG, PG, 8), 0);
    char *hole = anon(4 * PG);
    munmap(hole + 2 * PG, 2 * PG);
    show("nothing mapped", mremap(hole + 2 * PG, PG, 2 * PG, MREMAP_MAYMOVE), 0);
    show("past the mapping", mremap(hole, 4 * PG, 4 * PG, 0), 0);
    show("fixed target unaligned", mremap(target, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED,
                                          target + 5 * PG + 1), 0);

    /* A child's moves are its own. */
    char *c = anon(PG);
    strcpy(c, "parent");
    pid_t pid = fork();
    if (pid == 0) {
        char *cm = mremap(c, PG, 4 * PG, MREMAP_MAYMOVE);
        strcpy(cm, "child");
        _exit(cm == MAP_FAILED);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("after a child's move: %s, child status %d\n", c, WEXITSTATUS(st));
    return 0;
}
