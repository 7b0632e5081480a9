// Process file descriptors (pidfd_open(2), pidfd_send_signal(2)): a pidfd names one process, not
// a number, so a signal through it can never reach a process that later got the same pid, and
// "is it still alive" asks about that one process; a namespace joined through it is that process's.
// One helper for inspect's pinning, the cgroup killer, the supervisor's kill guard, jailx learn
// (pidfd_getfd) and named jails (state checks, stop/kill, exec's setns).
import { readFileSync } from "node:fs";
import { c, check, errno } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { NR } from "./nr.ts";
import { pollFds } from "./proc.ts";

const PIDFD_OPEN = BigInt(NR.pidfd_open);
const PIDFD_SEND_SIGNAL = BigInt(NR.pidfd_send_signal);
const PIDFD_GETFD = BigInt(NR.pidfd_getfd);
/** O_EXCL as a pidfd_open flag (kernel ≥ 6.9): a pidfd for any thread, not only a leader. */
const PIDFD_THREAD = 0o200n;

/**
 * Opens a pidfd for `pid`; on failure returns the errno name (ESRCH: no such process, EINVAL: a
 * thread id, ENOSYS: kernel before 5.3). Not a throwing wrapper: callers treat each errno
 * differently, and inspect --all calls it a thousand times (c.syscall directly, no array copies).
 */
export function openPidfd(pid: number): number | string {
  const fd = Number(c.syscall(PIDFD_OPEN, BigInt(pid), 0n, 0n, 0n, 0n, 0n));
  return fd < 0 ? errnoName(errno()) : fd;
}

/** Sends `sig` through the pidfd; returns 0 or the errno name (ESRCH once the process has exited). */
export function pidfdSignal(fd: number, sig: number): 0 | string {
  return Number(c.syscall(PIDFD_SEND_SIGNAL, BigInt(fd), BigInt(sig), 0n, 0n, 0n, 0n)) === 0 ? 0 : errnoName(errno());
}

/** True while the process has not exited (signal 0 only checks; EPERM still means it exists). */
export function pidfdAlive(fd: number): boolean {
  const r = pidfdSignal(fd, 0);
  return r === 0 || r !== "ESRCH";
}

export function closePidfd(fd: number): void {
  c.close(fd);
}

/** A pidfd for a thread id (any thread where the kernel has PIDFD_THREAD, else a leader only). */
export function openThreadPidfd(tid: number): number | string {
  const fd = Number(c.syscall(PIDFD_OPEN, BigInt(tid), PIDFD_THREAD, 0n, 0n, 0n, 0n));
  if (fd < 0 && errno() === 22 /* EINVAL: no PIDFD_THREAD */) return openPidfd(tid);
  return fd < 0 ? errnoName(errno()) : fd;
}

/** A duplicate of descriptor `fd` of the pidfd's process (needs ptrace access); the fd or the errno name. */
export function pidfdGetfd(pidfd: number, fd: number): number | string {
  const r = Number(c.syscall(PIDFD_GETFD, BigInt(pidfd), BigInt(fd), 0n, 0n, 0n, 0n));
  return r < 0 ? errnoName(errno()) : r;
}

/** openPidfd for callers where only a missing process is expected: null on ESRCH, throws otherwise. */
export function pidfdOpen(pid: number): number | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const r = openPidfd(pid);
  if (typeof r === "number") return r;
  if (r === "ESRCH") return null;
  throw new SysError("pidfd_open", r, errno(), `pid ${pid}`);
}

/** pidfdSignal for callers where only an exited process is expected: false on ESRCH, throws otherwise. */
export function pidfdSend(fd: number, sig: number): boolean {
  const r = pidfdSignal(fd, sig);
  if (r === 0) return true;
  if (r === "ESRCH") return false;
  throw new SysError("pidfd_send_signal", r, errno(), undefined, `signal ${sig}`);
}

/**
 * Waits until the process behind the pidfd has exited (a pidfd polls readable then, also while it
 * is an unreaped zombie, unlike pidfdAlive); false when it still runs after `timeoutMs` (0: just ask).
 */
export function pidfdWaitExit(fd: number, timeoutMs: number): boolean {
  return pollFds([fd], timeoutMs) !== null;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), and field 4 (ppid). */
export function procStart(pid: number): { start: string; ppid: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { start: f[19]!, ppid: Number(f[1]) };
}

/** Whether `pid` exists and has not exited (a zombie has). */
export function isRunning(pid: number): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    return text[text.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** Join the namespaces `flags` (CLONE_NEW*) of the process behind the pidfd, all at once. */
export function setnsPidfd(fd: number, flags: number): void {
  check(c.setns(fd, flags), "setns", { flags: `0x${flags.toString(16)}` });
}
