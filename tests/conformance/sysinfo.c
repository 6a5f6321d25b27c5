/*
 * The machine as /proc and /sys show it (what free, vmstat, df, lscpu and
 * psutil read): swap areas, partitions and disk counters, /sys/block's
 * links and the disks' directories behind them, the power supplies, the
 * CPUs' sysfs tree, and a process's smaps and smaps_rollup, compared with a
 * native run.  Counters that change between two runs are printed as facts
 * about them (the field count of a diskstats line, the rollup being the sum
 * of smaps).
 *
 *   sysinfo DIR       DIR a scratch directory (unused: the harness's rule)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[1 << 20], maps[1 << 18];

/* The whole of path, NUL-terminated; its length or -1. */
static long slurp(const char *path, char *to, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    long r;
    while (n < cap - 1 && (r = read(fd, to + n, cap - 1 - n)) > 0)
        n += r;
    to[n] = 0;
    close(fd);
    return n;
}

static void disks(void)
{
    /* No swap area here or anywhere it is compared: the header, the count. */
    long n = slurp("/proc/swaps", buf, sizeof buf);
    int lines = 0;
    for (long i = 0; i < n; i++)
        lines += buf[i] == '\n';
    printf("swaps: %.*s, %d lines\n", (int)strcspn(buf, "\n"), buf, lines);
    n = slurp("/proc/partitions", buf, sizeof buf);
    printf("partitions (%ld bytes):\n%s", n, buf);
    n = slurp("/proc/diskstats", buf, sizeof buf);
    printf("diskstats: %s\n", n < 0 ? "absent" : "present");
    for (char *l = strtok(buf, "\n"); l; l = strtok(0, "\n")) {
        char name[64];
        int major, minor, fields = 0;
        sscanf(l, "%d %d %63s", &major, &minor, name);
        for (char *t = l; *t;) {
            t += strspn(t, " ");
            if (*t)
                fields++;
            t += strcspn(t, " ");
        }
        printf("  %d:%d %s, %d fields\n", major, minor, name, fields);
    }
}

static int by_name(const struct dirent **a, const struct dirent **b);

/* Whether name is in dir's listing. */
static int listed(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)))
        found = strcmp(e->d_name, name) == 0;
    if (d)
        closedir(d);
    return found;
}

/* A directory of links to device directories (/sys/block): each link's
 * target, and what is behind it (disk_io_counters walks it for stat). */
static void links(const char *dir, const char *file)
{
    struct dirent **names;
    int n = scandir(dir, &names, 0, by_name);
    printf("%s: %s\n", dir, n < 0 ? strerrorname_np(errno) : "present");
    /* Listed in its parent, as is each directory on the way to a disk's. */
    char parent[256];
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = 0;
    printf("  listed in %s: %d\n", parent, listed(parent, strrchr(dir, '/') + 1));
    for (int i = 0; i < n; i++) {
        char path[512], to[512], text[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        long l = readlink(path, to, sizeof to - 1);
        to[l > 0 ? l : 0] = 0;
        struct stat st;
        int dirok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        snprintf(path, sizeof path, "%s/%s/%s", dir, names[i]->d_name, file);
        long t = slurp(path, text, sizeof text);
        int way = 1;                 /* each directory on the way to the device's */
        char at[1100];
        snprintf(at, sizeof at, "%s/%s", dir, to);
        for (char *e = strchr(at + strlen(dir) + 1, '/'); e && way; e = strchr(e + 1, '/')) {
            *e = 0;
            char *name = strrchr(at, '/') + 1;
            char up[1100];
            snprintf(up, sizeof up, "%.*s", (int)(name - 1 - at), at);
            if (strcmp(name, "..") != 0)
                way = listed(up, name);
            *e = '/';
        }
        if (names[i]->d_name[0] != '.')
            printf("  %s -> %s, a directory %d, listed on the way %d, %s: %s\n",
                   names[i]->d_name, to, dirok, way, file,
                   t < 0 ? "absent" : strchr(text, '\n') ? "one line" : "read");
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void cpus(void)
{
    static const char *const files[] = {"online", "possible", "present", "kernel_max",
                                        "cpu0/topology/core_id",
                                        "cpu0/topology/thread_siblings_list",
                                        "cpu0/topology/core_cpus_list"};
    char path[256];
    for (int i = 0; i < (int)(sizeof files / sizeof *files); i++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/%s", files[i]);
        long n = slurp(path, buf, sizeof buf);
        struct stat st;
        int r = stat(path, &st);
        printf("cpu/%s: %s", files[i], n < 0 ? "absent\n" : buf);
        if (r == 0)
            printf("  regular %d, mode %o\n", S_ISREG(st.st_mode), st.st_mode & 0777);
    }
    struct dirent **names;
    int n = scandir("/sys/devices/system/cpu", &names, 0, by_name);
    printf("cpu/:");
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]->d_name);
        free(names[i]);
    }
    printf("\n");
    if (n >= 0)
        free(names);
    /* Part of /sys's mount, as on Linux: no mount line of its own. */
    slurp("/proc/self/mounts", buf, sizeof buf);
    int own = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(0, "\n")) {
        char dir[256];
        if (sscanf(l, "%*s %255s", dir) == 1 && strncmp(dir, "/sys/devices", 12) == 0)
            own = 1;
    }
    printf("a mount below /sys/devices: %d\n", own);
}

