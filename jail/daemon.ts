// A daemon inside the jail, systemd Type=forking style (--forking, --pid-file). The program
// exits 0 after forking its main process; jailx's init (PID 1 of the jail, so every orphan's
// parent) then keeps the jail alive while any process in it lives, sends signals to the
// daemon's main process, and reports that process's status as the program's.
//
// The main process is the pid in the pid file (read when needed: the daemon writes it after
// the start process has exited) — accepted only when it is one of init's own children, since
// the jailed side writes the file — else init's only child. Facts come in through `DaemonView`
// so that the rules are unit-tested without processes.
import { readdirSync, readFileSync } from "node:fs";

export interface DaemonView {
  /** pids of init's direct children */
  children(): number[];
  /** the pid file's text, or null when it cannot be read */
  readPidFile(path: string): string | null;
}

export class Daemon {
  private main: number | null = null;

  constructor(private readonly pidFile: string | null, private readonly view: DaemonView = procView) {}

  /** The daemon's main process, once it can be told; null while unknown. */
  mainPid(): number | null {
    if (this.main !== null) return this.main;
    const kids = this.view.children();
    if (this.pidFile !== null) {
      const text = this.view.readPidFile(this.pidFile);
      const n = text !== null && /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
      if (kids.includes(n)) return (this.main = n);
    }
    if (kids.length === 1) return (this.main = kids[0]!);
    return null;
  }

  /** Where a forwarded signal goes: the main process, or every child of init while it is unknown. */
  signalTargets(): number[] {
    const main = this.mainPid();
    return main !== null ? [main] : this.view.children();
  }

  /** A reaped child was the main process: the daemon (and so the jail) has ended. */
  isMain(pid: number): boolean {
    // Known already, or known now: a pid file may name a process that just exited, whose pid
    // is no longer among the children — then the only other way to tell is the cached value.
    return this.main === pid;
  }

  /** No process is left in the jail but init. */
  empty(): boolean {
    return this.view.children().length === 0;
  }
}

/** init's children from its own /proc (the jail's, mounted before the program starts). */
export const procView: DaemonView = {
  children() {
    const out: number[] = [];
    try {
      for (const tid of readdirSync("/proc/self/task"))
        for (const p of readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim().split(/\s+/)) if (p) out.push(Number(p));
    } catch {
      /* no /proc: nothing known */
    }
    return out;
  },
  readPidFile(path) {
    try {
      return readFileSync(path, "utf8").slice(0, 64);
    } catch {
      return null;
    }
  },
};
