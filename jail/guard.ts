// Guards: small processes that act when the supervisor dies without cleaning up (SIGKILL).
// A guard waits on a pipe whose only writer is the supervisor; EOF means the supervisor is gone
// (or finished), and the guard then does its one job. It runs in its own session so that a
// terminal's Ctrl-C does not reach it, and holds no descriptor but the pipe and what its job
// needs.
import type { JailCgroup } from "../sys/cgroup/index.ts";
import * as proc from "../sys/proc.ts";
import { c } from "../sys/ffi.ts";
import { closeSync, openSync } from "node:fs";
import { ERRNO } from "../sys/errno.ts";
import { openPidfd, pidfdSignal } from "../sys/pidfd.ts";
import { SysError } from "../sys/errors.ts";

export interface Guard {
  pid: number;
  /** Tell the guard the supervisor is done (it then acts on nothing left), and wait for it. */
  stop(): void;
}

/** Fork a guard that runs `onSupervisorGone` after EOF; `keep` are descriptors it needs. */
export function startGuard(keep: readonly number[], onSupervisorGone: () => void): Guard {
  const [r, w] = proc.pipe();
  const pid = proc.fork();
  if (pid === 0) {
    try {
      c.setsid();
      // Not the caller's stdio nor a detached jail's log pipe (whose reader waits for EOF).
      const nul = openSync("/dev/null", "r+");
      for (const fd of [0, 1, 2]) c.dup3(nul, fd, 0);
      closeSync(nul);
      proc.closeFdsExcept([r, ...keep]);
      proc.waitForEof(r);
      onSupervisorGone();
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
 * Hand a guard started as the helper (one with a pipe `w`) to the waiter: it holds the pipe (its
 * byte and EOF tell the guard we are done) and reaps the guard after that. Others are skipped.
 */
export function guardForWaiter(g: (Guard & { w?: number }) | null | undefined, args: string[], keep: number[]): void {
  if (g?.w === undefined) return;
  args.push(`guard=${g.w}`, `reap=${g.pid}`);
  keep.push(g.w);
}

/**
 * Does nothing but exist until the supervisor is done: it keeps a systemd scope populated (so
 * systemd does not remove it) until the supervisor has read the jail's OOM counter there.
 */
export function startHolder(): Guard {
  return startGuard([], () => {});
}

/** Kills whatever is left in the jail's cgroup and removes it (no-op after a normal end). */
export function startCleanupGuard(cgroup: JailCgroup): Guard {
  return startGuard([], () => {
    cgroup.killAll();
    cgroup.remove();
  });
}

/**
 * With --as-pid-1 the program itself is the jail's PID 1 and can clear its own parent-death
 * signal (prctl(PR_SET_PDEATHSIG, 0) needs no privilege): the whole jail would then outlive a
 * supervisor killed with SIGKILL. This guard holds a pidfd of that PID 1 and kills it when the
 * supervisor's end of the pipe closes; killing a pid namespace's PID 1 ends every process in it.
 * Forked after the clone and before "go", so the program cannot run before the guard exists;
 * the pidfd makes a late kill harmless (ESRCH) once the jail has been reaped.
 */
export function startKillGuard(jailPid: number): Guard {
  const pidfd = openPidfd(jailPid);
  if (typeof pidfd === "string") throw new SysError("pidfd_open", pidfd, ERRNO[pidfd] ?? 0, `pid ${jailPid}`);
  const guard = startGuard([pidfd], () => void pidfdSignal(pidfd, proc.SIG.KILL));
  proc.closeFd(pidfd);
  return guard;
}