/* The value of field key ("Rss:") in the entry at s, or -1. */
static long value(const char *s, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = s; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, key, kl) == 0)
            return strtol(p + kl, 0, 10);
        if (!strchr(p, '\n'))
            break;
    }
    return -1;
}

static int header(const char *l)
{
    return (*l >= '0' && *l <= '9') || (*l >= 'a' && *l <= 'f');
}

static void smaps(void)
{
    long nm = slurp("/proc/self/maps", maps, sizeof maps);
    long n = slurp("/proc/self/smaps", buf, sizeof buf);
    /* Every smaps entry is a maps line, in order, with the same fields. */
    int same = nm > 0 && n > 0, entries = 0, fields_same = 1;
    long rss = 0, first_fields = 0;
    unsigned long lo = 0, hi = 0;
    const char *m = maps;
    char exe[4096], first[1024] = "";
    long el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[el > 0 ? el : 0] = 0;
    int has_exe = 0;
    for (const char *l = buf; *l; ) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l + 1) : strlen(l);
        if (header(l)) {
            same &= strncmp(l, m, len) == 0;
            m += strcspn(m, "\n") + 1;
            has_exe |= len > strlen(exe) && strncmp(l + len - 1 - strlen(exe), exe, strlen(exe)) == 0;
            unsigned long a, b;
            sscanf(l, "%lx-%lx", &a, &b);
            if (!entries)
                lo = a;
            if (!memmem(l, len, "[vsyscall]", 10))     /* no mapping of the process's */
                hi = b;
            entries++;
            long k = 0;
            for (const char *f = l + len; *f && !header(f); f = strchr(f, '\n') + 1, k++)
                if (entries == 1)
                    strncat(first, f, strcspn(f, ":") + 1);
            if (entries == 1)
                first_fields = k;
            fields_same &= k == first_fields;
            long r = value(l + len, "Rss:");
            rss += r > 0 ? r : 0;
        }
        l += len;
    }
    printf("smaps: the maps lines %d, the program's file %d, %s fields in each %d: %s\n",
           same && *m == 0, has_exe, entries > 1 ? "several entries," : "one entry,",
           fields_same, first);
    n = slurp("/proc/self/smaps_rollup", buf, sizeof buf);
    /* smaps again, into the buffer it filled: the rollup was taken between
     * the two reads (the process's memory changes a little meanwhile). */
    static char again[1 << 20];
    memcpy(again, buf, n + 1);
    long rss2 = 0;
    slurp("/proc/self/smaps", buf, sizeof buf);
    for (const char *l = buf; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
        if (strncmp(l, "Rss:", 4) == 0)
            rss2 += strtol(l + 4, 0, 10);
    memcpy(buf, again, n + 1);
    long lo_rss = rss < rss2 ? rss : rss2, hi_rss = rss < rss2 ? rss2 : rss;
    unsigned long a = 0, b = 0;
    sscanf(buf, "%lx-%lx", &a, &b);
    const char *name = strchr(buf, '[');
    long rr = value(strchr(buf, '\n') + 1, "Rss:");
    long pss = value(buf, "Pss:"), parts = value(buf, "Pss_Anon:") + value(buf, "Pss_File:") +
                                             value(buf, "Pss_Shmem:");
    printf("smaps_rollup: name at column %ld, span the mappings' %d, Rss the sum of smaps' %d "
           "(within 5 %% of it before or after), "
           "Pss its parts' %d\n", name ? (long)(name - buf) : -1L, a == lo && b == hi,
           rr * 20 >= lo_rss * 19 && rr * 20 <= hi_rss * 21, labs(pss - parts) <= 8);
    printf("smaps_rollup fields:");
    for (const char *l = strchr(buf, '\n') + 1; *l; l = strchr(l, '\n') + 1)
        printf(" %.*s", (int)strcspn(l, ":"), l);
    printf("\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: sysinfo DIR\n");
        return 2;
    }
    disks();
    links("/sys/block", "size");
    links("/sys/class/power_supply", "type");
    cpus();
    smaps();
    return 0;
}
