// `jailx run --name NAME` and `jailx run -d`: a jail registered by name in the state directory
// (jail/state.ts), in the foreground or detached (jail/detach.ts). A plain run never loads this.
import { supervise, type Outcome, type Prepared, type StepLogger } from "./supervisor.ts";
import { writeSync } from "node:fs";
import { detachStaged, forkDetached, LOG_MAX_BYTES, redirectOutput, startLogger, stopLogger, takeBackgroundRole, type Logger } from "./detach.ts";
import { isSingleThreadedBun } from "../sys/reexec.ts";
import { Registration } from "./register.ts";
import { generateName, judge, logPath, readEntry, shown, stateDir, validateName } from "./state.ts";
import { closeFd } from "../sys/proc.ts";
import { UsageError } from "../sys/errors.ts";
import type { ParsedOptions } from "./options.ts";
import type { Plan } from "./plan.ts";

export interface NamedOutcome extends Outcome {
  /** what the command prints on stdout (the name of a detached jail) */
  stdout?: string;
}

export async function superviseNamed(plan: Plan, prepared: Prepared, o: ParsedOptions, step: StepLogger): Promise<NamedOutcome> {
  const detach = o["detach"] === true;
  const dir = stateDir(true)!;
  // The background half of a detached run on the stage path (see detachStaged): it was given
  // the name and the descriptor to report on.
  const background = detach ? takeBackgroundRole() : null;
  const name = validateName(background?.name ?? (typeof o["name"] === "string" ? o["name"] : freeName(dir)));
  if (!detach) return registered(dir, name, plan, prepared, step, false, () => {});
  if (!background) {
    // Errors the child would hit first are reported from here, before anything runs.
    const old = readEntry(dir, name);
    const j = old ? judge(old) : null;
    if (j?.kind === "live") closeFd(j.pidfd);
    if (j && j.kind !== "stale") throw new UsageError(`jail name ${shown(name)} is in use (supervisor pid ${old!.supervisor.pid}); choose another --name or run 'jailx stop ${name}'`);
  }
  const f = background ?? (staged() ? detachStaged(name) : forkDetached());
  if (f.parent) return f.report.status === 0 ? { status: 0, stdout: `${name}\n` } : f.report;
  let out: Outcome = { status: 125, message: "the jail did not start" };
  try {
    // On the stage path the waiter reports (once the program has executed) on that descriptor.
    const reportFd = background?.fd;
    out = await registered(dir, name, plan, prepared, step, true, reportFd === undefined ? () => f.report({ status: 0 }) : () => {}, reportFd);
  } catch (err) {
    out = { status: 125, message: err instanceof Error ? err.message : String(err) };
  }
  f.report(out);
  return out;
}

/** The stage path (jail/stage/): this process is multi-threaded Bun, and never forks itself. */
function staged(): boolean {
  return !isSingleThreadedBun();
}

async function registered(dir: string, name: string, plan: Plan, prepared: Prepared, step: StepLogger, detach: boolean, onStarted: () => void, reportFd?: number): Promise<Outcome> {
  const log = detach ? logPath(dir, name) : null;
  const stage = staged() ? await import("./stage/supervise.ts") : null;
  const helper = stage ? (await import("../sys/stage.ts")).helperMemfd() : -1;
  // On the stage path the guard is the embedded helper: it removes the entry (and writes a
  // detached jail's exited record) on a bare EOF, that is, if we are killed.
  const startGuardFor = stage ? (r: Registration) => stage.helperGuard(helper, [`unlink=${r.entryFile()}`, ...r.exitedArgs()]) : undefined;
  const reg = Registration.claim(dir, name, plan, detach, log, startGuardFor);
  let out: Outcome = { status: 125, message: "the jail did not start" };
  let logger: Logger | null = null;
  try {
    if (log) {
      logger = stage ? stage.helperLogger(helper, log, LOG_MAX_BYTES) : startLogger(log);
      redirectOutput(logger.fd);
    }
    const events = {
      cloned: (pid: number, cgroups: string[]) => reg.cloned(pid, cgroups),
      started: () => {
        reg.started(!stage);
        onStarted();
      },
    };
    out = stage
      ? stage.superviseStaged(plan, { ...prepared, events, waiter: () => withReport(withLogger(reg.waiterArgs(), logger), reportFd) }, step)
      : supervise(plan, { ...prepared, events }, step);
    return out;
  } catch (err) {
    out = { status: 125, message: err instanceof Error ? err.message : String(err) };
    throw err;
  } finally {
    // (On the stage path, once the waiter runs, none of this does: it ends the jail's
    // registration itself, and waits for the log writer.)
    if (logger) {
      // The last word goes into the log, before the writer is closed.
      if (out.message) writeSync(2, `jailx: ${out.message}\n`);
      stopLogger(logger);
    }
    reg.finish(out);
  }
}

function withLogger(w: { args: string[]; keep: number[] }, logger: Logger | null): { args: string[]; keep: number[] } {
  return logger ? { args: [...w.args, `logger=${logger.pid}`], keep: w.keep } : w;
}

function withReport(w: { args: string[]; keep: number[] }, fd: number | undefined): { args: string[]; keep: number[] } {
  return fd === undefined ? w : { args: [...w.args, `report=${fd}`], keep: [...w.keep, fd] };
}

function freeName(dir: string): string {
  for (;;) {
    const n = generateName();
    if (!readEntry(dir, n)) return n;
  }
}
