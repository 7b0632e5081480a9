// `jailx run --name NAME` and `jailx run -d`: a jail registered by name in the state directory
// (jail/state.ts), in the foreground or detached (jail/detach.ts). A plain run never loads this.
import { supervise, type Outcome, type Prepared, type StepLogger } from "./supervisor.ts";
import { writeSync } from "node:fs";
import { forkDetached, redirectOutput, startLogger, stopLogger, type Logger } from "./detach.ts";
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

export function superviseNamed(plan: Plan, prepared: Prepared, o: ParsedOptions, step: StepLogger): NamedOutcome {
  const detach = o["detach"] === true;
  const dir = stateDir(true)!;
  const name = validateName(typeof o["name"] === "string" ? o["name"] : freeName(dir));
  if (!detach) return registered(dir, name, plan, prepared, step, false, () => {});
  // Errors the child would hit first are reported from here, before anything runs.
  const old = readEntry(dir, name);
  const j = old ? judge(old) : null;
  if (j?.kind === "live") closeFd(j.pidfd);
  if (j && j.kind !== "stale") throw new UsageError(`jail name ${shown(name)} is in use (supervisor pid ${old!.supervisor.pid}); choose another --name or run 'jailx stop ${name}'`);

  const f = forkDetached();
  if (f.parent) return f.report.status === 0 ? { status: 0, stdout: `${name}\n` } : f.report;
  let out: Outcome = { status: 125, message: "the jail did not start" };
  try {
    out = registered(dir, name, plan, prepared, step, true, () => f.report({ status: 0 }));
  } catch (err) {
    out = { status: 125, message: err instanceof Error ? err.message : String(err) };
  }
  f.report(out);
  return out;
}

function registered(dir: string, name: string, plan: Plan, prepared: Prepared, step: StepLogger, detach: boolean, onStarted: () => void): Outcome {
  const log = detach ? logPath(dir, name) : null;
  const reg = Registration.claim(dir, name, plan, detach, log);
  let out: Outcome = { status: 125, message: "the jail did not start" };
  let logger: Logger | null = null;
  try {
    if (log) {
      logger = startLogger(log);
      redirectOutput(logger.fd);
    }
    out = supervise(plan, {
      ...prepared,
      events: {
        cloned: (pid, cgroups) => reg.cloned(pid, cgroups),
        started: () => {
          reg.started();
          onStarted();
        },
      },
    }, step);
    return out;
  } catch (err) {
    out = { status: 125, message: err instanceof Error ? err.message : String(err) };
    throw err;
  } finally {
    if (logger) {
      // The last word goes into the log, before the writer is closed.
      if (out.message) writeSync(2, `jailx: ${out.message}\n`);
      stopLogger(logger);
    }
    reg.finish(out);
  }
}

function freeName(dir: string): string {
  for (;;) {
    const n = generateName();
    if (!readEntry(dir, n)) return n;
  }
}
