// Syscall numbers the launcher uses directly (the full tables live in sys/seccomp/).
// Numbers ≥ 424 are shared by every architecture; the older ones differ.
const X64 = {
  clone: 56, pivot_root: 155, capget: 125, capset: 126, rt_sigprocmask: 14,
  rt_sigaction: 13, signalfd4: 289, gettid: 186, mknodat: 259, unlinkat: 263, seccomp: 317, bpf: 321, memfd_create: 319, statx: 332,
  getsockopt: 55, process_vm_readv: 310, futex: 202, sched_getaffinity: 204, getcpu: 309, getdents64: 217,
} as const;
const ARM64 = {
  clone: 220, pivot_root: 41, capget: 90, capset: 91, rt_sigprocmask: 135,
  rt_sigaction: 134, signalfd4: 74, gettid: 178, mknodat: 33, unlinkat: 35, seccomp: 277, bpf: 280, memfd_create: 279, statx: 291,
  getsockopt: 209, process_vm_readv: 270, futex: 98, sched_getaffinity: 123, getcpu: 168, getdents64: 61,
} as const;
const COMMON = {
  open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432,
  pidfd_open: 434, clone3: 435, close_range: 436, openat2: 437, pidfd_getfd: 438,
  mount_setattr: 442, pidfd_send_signal: 424,
} as const;

function table() {
  if (process.arch === "x64") return { ...X64, ...COMMON };
  if (process.arch === "arm64") return { ...ARM64, ...COMMON };
  throw new Error(`jailx supports x86_64 and aarch64, not ${process.arch}`);
}

export const NR = table();
