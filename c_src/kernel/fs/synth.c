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
    {"/proc/sys/kernel/random", ST_DIR, 0, 0},
    {"/proc/sys/kernel/random/boot_id", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/random/uuid", ST_FILE, SG_HOSTCOPY, 0},    /* the host's: fresh per read */
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
    /* Written to the host's file of the same task (host_rw): Linux's own
     * rules apply, as in an unprivileged container — comm names only the
     * writer's own threads (EINVAL for another process's), oom_score_adj
     * goes down only with CAP_SYS_RESOURCE in the host's namespace. */
    {"/comm", ST_FILE, SG_COMM, 0, 1},
    {"/oom_score_adj", ST_FILE, SG_SELFCOPY, 0, 1},
    {"/mounts", ST_FILE, SG_MOUNTS, 0},
    {"/mountinfo", ST_FILE, SG_MOUNTINFO, 0},
    {"/limits", ST_FILE, SG_LIMITS, 0},     /* the host process's, open files as the guest's */
    {"/io", ST_FILE, SG_SELFCOPY, 0},       /* the host's counts (the kernel's calls too) */
    {"/statm", ST_FILE, SG_SELFCOPY, 0},    /* the host's (the kernel's memory too) */
    {"/cgroup", ST_FILE, SG_TEXT, "0::/\n"},  /* the root of /sys/fs/cgroup */
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

int synth_type(const struct fs_obj *o)
{
    return synth_entry(o->ent)->type;
}

const char *synth_host_path(int id)
{
    return synth_entry(id)->path;
}
