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
  /** the main process came from the pid file (else it is a guess: init's only child) */
  private sure = false;

  constructor(private readonly pidFile: string | null, private readonly view: DaemonView = procView) {}

  /** The daemon's main process, once it can be told; null while unknown. */
  mainPid(): number | null {
    if (this.sure) return this.main;
    const kids = this.view.children();
    if (this.pidFile !== null) {
      const text = this.view.readPidFile(this.pidFile);
      const n = text !== null && /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
      if (kids.includes(n)) {
        this.sure = true;
        return (this.main = n);
      }
    }
    if (this.main === null && kids.length === 1) this.main = kids[0]!;
    return this.main;
  }

  /** Where a forwarded signal goes: the main process, or every child of init while it is unknown. */
  signalTargets(): number[] {
    const main = this.mainPid();
    return main !== null ? [main] : this.view.children();
  }

  /**
   * A child of init was reaped: has the daemon ended? Yes when it was the main process — unless
   * that was only a guess and it exited 0 leaving others: the middle process of a double fork
   * (daemon(3) style), whose child is the real daemon. Then the guess starts over.
   */
  ended(pid: number, cleanExit: boolean): boolean {
    if (this.main !== pid) return false;
    this.main = null;
    if (!this.sure && cleanExit && !this.empty()) return false;
    return true;
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
