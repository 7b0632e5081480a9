// Holding the target while reading: a pidfd refers to one process, not to a number, so after the
// reads we can ask whether *that* process is still alive. A changed start time in /proc/PID/stat
// tells that the number now belongs to another process (PID reuse).
import { c, errno } from "../sys/ffi.ts";
import { errnoName } from "../sys/errno.ts";

// Same numbers on x86_64 and aarch64 (the unified syscall table, include/uapi/asm-generic/unistd.h).
const SYS_PIDFD_OPEN = 434n;
const SYS_PIDFD_SEND_SIGNAL = 424n;

export interface Pidfd {
  readonly fd: number;
}

/** Opens a pidfd, or returns the errno name (ESRCH: no such process). */
export function openPidfd(pid: number): Pidfd | string {
  // c.syscall directly: --all calls this a thousand times, the generic wrapper converts arrays
  const fd = Number(c.syscall(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n, 0n, 0n, 0n));
  if (fd < 0) return errnoName(errno());
  return { fd };
}

/** True while the pinned process has not exited (signal 0 only checks). */
export function pidfdAlive(p: Pidfd): boolean {
  return Number(c.syscall(SYS_PIDFD_SEND_SIGNAL, BigInt(p.fd), 0n, 0n, 0n, 0n, 0n)) === 0 || errnoName(errno()) !== "ESRCH";
}

export function closePidfd(p: Pidfd): void {
  c.close(p.fd);
}
