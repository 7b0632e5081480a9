// jailx's default policy, as data. It is a deny-list (everything not named is allowed), at
// least as strict as Docker's default profile (docs/SECCOMP.md compares them), plus what
// Docker lets through. Facts about Docker's profile: /work/shared/notes/seccomp-reference.md.
import type { ArgRule } from "./policy-types.ts";

const EPERM = "errno:1";
const ENOSYS = "errno:38";


/** Refused whatever the jail holds: kernel-wide state, huge attack surface, or obsolete. */
export const ALWAYS_DENIED: readonly string[] = [
  "@obsolete", "@swap", "@reboot", "@module", "@raw-io", "@keyring", "@io-uring", "@cpu-emulation",
  "userfaultfd", "bpf", "perf_event_open", "lookup_dcookie", "pivot_root", "migrate_pages", "move_pages",
  "kexec_load", "kexec_file_load", "add_key", "request_key", "keyctl",
  // Namespace creation and joining (clone's flags are guarded below; clone3 gets ENOSYS).
  "unshare", "setns",
];

/** Allowed only when the jail keeps the capability (Docker's rule), else refused. */
export const CAPABILITY_GATED: Readonly<Record<string, readonly string[]>> = {
  sys_admin: ["mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "open_tree_attr", "move_mount", "mount_setattr", "sethostname", "setdomainname", "quotactl", "quotactl_fd", "fanotify_init"],
  sys_ptrace: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"],
  sys_chroot: ["chroot"],
  sys_time: ["@clock"],
  sys_pacct: ["acct"],
  sys_tty_config: ["vhangup"],
  sys_nice: ["mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node"],
  dac_read_search: ["open_by_handle_at"],
  syslog: ["syslog"],
};

/** Fixed actions other than EPERM. */
export const SPECIAL_ACTIONS: Readonly<Record<string, string>> = {
  // Its mode lives in a struct seccomp cannot read (see the setuid guards); libc's open and
  // openat never use it, and callers that do fall back to openat on ENOSYS.
  openat2: ENOSYS,
  // Its flags live in user memory where seccomp cannot look; ENOSYS makes libc fall back to
  // clone, whose flags the guard below checks.
  clone3: ENOSYS,
  // i386 multiplexer: the address family is behind a pointer; glibc falls back to socket().
  socketcall: ENOSYS,
};

const TIOCSTI = "0x5412";
const TIOCLINUX = "0x541c";
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (linux/sched.h). */
const CLONE_NAMESPACE_FLAGS = "0x7e020000";
const AF_ALG = "38";
const AF_VSOCK = "40";
const TIOCSETD = "0x5423";
/** S_ISUID|S_ISGID in a mode argument. */
const SUID_SGID = "0xc00";
/** O_CREAT | __O_TMPFILE in open flags (the same on x86_64 and aarch64): flags that create. */
const CREATING = "0x400040";

/**
 * No setuid or setgid files (as systemd's RestrictSUIDSGID=): a jail's root owns the files it
 * writes through --bind, and a setuid-root binary left there is host root for any host user
 * who runs it (the jail's own mounts are nosuid, the host's are not).
 */
const noSuidMode = (arg: number) => ({ arg, op: "masked-ne" as const, mask: SUID_SGID, value: "0", width: 32 as const });
const suidRule = (arg: number): ArgRule => ({ when: [noSuidMode(arg)], action: EPERM, why: "sets a setuid/setgid bit" });
// One rule, flags first: an open that creates nothing (most of them) is let through after
// three instructions.
const createRules = (flagsArg: number, modeArg: number): ArgRule[] => [
  { when: [{ arg: flagsArg, op: "masked-ne", mask: CREATING, value: "0", width: 32 }, noSuidMode(modeArg)], action: EPERM, why: "creates a setuid/setgid file" },
];

/**
 * SO_REUSEPORT lets a socket join the port of a listener that set it too and take about half
 * its connections; the kernel only asks that both belong to the same uid, and a root jail on
 * the host network is the host's root. SOL_SOCKET = 1, SO_REUSEPORT = 15 in asm-generic
 * (x86_64, its i386 ABI, aarch64; not mips/sparc/parisc/alpha, which jailx does not build for).
 * `--allow-reuseport` removes this rule (policy.ts finds it by identity).
 */
export const REUSEPORT_RULE: ArgRule = {
  when: [{ arg: 1, op: "eq", value: "1", width: 32 }, { arg: 2, op: "eq", value: "15", width: 32 }],
  action: EPERM,
  why: "SO_REUSEPORT would join a port a process outside the jail listens on (--allow-reuseport)",
};

/**
 * Argument guards: checked before a syscall's own action whenever that action lets it run.
 * The kernel uses only the low 32 bits of ioctl's request and socket's family, so only those
 * are compared (comparing all 64 lets high bits slip past, CVE-2019-10063).
 */
export const GUARDS: Readonly<Record<string, readonly ArgRule[]>> = {
  ioctl: [
    { when: [{ arg: 1, op: "eq", value: TIOCSTI, width: 32 }], action: EPERM, why: "TIOCSTI injects input into the caller's terminal" },
    { when: [{ arg: 1, op: "eq", value: TIOCLINUX, width: 32 }], action: EPERM, why: "TIOCLINUX can paste into the console" },
    { when: [{ arg: 1, op: "eq", value: TIOCSETD, width: 32 }], action: EPERM, why: "TIOCSETD switches the caller's terminal to another line discipline" },
  ],
  chmod: [suidRule(1)],
  fchmod: [suidRule(1)],
  fchmodat: [suidRule(2)],
  fchmodat2: [suidRule(2)],
  creat: [suidRule(1)],
  mknod: [suidRule(1)],
  mknodat: [suidRule(2)],
  open: createRules(1, 2),
  openat: createRules(2, 3),
  clone: [
    { when: [{ arg: 0, op: "masked-ne", mask: CLONE_NAMESPACE_FLAGS, value: "0", width: 32 }], action: EPERM, why: "creates namespaces" },
  ],
  setsockopt: [REUSEPORT_RULE],
  socket: [
    { when: [{ arg: 0, op: "eq", value: AF_ALG, width: 32 }], action: EPERM, why: "AF_ALG: kernel crypto API" },
    { when: [{ arg: 0, op: "eq", value: AF_VSOCK, width: 32 }], action: EPERM, why: "AF_VSOCK: host/guest sockets" },
  ],
  // Only the personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and the query.
  personality: [
    { when: [{ arg: 0, op: "eq", value: "0x0", width: 32 }], action: "allow", why: "PER_LINUX" },
    { when: [{ arg: 0, op: "eq", value: "0x8", width: 32 }], action: "allow", why: "PER_LINUX32" },
    { when: [{ arg: 0, op: "eq", value: "0x20000", width: 32 }], action: "allow", why: "UNAME26" },
    { when: [{ arg: 0, op: "eq", value: "0x20008", width: 32 }], action: "allow", why: "UNAME26|PER_LINUX32" },
    { when: [{ arg: 0, op: "eq", value: "0xffffffff", width: 32 }], action: "allow", why: "query" },
    { when: [], action: EPERM, why: "other personalities (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE)" },
  ],
};

export const DEFAULT_DENY_ACTION = EPERM;

/**
 * Groups whose purpose is what the default policy refuses: allowing one of these (or a
 * syscall by name) lifts the refusal. Broad groups such as @system-service or @process do
 * not: `--seccomp-allow @system-service` must not quietly re-open unshare or keyctl.
 */
export const OPT_IN_GROUPS: readonly string[] = [
  "@mount", "@namespaces", "@keyring", "@debug", "@io-uring", "@aio", "@module", "@reboot", "@swap",
  "@raw-io", "@clock", "@obsolete", "@cpu-emulation", "@privileged",
];
