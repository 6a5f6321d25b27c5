/*
 * The synthetic trees /proc, /sys and /dev: a fixed table of nodes, looked
 * up by name in synth_lookup.c and served in synth_node.c (links, stat,
 * open, access).  Files are generated at open into a sealed memfd
 * (synth_gen.c), so read, lseek, fstat and mmap work on them as on any host
 * fd; directories are placeholder fds listed by synth_dir_next (synth_dir.c);
 * /dev nodes are the host's device nodes.
 */
#include "synth.h"

/* Absolute paths; every directory's children follow it in no particular order. */
const struct synth_ent synth_gtab[] = {
    {"/proc", ST_DIR, 0, 0},
    {"/proc/self", ST_LINK, SL_SELF, 0},
    {"/proc/thread-self", ST_LINK, SL_THREAD, 0},
    {"/proc/meminfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/cpuinfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/stat", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/uptime", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/loadavg", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/vmstat", ST_FILE, SG_HOSTCOPY, 0},       /* procps vmstat -s */
    /* The machine's swap areas and disks (free, psutil's swap_memory and
     * disk_io_counters): the host's, as a container's proc shows them. */
    {"/proc/swaps", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/diskstats", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/partitions", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/version", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/filesystems", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/devices", ST_FILE, SG_HOSTCOPY, 0},
    /* The controllers as a cgroup v2 host lists them (hierarchy 0: the
     * unified one), matching the guest's /sys/fs/cgroup and /proc/self/cgroup
     * (0::/), whatever the host's layout: how a JVM tells v2 from v1 before
     * it reads memory.max and cpu.max. */
    {"/proc/cgroups", ST_FILE, SG_TEXT, "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
                                        "cpuset\t0\t1\t1\ncpu\t0\t1\t1\ncpuacct\t0\t1\t1\n"
                                        "memory\t0\t1\t1\npids\t0\t1\t1\n"},
    /* The guest's own IPC namespace's objects (lsipc, ipcs -l's limits
     * below in /proc/sys/kernel), as the kernel's host process reads them. */
    {"/proc/sysvipc", ST_DIR, 0, 0},
    {"/proc/sysvipc/shm", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sysvipc/msg", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sysvipc/sem", ST_FILE, SG_HOSTCOPY, 0},
    /* The machine's pressure, interrupts and memory zones, as a container
     * sees them (psutil, monitors, systemd-oomd). */
    {"/proc/pressure", ST_DIR, 0, 0},
    {"/proc/pressure/cpu", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/pressure/memory", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/pressure/io", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/interrupts", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/softirqs", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/zoneinfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/buddyinfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/mounts", ST_LINK, SL_FIXED, "self/mounts"},
    {"/proc/net", ST_LINK, SL_FIXED, "self/net"},
    {"/proc/sys", ST_DIR, 0, 0},
    {"/proc/sys/kernel", ST_DIR, 0, 0},
    {"/proc/sys/kernel/hostname", ST_FILE, SG_HOSTCOPY, 0},   /* the guest's UTS namespace's */
    {"/proc/sys/kernel/domainname", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/ostype", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/osrelease", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/pid_max", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/ngroups_max", ST_FILE, SG_HOSTCOPY, 0},
    /* The ids an unmapped one shows as (fuse-overlayfs, user-namespace
     * tools) and the last capability (libcap-ng): the host kernel's. */
    {"/proc/sys/kernel/overflowuid", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/overflowgid", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/cap_last_cap", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/threads-max", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/ns_last_pid", ST_FILE, SG_HOSTCOPY, 0},    /* its pid namespace's */
    {"/proc/sys/kernel/tainted", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/version", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/randomize_va_space", ST_FILE, SG_HOSTCOPY, 0},
    /* What perf checks before it opens events. */
    {"/proc/sys/kernel/perf_event_paranoid", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/kptr_restrict", ST_FILE, SG_HOSTCOPY, 0},
    /* The System V IPC limits of the guest's IPC namespace (ipcs -l, lsipc,
     * PostgreSQL's shared memory). */
    {"/proc/sys/kernel/shmmax", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/shmall", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/shmmni", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/msgmax", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/msgmnb", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/msgmni", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/sem", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/random", ST_DIR, 0, 0},
    {"/proc/sys/kernel/random/boot_id", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/random/uuid", ST_FILE, SG_HOSTCOPY, 0},    /* the host's: fresh per read */
    {"/proc/sys/fs", ST_DIR, 0, 0},
    {"/proc/sys/fs/overflowuid", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/overflowgid", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/file-max", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/file-nr", ST_FILE, SG_HOSTCOPY, 0},
    /* The ceiling RLIMIT_NOFILE may be raised to (systemd, container
     * runtimes, prlimit), and a pipe's (F_SETPIPE_SZ). */
    {"/proc/sys/fs/nr_open", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/pipe-max-size", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/aio-max-nr", ST_FILE, SG_HOSTCOPY, 0},
    /* What file watchers (node, editors, tail -f) size themselves by. */
    {"/proc/sys/fs/inotify", ST_DIR, 0, 0},
    {"/proc/sys/fs/inotify/max_user_watches", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/inotify/max_user_instances", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/fs/inotify/max_queued_events", ST_FILE, SG_HOSTCOPY, 0},
    /* The user namespaces the guest's may hold (buildah, podman and
     * unshare check it before they make one). */
    {"/proc/sys/user", ST_DIR, 0, 0},
    {"/proc/sys/user/max_user_namespaces", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/net", ST_DIR, 0, 0},
    {"/proc/sys/net/core", ST_DIR, 0, 0},
    {"/proc/sys/net/core/somaxconn", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/net/ipv4", ST_DIR, 0, 0},
    /* The ports bind(0) and connect pick from: named's and a resolver's
     * source ports. */
    {"/proc/sys/net/ipv4/ip_local_port_range", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm", ST_DIR, 0, 0},
    {"/proc/sys/vm/overcommit_memory", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/mmap_min_addr", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/max_map_count", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/swappiness", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/overcommit_ratio", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys", ST_DIR, 0, 0},
    {"/sys/class", ST_DIR, 0, 0},
    {"/sys/class/net", ST_DIR, 0, 0},   /* its interfaces: synth_ntab (synth_net.c) */
    {"/sys/devices", ST_DIR, 0, 0},
    {"/sys/devices/system", ST_DIR, 0, 0},
    {"/sys/devices/system/cpu", ST_DIR, 0, 0},     /* the host's (LS_HOST_TREES, volume.c) */
    /* The guest's limits as a container's cgroup v2 root shows them. */
    {"/sys/fs", ST_DIR, 0, 0},
    {"/sys/fs/cgroup", ST_DIR, 0, 0},
    {"/sys/fs/cgroup/cgroup.controllers", ST_FILE, SG_TEXT, "cpu memory pids\n"},
    {"/sys/fs/cgroup/cpu.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/fs/cgroup/memory.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/fs/cgroup/pids.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/kernel", ST_DIR, 0, 0},
    {"/sys/kernel/mm", ST_DIR, 0, 0},
    {"/sys/kernel/mm/transparent_hugepage", ST_DIR, 0, 0},
    {"/sys/kernel/mm/transparent_hugepage/enabled", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/defrag", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/shmem_enabled", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/use_zero_page", ST_FILE, SG_HOSTCOPY, 0},
    {"/dev", ST_DIR, 0, 0},
    {"/dev/null", ST_CHR, 0, 0},
    {"/dev/zero", ST_CHR, 0, 0},
    {"/dev/full", ST_CHR, 0, 0},
    {"/dev/random", ST_CHR, 0, 0},
    {"/dev/urandom", ST_CHR, 0, 0},
    {"/dev/tty", ST_CHR, 0, 0},         /* only while there is one (synth_have_tty) */
    {"/dev/ptmx", ST_CHR, 0, 0},        /* a link to the guest's own devpts's (volume.c) */
    {"/dev/pts", ST_DIR, 0, 0},         /* listed here, served as a mount (volume.c) */
    {"/dev/stdin", ST_LINK, SL_FIXED, "/proc/self/fd/0"},
    {"/dev/stdout", ST_LINK, SL_FIXED, "/proc/self/fd/1"},
    {"/dev/stderr", ST_LINK, SL_FIXED, "/proc/self/fd/2"},
    {"/dev/fd", ST_LINK, SL_FIXED, "/proc/self/fd"},
};
const int synth_ng = LS_ARRAY_SIZE(synth_gtab);
_Static_assert(2 * LS_ARRAY_SIZE(synth_gtab) <= SYNTH_GSLOTS, "synth_gtab outgrew its index");

/* Below /proc/<pid>, each directory before its entries; entry 0 is the
 * directory itself, the last three are
 * "/fdinfo", "/task" and "/fd" (synth_dir.c lists them by their place). */
const struct synth_ent synth_ptab[] = {
    {"", ST_DIR, 0, 0},
    {"/stat", ST_FILE, SG_STAT, 0},
    {"/status", ST_FILE, SG_STATUS, 0},
    {"/maps", ST_FILE, SG_MAPS, 0},
    {"/smaps", ST_FILE, SG_SMAPS, 0},       /* the host's, as maps (synth_smaps.c) */
    {"/smaps_rollup", ST_FILE, SG_SMAPS_ROLLUP, 0},
    {"/cmdline", ST_FILE, SG_CMDLINE, 0},
    {"/environ", ST_FILE, SG_ENVIRON, 0},
    {"/auxv", ST_FILE, SG_AUXV, 0},         /* the guest program's (ls_saved_auxv) */
    /* Its memory and page table, without the kernel's (synth_mem.c). */
    {"/mem", ST_FILE, SG_MEM, 0},
    {"/pagemap", ST_FILE, SG_PAGEMAP, 0},
    /* Written to the host's file of the same task (host_rw): Linux's own
     * rules apply, as in an unprivileged container — comm names only the
     * writer's own threads (EINVAL for another process's), oom_score_adj
     * goes down only with CAP_SYS_RESOURCE in the host's namespace. */
    {"/comm", ST_FILE, SG_COMM, 0, 1},
    {"/oom_score_adj", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/oom_adj", ST_FILE, SG_SELFCOPY, 0, 1},           /* its old form (sshd's fallback) */
    /* What the host keeps of the same task and lets it change: its timer
     * slack, what a core dump holds (gdb's gcore, systemd), its autogroup's
     * nice value (top). */
    {"/timerslack_ns", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/coredump_filter", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/autogroup", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/mounts", ST_FILE, SG_MOUNTS, 0},
    {"/mountinfo", ST_FILE, SG_MOUNTINFO, 0},
    {"/mountstats", ST_FILE, SG_MOUNTSTATS, 0},
    {"/limits", ST_FILE, SG_LIMITS, 0},     /* the host process's, open files as the guest's */
    {"/io", ST_FILE, SG_SELFCOPY, 0},       /* the host's counts (the kernel's calls too) */
    {"/statm", ST_FILE, SG_SELFCOPY, 0},    /* the host's (the kernel's memory too) */
    {"/cgroup", ST_FILE, SG_TEXT, "0::/\n"},  /* the root of /sys/fs/cgroup */
    /* The host's of the same task, read in the guest's namespaces: the id
     * maps as its user namespace maps them (a container's, which buildah
     * and podman read: setgroups "deny" for a caller that is not root),
     * its audit ids, its score and scheduling as the host has them.  The
     * id maps and setgroups open to write as Linux's do (host_rw): the
     * tender wrote both maps before the guest ran, so the host refuses every
     * write (EPERM: a map is written once, setgroups is fixed once gid_map
     * is).  projid_map, which no one wrote, stays read-only. */
    {"/uid_map", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/gid_map", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/projid_map", ST_FILE, SG_SELFCOPY, 0},
    {"/setgroups", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/loginuid", ST_FILE, SG_SELFCOPY, 0},
    {"/sessionid", ST_FILE, SG_SELFCOPY, 0},
    {"/oom_score", ST_FILE, SG_SELFCOPY, 0},
    {"/personality", ST_FILE, SG_SELFCOPY, 0},   /* personality(2) is the host's */
    {"/timens_offsets", ST_FILE, SG_SELFCOPY, 0},
    {"/cpuset", ST_FILE, SG_SELFCOPY, 0},        /* its cgroup namespace's: "/" */
    {"/wchan", ST_FILE, SG_SELFCOPY, 0},
    {"/schedstat", ST_FILE, SG_SELFCOPY, 0},
    /* Its kernel stack (EACCES at the read, as Linux's for a reader without
     * CAP_SYS_ADMIN in the host's namespace), its POSIX timers (the host's
     * calls: all the program's), its AVX-512 use. */
    {"/stack", ST_FILE, SG_SELFCOPY, 0},
    {"/timers", ST_FILE, SG_SELFCOPY, 0},
    {"/arch_status", ST_FILE, SG_SELFCOPY, 0},
    /* The guest's namespaces, the host's own (lsns, ps -o userns,
     * nsenter's targets): their links name and lead to them as natively. */
    {"/ns", ST_DIR, 0, 0},
    {"/ns/cgroup", ST_LINK, SL_NS, 0},
    {"/ns/ipc", ST_LINK, SL_NS, 0},
    {"/ns/mnt", ST_LINK, SL_NS, 0},
    {"/ns/net", ST_LINK, SL_NS, 0},
    {"/ns/pid", ST_LINK, SL_NS, 0},
    {"/ns/pid_for_children", ST_LINK, SL_NS, 0},
    {"/ns/time", ST_LINK, SL_NS, 0},
    {"/ns/time_for_children", ST_LINK, SL_NS, 0},
    {"/ns/user", ST_LINK, SL_NS, 0},
    {"/ns/uts", ST_LINK, SL_NS, 0},
    {"/exe", ST_LINK, SL_EXE, 0},
    {"/cwd", ST_LINK, SL_CWD, 0},
    {"/root", ST_LINK, SL_ROOT, 0},
    /* The network namespace's (synth_net.c): what ifconfig, netstat, ss and
     * psutil read. */
    {"/net", ST_DIR, 0, 0},
    {"/net/dev", ST_FILE, SG_NET, 0},
    {"/net/if_inet6", ST_FILE, SG_NET, 0},
    {"/net/route", ST_FILE, SG_NET, 0},
    {"/net/ipv6_route", ST_FILE, SG_NET, 0},
    {"/net/snmp", ST_FILE, SG_NET, 0},
    {"/net/snmp6", ST_FILE, SG_NET, 0},
    {"/net/netstat", ST_FILE, SG_NET, 0},
    {"/net/sockstat", ST_FILE, SG_NET, 0},
    {"/net/sockstat6", ST_FILE, SG_NET, 0},
    {"/net/tcp", ST_FILE, SG_NET, 0},
    {"/net/tcp6", ST_FILE, SG_NET, 0},
    {"/net/udp", ST_FILE, SG_NET, 0},
    {"/net/udp6", ST_FILE, SG_NET, 0},
    {"/net/unix", ST_FILE, SG_NET, 0},
    {"/net/raw", ST_FILE, SG_NET, 0},
    {"/net/raw6", ST_FILE, SG_NET, 0},
    {"/net/udplite", ST_FILE, SG_NET, 0},
    {"/net/udplite6", ST_FILE, SG_NET, 0},
    {"/net/icmp", ST_FILE, SG_NET, 0},
    {"/net/icmp6", ST_FILE, SG_NET, 0},
    {"/net/arp", ST_FILE, SG_NET, 0},
    {"/net/igmp", ST_FILE, SG_NET, 0},
    {"/net/igmp6", ST_FILE, SG_NET, 0},
    {"/net/dev_mcast", ST_FILE, SG_NET, 0},
    {"/net/protocols", ST_FILE, SG_NET, 0},
    {"/fdinfo", ST_DIR, 0, 0},      /* the host's, per fd (position, flags, mnt_id) */
    {"/task", ST_DIR, 0, 0},        /* its threads: /proc/<pid>/task/<tid> has the same entries */
    {"/fd", ST_DIR, 0, 0},
};
const int synth_np = LS_ARRAY_SIZE(synth_ptab);
_Static_assert(2 * LS_ARRAY_SIZE(synth_ptab) <= SYNTH_PSLOTS, "synth_ptab outgrew its index");

static const struct synth_ent fdlink_ent = {"", ST_LINK, 0, 0};
static const struct synth_ent fdhost_ent = {"", ST_FDHOST, 0, 0};
static const struct synth_ent fdinfo_ent = {"", ST_FILE, SG_FDINFO, 0};

int synth_per_process(int id)
{
    return id >= SID_P && id < SID_N;
}

const struct synth_ent *synth_entry(int id)
{
    if (id >= 0 && id < synth_ng)
        return &synth_gtab[id];
    if (id >= SID_P && id < SID_P + synth_np)
        return &synth_ptab[id - SID_P];
    if (id == SID_FDINFO)
        return &fdinfo_ent;
    if (id >= SID_N && id < SID_N + synth_nn)
        return &synth_ntab[id - SID_N];
    return id == SID_FDLINK || id == SID_OFDLINK ? &fdlink_ent : &fdhost_ent;
}

unsigned long synth_tree_dev(int id)
{
    if (id >= SID_N)
        return FS_DEV_SYS;
    if (id < synth_ng && synth_under(synth_gtab[id].path, "/sys"))
        return FS_DEV_SYS;
    if (id < synth_ng && synth_under(synth_gtab[id].path, "/dev"))
        return FS_DEV_DEV;
    return FS_DEV_PROC;
}

int synth_seq(int id)
{
    const struct synth_ent *e = synth_entry(id);
    if (e->type != ST_FILE || e->gen == SG_CMDLINE || e->gen == SG_ENVIRON)
        return 0;       /* cmdline and environ are read from memory, with an lseek that can */
    return synth_per_process(id) ||
           (strncmp(e->path, "/proc/", 6) == 0 && strncmp(e->path, "/proc/sys/", 10) != 0);
}

int synth_ns_link(const struct fs_obj *o)
{
    return o->ent >= SID_P && o->ent < SID_P + synth_np && synth_ptab[o->ent - SID_P].gen == SL_NS &&
           synth_ptab[o->ent - SID_P].type == ST_LINK;
}

void synth_ns_follow(struct fs_obj *o)
{
    o->arg = synth_arg(o->arg, o->ent - SID_P);
    o->ent = SID_NSHOST;
}

int synth_type(const struct fs_obj *o)
{
    return synth_entry(o->ent)->type;
}

const char *synth_host_path(int id)
{
    return synth_entry(id)->path;
}
