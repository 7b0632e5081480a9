// The cleanup guard: a small process forked before the jail that removes the jail's cgroup if
// the supervisor dies without doing it (SIGKILL). It waits on a pipe whose only writer is the
// supervisor; EOF means the supervisor is gone (or finished), and the guard then kills whatever
// is left in the cgroup and removes it. It runs in its own session so that a terminal's
// Ctrl-C does not reach it, and holds no other descriptor.
import type { JailCgroup } from "../sys/cgroup/index.ts";
import * as proc from "../sys/proc.ts";
import { c, ptr } from "../sys/ffi.ts";

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
