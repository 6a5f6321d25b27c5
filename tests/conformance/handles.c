/*
 * File handles and remapped pages, as a container's root has them:
 * name_to_handle_at (the size probe, the handle, a mount id that
 * /proc/self/mountinfo lists at a mount point above the file, its flag and
 * pointer checks), open_by_handle_at (EBADF, then EPERM without
 * CAP_DAC_READ_SEARCH over the host), remap_file_pages on a shared mapping
 * (Linux's emulation) and its checks; compared with a native run in a user
 * namespace of its own (test_conformance.NATIVE_PREFIX).
 *
 *   handles DIR            DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* Whether mountinfo lists id at a mount point that is a prefix of path. */
static int listed_above(int id, const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], dir[4096];
    int found = 0, mid;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%d %*d %*s %*s %4095s", &mid, dir) == 2 && mid == id) {
            size_t n = strlen(dir);
            found = strcmp(dir, "/") == 0 ||
                    (strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0));
        }
    if (f)
        fclose(f);
    return found;
}

static void handles(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/file", dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    char abs[4096];
    realpath(path, abs);

    struct file_handle *fh = malloc(sizeof *fh + MAX_HANDLE_SZ);
    int id = -1;
    fh->handle_bytes = 0;
    long r = name_to_handle_at(AT_FDCWD, path, fh, &id, 0);
    printf("size probe: %s, bytes given %d, mount id given %d\n", err(r), fh->handle_bytes > 0,
           id != -1);
    id = -1;
    r = name_to_handle_at(AT_FDCWD, path, fh, &id, 0);
    printf("handle: %s, mount id listed above the file: %d\n", err(r), listed_above(id, abs));
    int fd = open(path, O_RDONLY);
    r = name_to_handle_at(fd, "", fh, &id, AT_EMPTY_PATH);
    printf("by fd (AT_EMPTY_PATH): %s, listed %d\n", err(r), listed_above(id, abs));
    r = name_to_handle_at(fd, "", fh, &id, 0);
    printf("empty path without AT_EMPTY_PATH: %s\n", err(r));
    r = name_to_handle_at(AT_FDCWD, path, fh, &id, 0x4);
    printf("unknown flag: %s\n", err(r));
    r = name_to_handle_at(AT_FDCWD, "/nonexistent/x", fh, &id, 0);
    printf("missing file: %s\n", err(r));
    r = name_to_handle_at(AT_FDCWD, path, (void *)8, &id, 0);
    printf("bad handle pointer: %s\n", err(r));

    int mfd = open(dir, O_RDONLY | O_DIRECTORY);
    r = open_by_handle_at(mfd, fh, O_RDONLY);
    printf("open_by_handle_at: %s\n", err(r));
    r = open_by_handle_at(9999, fh, O_RDONLY);
    printf("open_by_handle_at, bad mount fd: %s\n", err(r));
    close(mfd);
    close(fd);
    free(fh);
}

static void remap(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(0, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 4; i++)
        m[i * pg] = 'a' + i;
    long r = remap_file_pages(m, pg, 0, 2, 0);
    printf("remap page 0 to 2: %s, reads %c %c %c %c\n", err(r), m[0], m[pg], m[2 * pg], m[3 * pg]);
    r = remap_file_pages(m + pg, pg, PROT_READ, 3, 0);
    printf("with prot: %s\n", err(r));
    char *p = mmap(0, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r = remap_file_pages(p, pg, 0, 1, 0);
    printf("private mapping: %s\n", err(r));
    r = remap_file_pages(m + 3 * pg, 2 * pg, 0, 0, 0);
    printf("past the mapping's end: %s\n", err(r));
    munmap(m, 4 * pg);
    munmap(p, 2 * pg);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IONBF, 0);
    handles(argc > 1 ? argv[1] : ".");
    remap();
    return 0;
}
