// The supervisor: the jailx process the user started. It clones the jail's first process into
// the new namespaces, writes its id maps, places it in the jail cgroup, then waits: passing
// signals on, enforcing --timeout, and turning the outcome into one exit status.
//
// Lifecycle guarantees:
// - the jail's PID 1 has PDEATHSIG=SIGKILL and watches the message socket, so if the
//   supervisor dies (even by SIGKILL) PID 1 dies and the kernel kills the whole pid namespace;
// - mounts live only in the jail's mount namespace: they vanish with it; nothing is written to
//   the host filesystem;
// - a jail cgroup (only with limit flags) is removed on every exit path, and by a small guard
//   process when the supervisor is killed with SIGKILL.
import { EXIT, SysError } from "../sys/errors.ts";
import * as proc from "../sys/proc.ts";
import { isRunning } from "../sys/pidfd.ts";
import { NS_FLAG, type NamespaceName } from "../sys/ns.ts";
import { writeIdMaps, formatIdMap } from "../sys/ids.ts";
import type { CgroupPlan, JailCgroup, JailPlacement } from "../sys/cgroup/index.ts";
import { realKernel } from "./kernel.ts";
import { setupNamespace, traceStep } from "./child.ts";
import { execFailure, execOrReport, runInit } from "./init.ts";
import { ExecReport } from "./exec-report.ts";
import { asFromChild, channel, receive, send, type FromChild } from "./protocol.ts";
import { startCleanupGuard, startHolder, startKillGuard, type Guard } from "./guard.ts";
import type { Plan } from "./plan.ts";

const { SIG } = proc;
const TIMEOUT_GRACE_MS = 2000;

export interface Outcome {
  status: number;
  /** one line for the user, when jailx has something to say about the end */
  message?: string;
}

export type StepLogger = (step: string) => void;

/** Clone flags for the plan's namespaces. The cgroup namespace is unshared later (see child.ts). */
export function cloneFlags(plan: Plan): number {
  let flags = 0;
  for (const [ns, on] of Object.entries(plan.namespaces) as [NamespaceName, boolean][])
    if (on && ns !== "cgroup") flags |= NS_FLAG[ns];
  return flags;
}

/** Runs in the cloned process; never returns. */
function jailMain(plan: Plan, sock: number, seccomp: Buffer | null, report: ExecReport, learn?: Buffer): never {
  let step = "wait for the supervisor";
  try {
    proc.setParentDeathSignal(SIG.KILL);
    // "go" arrives once the id maps are written; EOF means the supervisor died already.
    const go = receive(sock);
    if (go === null) proc.exitNow(EXIT.JAILX);
    step = "set up the namespaces";
    traceStep(plan, "jail: set up the namespaces");
    setupNamespace(plan, realKernel, () => {
      // "placed": moved into the jail cgroup (the move ran while we built the filesystem).
      if (receive(sock) === null) proc.exitNow(EXIT.JAILX);
    });
    step = "start the program";
    traceStep(plan, "jail: start the program");
    if (plan.asPid1) execOrReport(plan, realKernel, sock, seccomp, learn, report);
    runInit(plan, realKernel, sock, seccomp, learn, report);
  } catch (err) {
    send(sock, { t: "error", step, message: err instanceof Error ? err.message : String(err), exit: EXIT.JAILX });
    proc.exitNow(EXIT.JAILX);
  }
}

function writeMaps(plan: Plan, pid: number): void {
  const m = plan.idmap!;
  if (m.writer === "supervisor") return writeIdMaps(pid, m.uid, m.gid, m.denySetgroups);
  // Ranges beyond our own id need the setuid helpers and /etc/subuid (the plan checked it).
  for (const [tool, ranges] of [["newuidmap", m.uid], ["newgidmap", m.gid]] as const) {
    const args = [tool, String(pid), ...ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)])];
    const w = runHelper(args);
    if (w.code !== 0)
      throw new SysError(tool, "EPERM", 1, formatIdMap(ranges).trim().replace(/\n/g, "; "), undefined,
        `${tool} failed (status ${proc.shellStatus(w)}); is the uidmap package installed and /etc/subuid set?`);
  }
}

/** fork + exec a helper program found on the host PATH, and wait for it. */
function runHelper(argv: string[]): proc.WaitResult {
  const pid = proc.fork();
  if (pid === 0) {
    proc.resetSignalsForExec();
    for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) proc.execve(`${dir}/${argv[0]}`, argv, []);
    proc.exitNow(127);
  }
  return proc.waitPid(pid)!;
}

