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
import { NS_FLAG, type NamespaceName } from "../sys/ns.ts";
import { writeIdMaps, formatIdMap } from "../sys/ids.ts";
import type { JailCgroup } from "../sys/cgroup/index.ts";
import { realKernel } from "./kernel.ts";
import { setupNamespace, traceStep } from "./child.ts";
import { execOrReport, runInit } from "./init.ts";
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
function jailMain(plan: Plan, sock: number, seccomp: Buffer | null): never {
  let step = "wait for the supervisor";
  try {
    proc.setParentDeathSignal(SIG.KILL);
    // "go" arrives once maps and cgroup are in place; EOF means the supervisor died already.
    const go = receive(sock);
    if (go === null) proc.exitNow(EXIT.JAILX);
    step = "set up the namespaces";
    traceStep(plan, "jail: set up the namespaces");
    setupNamespace(plan, realKernel);
    step = "start the program";
    traceStep(plan, "jail: start the program");
    if (plan.asPid1) execOrReport(plan, realKernel, sock, seccomp);
    runInit(plan, realKernel, sock, seccomp);
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

/** What the supervisor needs besides the plan, prepared (and loaded) by the caller. */
export interface Prepared {
  /** the compiled seccomp filter, or null without one */
  seccomp: Buffer | null;
  /** the cgroup library, loaded only when the plan has limits */
  cgroups: typeof import("../sys/cgroup/index.ts") | null;
  /** one line for the user before the jail starts (e.g. where its cgroup went, and why) */
  notice?: (line: string) => void;
}

/** The jail cgroup and its cleanup guard; a systemd scope is made only once the jail's init exists. */
interface CgroupState {
  cgroup: JailCgroup | null;
  guard: Guard | null;
  /** keeps a systemd scope around the jail alive until the outcome is known */
  holder?: Guard;
  /** create the jail cgroup around the (waiting) init — a transient scope */
  around?: (pid: number) => JailCgroup;
}

export function supervise(plan: Plan, prepared: Prepared, logStep: StepLogger = () => {}): Outcome {
  proc.assertSingleThreaded("clone");
  const { seccomp, cgroups } = prepared;
  const cg: CgroupState = { cgroup: null, guard: null };
  if (plan.cgroup) {
    if (!cgroups) throw new Error("supervise: the plan has cgroup limits but the cgroup library was not loaded");
    logStep("create the jail cgroup");
    const placed = cgroups.placeJail(plan.cgroup);
    if (placed.notice) prepared.notice?.(placed.notice);
    const cgPlan = placed.plan;
    cgroups.cleanupStaleJailCgroups({ parent: cgPlan.parent });
    if (placed.scope) {
      const user = placed.scope.user;
      cg.around = (pid) => {
        proc.prepareForFork();
        cg.holder = startHolder();
        return cgroups.jailScope(cgPlan, user, pid, cg.holder.pid);
      };
    } else {
      cg.cgroup = cgroups.JailCgroup.create(cgPlan, `jailx-${proc.getpid()}-${Math.random().toString(36).slice(2, 8)}`);
      proc.prepareForFork();
      cg.guard = startCleanupGuard(cg.cgroup);
    }
  }
  try {
    return superviseJail(plan, seccomp, cg, logStep);
  } finally {
    if (cg.cgroup) {
      logStep("remove the jail cgroup");
      cg.cgroup.killAll();
      cg.cgroup.remove();
    }
    cg.guard?.stop();
    cg.holder?.stop();
  }
}

function superviseJail(plan: Plan, seccomp: Buffer | null, cg: CgroupState, logStep: StepLogger): Outcome {
  const [sock, childSock] = channel();
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
    jailMain(plan, childSock, seccomp);
  }
  proc.closeFd(childSock);
  // With --as-pid-1 nothing of jailx stays inside to end the jail when we die (a cgroup
  // guard, when there is one, kills the cgroup anyway); see startKillGuard.
  let killGuard: Guard | null = null;
  try {
    if (plan.asPid1 && !cg.cgroup && !cg.around) killGuard = startKillGuard(pid);
    return waitForJail(plan, pid, sock, sigfd, cg, logStep);
  } finally {
    killGuard?.stop();
  }
}

function waitForJail(plan: Plan, pid: number, sock: number, sigfd: number, cg: CgroupState, logStep: StepLogger): Outcome {
  let error: FromChild & { t: "error" } | null = null;
  let ended: FromChild & { t: "exit" } | null = null;
  let waited: proc.WaitResult | null = null;
  let timedOut = false;
  try {
    if (plan.idmap) {
      logStep("write the id maps");
      writeMaps(plan, pid);
    }
    if (cg.cgroup) cg.cgroup.addProcess(pid);
    else if (cg.around) {
      logStep("ask systemd for the jail's scope");
      cg.cgroup = cg.around(pid);
      proc.prepareForFork();
      cg.guard = startCleanupGuard(cg.cgroup);
    }
    send(sock, { t: "go" });
  } catch (err) {
    proc.kill(pid, SIG.KILL);
    proc.waitPid(pid);
    throw err;
  }
  logStep("wait for the program");

  const deadline = plan.timeoutMs === null ? null : Date.now() + plan.timeoutMs;
  let killAt: number | null = null;
  let sockOpen = true;
  while (!waited) {
    const now = Date.now();
    const next = killAt ?? deadline;
    const ready = proc.pollFds(sockOpen ? [sigfd, sock] : [sigfd], next === null ? -1 : Math.max(0, next - now));
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
    }
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
