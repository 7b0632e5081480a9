// Syscall numbers of this machine for the stage's op list, from the generated tables
// (sys/seccomp/tables/*.json, scripts/gen-syscalls.ts).
import x86_64 from "../../sys/seccomp/tables/x86_64.json" with { type: "json" };
import aarch64 from "../../sys/seccomp/tables/aarch64.json" with { type: "json" };

const NAMES = [
  "read", "write", "close", "openat", "openat2", "mkdirat", "symlinkat", "mknodat", "unlinkat", "newfstatat",
  "mount", "umount2", "pivot_root", "fchdir", "chdir", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
  "mount_setattr", "unshare", "sethostname", "socket", "ioctl", "setgroups", "setresgid", "setresuid", "prctl",
  "capset", "prlimit64", "setsid", "fcntl", "close_range", "rt_sigprocmask", "rt_sigaction", "execve", "execveat",
  "exit_group", "seccomp", "clone", "clone3", "memfd_create", "ftruncate", "setns", "chroot", "landlock_create_ruleset", "landlock_restrict_self", "ppoll",
  "sched_setaffinity",
] as const;

function table(): Record<(typeof NAMES)[number], number> {
  const t = (process.arch === "arm64" ? aarch64 : x86_64) as Record<string, number | string>;
  const out = {} as Record<(typeof NAMES)[number], number>;
  for (const n of NAMES) {
    const v = t[n];
    if (typeof v !== "number") throw new Error(`stage: no syscall number for ${n} on ${process.arch}`);
    out[n] = v;
  }
  return out;
}

export const NRS = table();