/** Hooks for jails that are managed by name (jail/register.ts); absent for a plain run. */
export interface JailEvents {
  /** the jail's init exists (before "go"); throwing here ends the jail */
  cloned(initPid: number, cgroupDirs: string[]): void;
  /** the program has been executed */
  started(initPid: number): void;
}

/** What the supervisor needs besides the plan, prepared (and loaded) by the caller. */
export interface Prepared {
  events?: JailEvents;
  /** the compiled seccomp filter, or null without one */
  seccomp: Buffer | null;
  /** the cgroup library, loaded only when the plan has limits */
  cgroups: typeof import("../sys/cgroup/index.ts") | null;
  /** jailx learn: what watches the program (jail/learn/session.ts) */
  observer?: Observer;
  /** one line for the user before the jail starts (e.g. where its cgroup went, and why) */
  notice?: (line: string) => void;
  /** the stage path: what the waiter must also do at the end (a named jail's entry and record),
   * and the descriptors it must keep for that */
  waiter?: () => { args: string[]; keep: number[] };
}

/**
 * Something that watches the jail from the supervisor's loop (jailx learn). `filter` is built
 * once the message socket's number is known; the program's process installs it last.
 */
export interface Observer {
  filter(childSock: number): Buffer;
  /** the jail announced a listener; `jailPid` is the host pid of the jail's first process */
  listener(msg: FromChild & { t: "listener" }, jailPid: number, asPid1: boolean): void;
  /** descriptors to poll besides the supervisor's own */
  fds(): number[];
  ready(fd: number, revents: number): void;
}

/** The jail cgroup and its cleanup guard; a systemd scope is made only once the jail's init exists. */
export interface CgroupState {
  cgroup: JailCgroup | null;
  guard: Guard | null;
  /** keeps a systemd scope around the jail alive until the outcome is known */
  holder?: Guard;
  /** create the jail cgroup around the (waiting) init — a transient scope */
  around?: (pid: number) => JailCgroup | null;
  /**
   * removes stale jail cgroups (a SIGKILLed supervisor whose guard died too); called by the
   * supervisor where it would otherwise wait for the jail. Never fails the run.
   */
  tidy?: () => void;
}

/**
 * The jail cgroup, created now (with its cleanup guard), or — for a systemd scope, which needs
 * the jail's pid — a way to create it around the waiting init (`around`).
 */
export function placeCgroup(plan: Plan, prepared: Prepared, logStep: StepLogger, guards: GuardStarter): CgroupState {
  const { cgroups } = prepared;
  const cg: CgroupState = { cgroup: null, guard: null };
  if (plan.cgroup) {
    if (!cgroups) throw new Error("supervise: the plan has cgroup limits but the cgroup library was not loaded");
    logStep("create the jail cgroup");
    const given = plan.cgroup.parent !== undefined;
    // A default limit never makes a run fail; --verbose says when it is dropped. Not a warning
    // on every run: on such hosts it would come with every run, into the program's stderr, and
    // teach people to ignore jailx's warnings (--help and --dry-run show the default).
    let placed: JailPlacement | null;
    try {
      placed = cgroups.placeJail(plan.cgroup);
    } catch (err) {
      const rest = cgroups.dropDefaults(plan.cgroup, err, logStep);
      placed = rest ? cgroups.placeJail(rest) : null;
    }
    if (placed) {
      const cgPlan = placed.plan;
      // Where the jail's cgroup went matters to whoever asked for a limit; for the default alone
      // it is --verbose detail (see above).
      if (placed.notice) (cgroups.withoutDefaults(cgPlan) === null ? logStep : (prepared.notice ?? logStep))(placed.notice);
      cg.tidy = () => {
        try {
          cgroups.cleanupStaleJailCgroups({ parent: cgPlan.parent });
        } catch {
          // e.g. no cgroup filesystem at all: creating the jail's said so already
        }
      };
      if (placed.scope) {
        const user = placed.scope.user;
        const scope = (p: CgroupPlan, pid: number): JailCgroup => {
          cg.holder = guards.holder();
          return cgroups.jailScope(p, user, pid, cg.holder.pid);
        };
        cg.around = (pid) => {
          try {
            return scope(cgPlan, pid);
          } catch (err) {
            cg.holder?.stop();
            delete cg.holder;
            const rest = cgroups.dropDefaults(cgPlan, err, logStep, given);
            return rest ? scope(rest, pid) : null;
          }
        };
      } else {
        const name = `jailx-${proc.getpid()}-${Math.random().toString(36).slice(2, 8)}`;
        cg.cgroup = cgroups.JailCgroup.createAllowingDefaults(cgPlan, name, {}, logStep, given);
        if (cg.cgroup) cg.guard = guards.cleanup(cg.cgroup);
      }
    }
  }
  return cg;
}

