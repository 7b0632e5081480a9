// The learning filter: a second seccomp filter, installed after the jail's own, that stops the
// program on every syscall it needs to see (SECCOMP_RET_USER_NOTIF) so the supervisor can record
// it, then lets the syscall continue. The jail's own filter still decides: the kernel takes the
// strictest verdict of all filters, so a syscall the default jail refuses is refused while
// learning too (and not seen — it would be refused under the learned profile as well).
//
// Which syscalls are not stopped (see docs/LEARN.md for the measurements):
// - `@default` (mmap, futex, clock_gettime, …): every allow-list profile allows them anyway;
// - a few hot calls on descriptors the program already holds (read, write, close, …): the
//   learned profile allows them unconditionally (a line in the profile says so).
// - madvise (RUNTIME_NEEDS below).
// With `notifyAll` only those jailx itself needs are let through (the measurement baseline).
import { compileSeccompPlan } from "../../sys/seccomp/compile.ts";
import { expandGroup } from "../../sys/seccomp/groups.ts";
import type { SeccompPlan } from "../../sys/seccomp/policy.ts";
import type { SyscallRule } from "../../sys/seccomp/policy-types.ts";

/** Hot syscalls on already-open descriptors: allowed by every learned profile, never stopped. */
export const ALWAYS_ALLOWED_IO = ["read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "_llseek", "close"];

/**
 * Never stopped, even with notifyAll, and allowed by every learned profile: jailx's own runtime
 * (Bun's allocator) calls madvise(MADV_WILLNEED) in the program's process between installing
 * the filters and execve. Stopped there, it would wait for a supervisor that has no listener
 * yet; refused there by an allow-list with `kill`, it would kill jailx before the program ran.
 * It only advises the kernel about the caller's own memory.
 */
export const RUNTIME_NEEDS = ["madvise"];

/** Syscalls that must be seen even though @default lists them (they carry paths). */
const SEEN_ANYWAY = new Set(["execve", "execveat"]);

/** Syscalls the learning filter lets through without a notification. */
export function unobserved(notifyAll: boolean): string[] {
  if (notifyAll) return [...RUNTIME_NEEDS];
  return [...expandGroup("@default").filter((n) => !SEEN_ANYWAY.has(n)), ...ALWAYS_ALLOWED_IO, ...RUNTIME_NEEDS];
}

export function learnFilterPlan(sock: number, notifyAll: boolean): SeccompPlan {
  const syscalls: Record<string, SyscallRule> = {};
  for (const n of unobserved(notifyAll)) syscalls[n] = { action: "allow" };
  // The program's process tells the supervisor where the listener is with one write on the
  // message socket, after the filter is in place: that write must not wait for the listener.
  // (The socket is close-on-exec: the program never has it.)
  if (!syscalls.write)
    syscalls.write = { action: "notify", argRules: [{ when: [{ arg: 0, op: "eq", value: String(sock), width: 32 }], action: "allow" }] };
  return {
    source: "learn",
    defaultAction: "notify",
    syscalls,
    // Foreign ABIs are stopped too: the jail's own filter refuses them unless opened.
    openAbis: ["i386", "x32"].filter(() => process.arch === "x64") as ("i386" | "x32")[],
    foreignAbiAction: "notify",
    log: false,
  };
}

export function compileLearnFilter(sock: number, notifyAll: boolean): Buffer {
  return compileSeccompPlan(learnFilterPlan(sock, notifyAll));
}
