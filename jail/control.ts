// Acting on a running named jail (stop, kill): every signal goes through a pidfd of a process
// the supervisor's sealed record names and whose start time (and parent) still match, so a
// forged entry or a reused pid never makes jailx signal a process outside the jail.
import { existsSync } from "node:fs";
import { UsageError } from "../sys/errors.ts";
import { closeFd, FORWARDED_SIGNALS, SIG } from "../sys/proc.ts";
import { pidfdSend, pidfdWaitExit } from "../sys/pidfd.ts";
import { openVerified, readEntry, removeEntry, stateDir, type Judged } from "./state.ts";

type Live = Judged & { kind: "live" };

const NAMES: Record<string, number> = { ...SIG, WINCH: 28, TTIN: 21, TTOU: 22, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, SEGV: 11 };

/** A signal by name (TERM, SIGTERM, term) or number (1-64). */
export function parseSignal(s: string): number {
  if (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 64) return Number(s);
  const n = NAMES[s.toUpperCase().replace(/^SIG/, "")];
  if (n === undefined) throw new UsageError(`signal ${JSON.stringify(s)}: use a name such as TERM, HUP, KILL or a number 1-64`);
  return n;
}

/** The verified pidfd of the jail's init (its parent is the verified supervisor), or null. */
function initFd(j: Live): number | null {
  return openVerified(j.record.init, j.record.supervisor.pid);
}

/**
 * Send `sig` to the jail's program. Signals the supervisor forwards go through it (as for a
 * foreground run); SIGKILL ends the whole jail (its init); others go to the program itself.
 */
export function signalJail(j: Live, sig: number): void {
  if ((FORWARDED_SIGNALS as readonly number[]).includes(sig)) {
    if (!pidfdSend(j.pidfd, sig)) throw new UsageError(`jail '${j.record.name}' has just ended`);
    return;
  }
  const rec = j.record;
  const fd = sig === SIG.KILL ? initFd(j) : openVerified(rec.program, rec.plan.asPid1 ? rec.supervisor.pid : rec.init.pid);
  if (fd === null) throw new UsageError(`jail '${rec.name}': its ${sig === SIG.KILL ? "init" : "program"} has already ended`);
  try {
    pidfdSend(fd, sig);
  } finally {
    closeFd(fd);
  }
}

/**
 * TERM (through the supervisor, which passes it on), KILL of the jail's init after `graceMs`,
 * then wait until the supervisor, the state entry and the jail's cgroups are gone.
 */
export async function stopJail(j: Live, graceMs: number): Promise<void> {
  const sup = j.pidfd;
  if (graceMs > 0) pidfdSend(sup, SIG.TERM);
  if (!pidfdWaitExit(sup, graceMs)) {
    const init = initFd(j);
    if (init !== null) {
      pidfdSend(init, SIG.KILL);
      closeFd(init);
    }
    // The supervisor reaps the jail, removes its cgroup and entry, and exits.
    if (!pidfdWaitExit(sup, 10_000)) {
      // Stuck (e.g. stopped): kill it; its guards remove the cgroup and the entry.
      pidfdSend(sup, SIG.KILL);
      pidfdWaitExit(sup, 10_000);
    }
  }
  const dir = stateDir(false);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const e = dir ? readEntry(dir, j.record.name) : null;
    const mine = e && e.supervisor.pid === j.record.supervisor.pid && e.supervisor.start === j.record.supervisor.start;
    const left = j.record.cgroups.filter((p) => existsSync(p));
    if (!mine && left.length === 0) return;
    if (Date.now() > deadline) {
      if (mine && dir) removeEntry(dir, j.record.name, j.record.supervisor);
      if (left.length) throw new UsageError(`jail '${j.record.name}' stopped, but its cgroup ${left[0]} is still there`);
      return;
    }
    await Bun.sleep(10);
  }
}
