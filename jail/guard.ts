// The cleanup guard: a small process forked before the jail that removes the jail's cgroup if
// the supervisor dies without doing it (SIGKILL). It waits on a pipe whose only writer is the
// supervisor; EOF means the supervisor is gone (or finished), and the guard then kills whatever
// is left in the cgroup and removes it. It runs in its own session so that a terminal's
// Ctrl-C does not reach it, and holds no other descriptor.
import type { JailCgroup } from "../sys/cgroup/index.ts";
import * as proc from "../sys/proc.ts";
import { c, errno, ptr, syscall } from "../sys/ffi.ts";
import { errnoName } from "../sys/errno.ts";
import { SysError } from "../sys/errors.ts";
import { NR } from "../sys/nr.ts";

export interface CleanupGuard {
  pid: number;
  /** Tell the guard the supervisor cleaned up, and wait for it to exit. */
  stop(): void;
}

export function startCleanupGuard(cgroup: JailCgroup): CleanupGuard {
  const [r, w] = proc.pipe();
  const pid = proc.fork();
  if (pid === 0) {
    try {
      c.setsid();
      proc.closeFdsExcept([r]);
      const b = new Uint8Array(1);
      while (Number(c.read(r, ptr(b), 1)) !== 0) {
        /* only EOF matters */
      }
      cgroup.killAll();
      cgroup.remove();
    } catch {
      /* nothing to report to: the supervisor is gone */
    }
    proc.exitNow(0);
  }
  proc.closeFd(r);
  return {
    pid,
    stop() {
      proc.closeFd(w);
      proc.waitPid(pid);
    },
  };
}

/**
 * With --as-pid-1 the program itself is the jail's PID 1 and can clear its own parent-death
 * signal (prctl(PR_SET_PDEATHSIG, 0) needs no privilege): the whole jail would then outlive a
 * supervisor killed with SIGKILL. This guard holds a pidfd of that PID 1 and kills it when the
 * supervisor's end of the pipe closes; killing a pid namespace's PID 1 ends every process in it.
 * Forked after the clone and before "go", so the program cannot run before the guard exists;
 * the pidfd makes a late kill harmless (ESRCH) once the jail has been reaped.
 */
export function startKillGuard(jailPid: number): CleanupGuard {
  const pidfd = Number(syscall(NR.pidfd_open, jailPid, 0));
  if (pidfd < 0) {
    const e = errno();
    throw new SysError("pidfd_open", errnoName(e), e, `pid ${jailPid}`);
  }
  const [r, w] = proc.pipe();
  const pid = proc.fork();
  if (pid === 0) {
    try {
      c.setsid();
      proc.closeFdsExcept([r, pidfd]);
      const b = new Uint8Array(1);
      while (Number(c.read(r, ptr(b), 1)) !== 0) {
        /* only EOF matters */
      }
      syscall(NR.pidfd_send_signal, pidfd, proc.SIG.KILL, 0, 0);
    } catch {
      /* nothing to report to: the supervisor is gone */
    }
    proc.exitNow(0);
  }
  proc.closeFd(r);
  proc.closeFd(pidfd);
  return {
    pid,
    stop() {
      proc.closeFd(w);
      proc.waitPid(pid);
    },
  };
}
