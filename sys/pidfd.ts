// Process descriptors: a pidfd names one process for its whole life, so a signal sent or a
// namespace joined through it can never reach a process that later reuses the pid.
import { readFileSync } from "node:fs";
import { c, check, errno, syscall } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { NR } from "./nr.ts";
import { pollFds } from "./proc.ts";

/** A pidfd for `pid`, or null when no such process exists (ESRCH). */
export function pidfdOpen(pid: number): number | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const r = Number(syscall(NR.pidfd_open, pid, 0));
  if (r >= 0) return r;
  const e = errno();
  if (e === 3 /* ESRCH */) return null;
  throw new SysError("pidfd_open", errnoName(e), e, `pid ${pid}`);
}

/** Send `sig` through the pidfd; false when the process is gone (ESRCH). */
export function pidfdSignal(fd: number, sig: number): boolean {
  if (Number(syscall(NR.pidfd_send_signal, fd, sig, 0, 0)) === 0) return true;
  const e = errno();
  if (e === 3) return false;
  throw new SysError("pidfd_send_signal", errnoName(e), e, undefined, `signal ${sig}`);
}

/** Whether the process behind the pidfd still runs (a pidfd polls readable once it has exited). */
export function pidfdAlive(fd: number): boolean {
  return pollFds([fd], 0) === null;
}

/** Wait until the process exits; false when it still runs after `timeoutMs`. */
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

