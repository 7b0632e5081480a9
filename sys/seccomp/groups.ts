// Named syscall groups, in the spirit of systemd's SystemCallFilter= sets (names and intent
// follow systemd.exec(5); the member lists are jailx's own, checked against the tables).
// A member that an ABI lacks (mmap2 on x86_64) is skipped for that ABI. "@x" inside a list
// includes another group.

export interface SyscallGroup {
  readonly description: string;
  readonly members: readonly string[];
}

export const GROUPS: Readonly<Record<string, SyscallGroup>> = {
  "@aio": { description: "asynchronous I/O, including io_uring", members: ["io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_uring_setup", "io_uring_enter", "io_uring_register"] },
  "@io-uring": { description: "io_uring (a large kernel attack surface, bypasses seccomp for its operations)", members: ["io_uring_setup", "io_uring_enter", "io_uring_register"] },
  "@basic-io": { description: "read, write, seek, close", members: ["read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "close", "close_range", "dup", "dup2", "dup3", "lseek", "_llseek"] },
  "@chown": { description: "change file ownership", members: ["chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"] },
  "@clock": { description: "set the system clock", members: ["adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday", "stime"] },
  "@cpu-emulation": { description: "CPU emulation (vm86, LDT)", members: ["modify_ldt", "vm86", "vm86old"] },
  "@debug": { description: "debugging and tracing other processes, performance counters", members: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise", "perf_event_open", "lookup_dcookie"] },
  "@default": { description: "what every program needs (always allowed by allow-list policies)", members: ["arch_prctl", "brk", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "execve", "execveat", "exit", "exit_group", "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake", "futex_requeue", "get_robust_list", "get_thread_area", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getsid", "gettid", "gettimeofday", "getuid", "getuid32", "membarrier", "mmap", "mmap2", "mprotect", "munmap", "nanosleep", "pause", "prlimit64", "restart_syscall", "rseq", "rt_sigreturn", "sched_getaffinity", "sched_yield", "set_robust_list", "set_thread_area", "set_tid_address", "sigreturn", "time", "ugetrlimit", "uretprobe", "uprobe"] },
  "@file-system": { description: "files and directories", members: ["access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fcntl64", "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "lgetxattr", "link", "linkat", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "oldfstat", "oldlstat", "oldstat", "open", "openat", "openat2", "readlink", "readlinkat", "removexattr", "removexattrat", "rename", "renameat", "renameat2", "rmdir", "setxattr", "setxattrat", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "truncate", "truncate64", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "cachestat", "file_getattr", "file_setattr", "fanotify_mark"] },
  "@io-event": { description: "waiting for events on file descriptors", members: ["_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select"] },
  "@ipc": { description: "SysV and POSIX IPC, pipes, memfd", members: ["ipc", "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget"] },
  "@keyring": { description: "the kernel keyring", members: ["add_key", "keyctl", "request_key"] },
  "@memlock": { description: "locking memory", members: ["mlock", "mlock2", "mlockall", "munlock", "munlockall"] },
  "@module": { description: "loading kernel modules", members: ["delete_module", "finit_module", "init_module", "create_module", "get_kernel_syms", "query_module"] },
  "@mount": { description: "mounting filesystems, changing the root", members: ["chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "pivot_root", "umount", "umount2"] },
  "@namespaces": { description: "creating and joining namespaces (clone's namespace flags are guarded by the default policy)", members: ["unshare", "setns", "clone3"] },
  "@network-io": { description: "sockets", members: ["accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socket", "socketcall", "socketpair"] },
  "@obsolete": { description: "unused or unimplemented syscalls", members: ["_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime", "get_kernel_syms", "getpmsg", "gtty", "idle", "lock", "mpx", "prof", "profil", "putpmsg", "query_module", "security", "sgetmask", "ssetmask", "stty", "sysfs", "tuxcall", "ulimit", "uselib", "ustat", "vserver", "nfsservctl"] },
  "@pkey": { description: "memory protection keys", members: ["pkey_alloc", "pkey_free", "pkey_mprotect"] },
  "@privileged": { description: "operations that need capabilities", members: ["@chown", "@clock", "@module", "@raw-io", "@reboot", "@swap", "_sysctl", "acct", "bpf", "capset", "chroot", "fanotify_init", "fanotify_mark", "nfsservctl", "open_by_handle_at", "pivot_root", "quotactl", "quotactl_fd", "setdomainname", "setfsuid", "setfsuid32", "setgroups", "setgroups32", "sethostname", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32", "vhangup"] },
  "@process": { description: "creating, signalling and waiting for processes", members: ["capget", "clone", "clone3", "execveat", "fork", "getrusage", "kill", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setns", "swapcontext", "tgkill", "times", "tkill", "unshare", "vfork", "wait4", "waitid", "waitpid"] },
  "@raw-io": { description: "raw I/O port and PCI access", members: ["ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"] },
  "@reboot": { description: "rebooting, loading a new kernel", members: ["kexec_file_load", "kexec_load", "reboot"] },
  "@resources": { description: "scheduling, NUMA and resource limits", members: ["ioprio_set", "mbind", "migrate_pages", "move_pages", "nice", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "set_mempolicy", "set_mempolicy_home_node", "setpriority", "setrlimit"] },
  "@sandbox": { description: "sandboxing primitives (Landlock, seccomp)", members: ["landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp"] },
  "@setuid": { description: "changing user and group ids", members: ["setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32"] },
  "@signal": { description: "signal handling", members: ["rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending", "sigprocmask", "sigsuspend"] },
  "@swap": { description: "swap devices", members: ["swapoff", "swapon"] },
  "@sync": { description: "flushing to disk", members: ["fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2", "syncfs"] },
  "@system-service": { description: "what ordinary services need (a base for allow-lists)", members: ["@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc", "@keyring", "@memlock", "@network-io", "@process", "@resources", "@sandbox", "@setuid", "@signal", "@sync", "@timer", "arm_fadvise64_64", "capget", "capset", "copy_file_range", "fadvise64", "fadvise64_64", "flock", "get_mempolicy", "getcpu", "getpriority", "ioctl", "ioprio_get", "kcmp", "madvise", "mincore", "mremap", "name_to_handle_at", "oldolduname", "olduname", "personality", "readahead", "readdir", "remap_file_pages", "sched_get_priority_max", "sched_get_priority_min", "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sendfile", "sendfile64", "set_mempolicy", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setpgid", "setsid", "splice", "sysinfo", "tee", "umask", "uname", "userfaultfd", "vmsplice", "mseal", "lsm_get_self_attr", "lsm_list_modules", "statmount", "listmount", "memfd_secret", "process_mrelease"] },
  "@timer": { description: "timers and alarms", members: ["alarm", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times"] },
};

/** Pseudo-groups that open a foreign ABI instead of naming syscalls (x86_64 only). */
export const ABI_GROUPS: Readonly<Record<string, "i386" | "x32">> = {
  "@abi-i386": "i386",
  "@abi-x32": "x32",
};

/** The syscall names of a group, nested groups expanded. */
export function expandGroup(name: string, seen = new Set<string>()): string[] {
  const g = GROUPS[name];
  if (!g) return [];
  seen.add(name);
  const out: string[] = [];
  for (const m of g.members) {
    if (m.startsWith("@")) {
      if (!seen.has(m)) out.push(...expandGroup(m, seen));
    } else out.push(m);
  }
  return [...new Set(out)];
}
