// The supervisor's side of a named jail: it claims the name before anything starts, writes its
// sealed record once the program runs, and removes its entry on every exit path — a guard
// process removes it when the supervisor is killed with SIGKILL (a later jailx command would
// also find it stale, see jail/state.ts).
import { readFileSync, rmSync } from "node:fs";
import { sealedMemfd } from "../sys/memfd.ts";
import { procStart } from "../sys/pidfd.ts";
import * as proc from "../sys/proc.ts";
import { guardForWaiter, startGuard, type Guard } from "./guard.ts";
import type { Outcome } from "./supervisor.ts";
import type { Plan } from "./plan.ts";
import {
  exitedPath, KEEP_EXITED, pruneExited, readEntry, RECORD_MEMFD, removeEntry, reserve, writeAtomic,
  type Entry, type ExitedRecord, type JailRecord, type ProcRef,
} from "./state.ts";

function selfRef(): ProcRef {
  const pid = proc.getpid();
  return { pid, start: procStart(pid)!.start };
}

function firstChild(pid: number): number | null {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : null;
  } catch {
    return null;
  }
}

export class Registration {
  private guardProc: Guard | null = null;
  private init: ProcRef | null = null;
  private cgroups: string[] = [];
  private recordFd: number | null = null;
  private done = false;

  private constructor(
    readonly dir: string,
    readonly entry: Entry,
    private readonly plan: Plan,
    private readonly startGuardFor?: (r: Registration) => Guard,
  ) {}

  /**
   * Claim `name` for this process (125 when it is taken); then cloned(), started(), finish().
   * `startGuardFor` starts the guard another way than by forking this process (the stage path).
   */
  static claim(dir: string, name: string, plan: Plan, detached: boolean, log: string | null, startGuardFor?: (r: Registration) => Guard): Registration {
    const entry: Entry = { v: 1, name, supervisor: selfRef(), recordFd: null, startedAt: Date.now(), detached, log, command: plan.command };
    // Room for this jail's own exited record, which a process other than this one may write at
    // its end (the stage's waiter; jail/stage/helper.c).
    if (detached) pruneExited(dir, KEEP_EXITED - 1);
    reserve(dir, entry);
    return new Registration(dir, entry, plan, startGuardFor);
  }

  /** Fork the guard that removes the entry if this process is killed. */
  guard(): void {
    if (this.startGuardFor) {
      this.guardProc = this.startGuardFor(this);
      return;
    }
    proc.prepareForFork();
    this.guardProc = startGuard([], () => this.supervisorKilled());
  }

  /** The entry's file, which a guard or the waiter removes at the end. */
  entryFile(): string {
    return `${this.dir}/${this.entry.name}.json`;
  }

  /**
   * For a process that is not this one (the stage's waiter and guard, jail/stage/helper.c):
   * the exited record of a detached jail as a JSON object without its end, which they complete
   * with endedAt, status and message; nothing for a jail in the foreground.
   */
  exitedArgs(): string[] {
    if (!this.entry.detached) return [];
    const head = JSON.stringify({ v: 1, name: this.entry.name, command: this.entry.command, startedAt: this.entry.startedAt, log: this.entry.log });
    return [`exited=${exitedPath(this.dir, this.entry.name)}`, `exitedhead=${head.slice(0, -1)}`];
  }

  /** What the waiter needs to end this registration in our place: the entry, the record, the guard. */
  waiterArgs(): { args: string[]; keep: number[] } {
    const keep = this.recordFd !== null ? [this.recordFd] : [];
    const args = [`unlink=${this.entryFile()}`, ...this.exitedArgs()];
    // the entry naming the sealed record, written by the waiter once the program has executed
    if (this.recordFd !== null) args.push(`entry=${this.entryFile()}`, `entryjson=${JSON.stringify(this.entry)}`);
    guardForWaiter(this.guardProc, args, keep);
    return { args, keep };
  }

  /** Runs in the guard after the supervisor died without finishing. */
  private supervisorKilled(): void {
    // After a normal end finish() removed the entry already: nothing to do.
    const e = readEntry(this.dir, this.entry.name);
    if (!e || e.supervisor.pid !== this.entry.supervisor.pid || e.supervisor.start !== this.entry.supervisor.start) return;
    removeEntry(this.dir, this.entry.name, this.entry.supervisor);
    if (this.entry.detached) this.writeExited({ status: 137, message: "the jail's supervisor was killed" });
  }

  cloned(initPid: number, cgroupDirs: string[]): void {
    // The guard only now: forked before the jail's cgroup was placed, it would sit in the
    // caller's cgroup, and in a Delegate=yes unit jailx must be alone there to follow the
    // delegation protocol (sys/cgroup/systemd.ts). Killed before this point, the supervisor
    // leaves an entry that every later command finds stale (jail/state.ts).
    if (!this.guardProc) this.guard();
    const st = procStart(initPid);
    if (!st) throw new Error(`the jail's init (pid ${initPid}) is gone`);
    this.init = { pid: initPid, start: st.start };
    this.cgroups = cgroupDirs;
  }

  /**
   * The program runs (or, `publish` false, is about to: the stage's waiter then writes the entry
   * once it has executed, from entryText()): seal the record and point the entry at it.
   */
  started(publish = true): void {
    if (!this.init) return;
    const progPid = this.plan.asPid1 ? this.init.pid : firstChild(this.init.pid);
    const progStart = progPid === null ? null : procStart(progPid);
    if (progPid === null || !progStart) return; // it ended already: nothing to manage
    const record: JailRecord = {
      v: 1, name: this.entry.name, supervisor: this.entry.supervisor, init: this.init,
      program: { pid: progPid, start: progStart.start }, startedAt: this.entry.startedAt,
      detached: this.entry.detached, log: this.entry.log, cgroups: this.cgroups, plan: this.plan,
    };
    this.recordFd = sealedMemfd(RECORD_MEMFD, JSON.stringify(record));
    this.entry.recordFd = this.recordFd;
    if (publish) writeAtomic(`${this.dir}/${this.entry.name}.json`, this.dir, JSON.stringify(this.entry));
  }

  /** The jail has ended (or could not start): remove the entry; keep an exited record if detached. */
  finish(out: Outcome): void {
    if (this.done) return;
    this.done = true;
    try {
      removeEntry(this.dir, this.entry.name, this.entry.supervisor);
      if (this.entry.detached) {
        this.writeExited(out);
        pruneExited(this.dir);
      }
    } finally {
      if (this.recordFd !== null) proc.closeFd(this.recordFd);
      this.guardProc?.stop();
    }
  }

  private writeExited(out: Outcome): void {
    const r: ExitedRecord = {
      v: 1, name: this.entry.name, command: this.entry.command, startedAt: this.entry.startedAt,
      endedAt: Date.now(), status: out.status, ...(out.message ? { message: out.message } : {}), log: this.entry.log,
    };
    try {
      writeAtomic(exitedPath(this.dir, this.entry.name), this.dir, JSON.stringify(r));
    } catch {
      rmSync(exitedPath(this.dir, this.entry.name), { force: true });
    }
  }
}