/** How guards are started: forked Bun processes here, the embedded helper on the stage path. */
export interface GuardStarter {
  cleanup(cgroup: JailCgroup): Guard;
  holder(): Guard;
}

const bunGuards: GuardStarter = {
  cleanup(cgroup) {
    proc.prepareForFork();
    return startCleanupGuard(cgroup);
  },
  holder() {
    proc.prepareForFork();
    return startHolder();
  },
};

export function supervise(plan: Plan, prepared: Prepared, logStep: StepLogger = () => {}): Outcome {
  proc.assertSingleThreaded("clone");
  const cg = placeCgroup(plan, prepared, logStep, bunGuards);
  cg.tidy?.();
  try {
    return superviseJail(plan, prepared.seccomp, cg, logStep, prepared.observer, prepared.events);
  } finally {
    releaseCgroup(cg, logStep);
  }
}

/** Kill what is left in the jail cgroup, remove it, and stop its guard and holder. */
export function releaseCgroup(cg: CgroupState, logStep: StepLogger): void {
  if (cg.cgroup) {
    logStep("remove the jail cgroup");
    cg.cgroup.killAll();
    cg.cgroup.remove();
  }
  cg.guard?.stop();
  cg.holder?.stop();
}

function superviseJail(plan: Plan, seccomp: Buffer | null, cg: CgroupState, logStep: StepLogger, observer?: Observer, events?: JailEvents): Outcome {
  const [sock, childSock] = channel();
  const learn = observer?.filter(childSock);
  // Shared with the jail (mapped before clone): how a failed execve after the filter is told.
  const report = new ExecReport();
  // Blocked before clone: the jail inherits the mask, so its init loses no signal either.
  proc.blockSignals([...proc.FORWARDED_SIGNALS, SIG.CHLD]);
  const sigfd = proc.signalFd([...proc.FORWARDED_SIGNALS, SIG.CHLD]);
  proc.prepareForFork();
  logStep("clone into new namespaces");
  proc.assertSingleThreaded("clone");
  const pid = proc.cloneProcess(cloneFlags(plan));
  if (pid === 0) {
    proc.closeFd(sock);
    proc.closeFd(sigfd);
    jailMain(plan, childSock, seccomp, report, learn);
  }
  proc.closeFd(childSock);
  // With --as-pid-1 nothing of jailx stays inside to end the jail when we die (a cgroup
  // guard, when there is one, kills the cgroup anyway); see startKillGuard.
  let killGuard: Guard | null = null;
  try {
    // A systemd scope (cg.around) comes after clone; its cleanup guard kills the cgroup, but the
    // scope may still be dropped (a default limit), so the kill guard runs until then too.
    if (plan.asPid1 && !cg.cgroup) killGuard = startKillGuard(pid);
    return waitForJail(plan, pid, sock, sigfd, cg, logStep, observer, events, report);
  } finally {
    killGuard?.stop();
  }
}

function waitForJail(plan: Plan, pid: number, sock: number, sigfd: number, cg: CgroupState, logStep: StepLogger, observer?: Observer, events?: JailEvents, report?: ExecReport): Outcome {
  let error: FromChild & { t: "error" } | null = null;
  let ended: FromChild & { t: "exit" } | null = null;
  let waited: proc.WaitResult | null = null;
  let timedOut = false;
  try {
    if (plan.idmap) {
      logStep("write the id maps");
      writeMaps(plan, pid);
    }
    send(sock, { t: "go" });
    // While the jail builds its filesystem: a migration waits for an RCU grace period, a
    // transient scope for systemd.
    try {
      if (cg.cgroup) cg.cgroup.addProcess(pid);
      else if (cg.around) {
        logStep("ask systemd for the jail's scope");
        cg.cgroup = cg.around(pid);
        if (cg.cgroup) {
          proc.prepareForFork();
          cg.guard = startCleanupGuard(cg.cgroup);
        }
      }
    } catch (err) {
      // The jail may have failed (and exited) meanwhile: then its message says why.
      if (proc.pollFds([sock], 0) === null) throw err;
    }
    // After placement: a systemd scope's cgroup is known only now (the program has not run yet).
    events?.cloned(pid, cg.cgroup?.paths() ?? []);
    send(sock, { t: "placed" });
  } catch (err) {
    proc.kill(pid, SIG.KILL);
    proc.waitPid(pid);
    throw err;
  }
  logStep("wait for the program");

  const deadline = plan.timeoutMs === null ? null : Date.now() + plan.timeoutMs;
  let killAt: number | null = null;
  let sockOpen = true;
  let started = false;
  // With --as-pid-1 nothing is left to say "started": the socket's EOF (close-on-exec) means it.
  const start = () => {
    if (started || error || !events) return;
    started = true;
    events.started(pid);
  };
  while (!waited) {
    const now = Date.now();
    const next = killAt ?? deadline;
    const extra = observer?.fds() ?? [];
    const ready = proc.pollFds([sigfd, sockOpen ? sock : -1, ...extra], next === null ? -1 : Math.max(0, next - now));
    if (ready === null) {
      if (killAt === null) {
        timedOut = true;
        proc.kill(pid, SIG.TERM);
        killAt = Date.now() + TIMEOUT_GRACE_MS;
      } else {
        proc.kill(pid, SIG.KILL);
        killAt = Number.MAX_SAFE_INTEGER;
      }
      continue;
    }
    if (sockOpen && ready[1]! & (proc.POLLIN | proc.POLLHUP)) {
      const raw = receive(sock);
      if (raw === null) sockOpen = false;
      const msg = asFromChild(raw);
      if (msg?.t === "error") error ??= msg;
      if (msg?.t === "exit") ended = msg;
      if (msg?.t === "listener") observer?.listener(msg, pid, plan.asPid1);
      if (msg?.t === "started" || (raw === null && plan.asPid1 && isRunning(pid))) start();
    }
    extra.forEach((fd, i) => ready[2 + i] && observer!.ready(fd, ready[2 + i]!));
    if (ready[0]! & proc.POLLIN) {
      const info = proc.readSignal(sigfd);
      if (!info) continue;
      if (info.signo === SIG.CHLD) waited = proc.waitPid(pid, true);
      // A terminal's signals reach the jail's process group directly; forward the others.
      else if (info.code !== proc.SI_KERNEL) proc.kill(pid, info.signo);
    }
  }
  // Messages sent just before the jail ended.
  while (sockOpen) {
    const ready = proc.pollFds([sock], 0);
    if (!ready) break;
    const raw = receive(sock);
    if (raw === null) break;
    const msg = asFromChild(raw);
    if (msg?.t === "error") error ??= msg;
    if (msg?.t === "exit") ended = msg;
  }
  proc.closeFd(sock);
  proc.closeFd(sigfd);
  const failed = report?.read(plan.command[0]!);
  if (failed && !error) {
    // The program's process found the file before its filter, so ENOENT means its interpreter.
    const f = execFailure(plan, failed, true);
    error = { t: "error", step: "exec", message: f.message, exit: f.exit };
  }
  return outcome(plan, waited, ended, error, timedOut, cg.cgroup);
}

function outcome(
  plan: Plan,
  waited: proc.WaitResult,
  ended: (FromChild & { t: "exit" }) | null,
  error: (FromChild & { t: "error" }) | null,
  timedOut: boolean,
  cgroup: JailCgroup | null,
): Outcome {
  if (error) {
    const where = error.step === "exec" ? "" : `${error.step}: `;
    return { status: error.exit, message: where + error.message };
  }
  // With jailx's init, the program's status comes in a message; with --as-pid-1 it is PID 1's.
  const program: proc.WaitResult = plan.asPid1 || !ended ? waited : { pid: waited.pid, ...ended };
  if (timedOut) return { status: EXIT.TIMEOUT, message: `killed: timeout after ${fmtMs(plan.timeoutMs!)}` };
  if (program.signal === SIG.KILL && cgroup?.oomKilled()) return { status: EXIT.OOM, message: cgroup.describeOom() };
  if (!plan.asPid1 && !ended && waited.signal !== undefined)
    return { status: 128 + waited.signal, message: `the jail's init was killed by signal ${waited.signal}` };
  return { status: proc.shellStatus(program) };
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
