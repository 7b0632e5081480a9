// `jailx exec`: a new process inside a running jail. It joins the namespaces and root of the
// jail's program and the jail's cgroup, then goes through the very steps the jail's own program
// went through (jail/child.ts becomeProgram: fds, session, bounding set, ids, capabilities,
// no_new_privs, Landlock, signals, seccomp, execve) with the plan from the supervisor's sealed
// record — so it never has more privilege than the jail. This is the one place that knows how
// to join a jail; a later start-up stage can replace it behind `joinJail`.
//
// This is the Bun way, single-threaded (sys/reexec.ts re-executes `jailx exec`: setns into a
// user namespace refuses a multi-threaded caller); jail/stage/join.ts is the stage's way, taken
// where the stage can run.
import { openSync, readFileSync, readlinkSync, writeSync } from "node:fs";
import { UsageError } from "../sys/errors.ts";
import * as proc from "../sys/proc.ts";
import { NS_FLAG, enterRootFd, type NamespaceName } from "../sys/ns.ts";
import { findUser, findGroup } from "../sys/ids.ts";
import { pidfdWaitExit, setnsPidfd } from "../sys/pidfd.ts";
import { realKernel } from "./kernel.ts";
import { execFailure, execOrReport } from "./init.ts";
import { ExecReport } from "./exec-report.ts";
import { asFromChild, channel, receive, send, type FromChild } from "./protocol.ts";
import { openVerified, type Judged } from "./state.ts";
import type { Plan } from "./plan.ts";

const { SIG } = proc;
const O_PATH = 0o10000000, O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000;
const NS_ORDER: [NamespaceName, string][] = [
  ["user", "user"], ["mount", "mnt"], ["pid", "pid_for_children"], ["uts", "uts"], ["ipc", "ipc"], ["net", "net"], ["cgroup", "cgroup"],
];

export interface JoinOptions {
  command: string[];
  /** USER|UID[:GID] inside the jail; default: the jail program's user */
  user?: string;
  /** keep the caller's terminal and process group (job control) instead of a new session */
  tty: boolean;
}

export interface JoinResult {
  status: number;
  message?: string;
}

/** The jail program's namespaces that differ from ours: the ones to join. */
export function nsFlags(pid: number): number {
  let flags = 0;
  for (const [name, link] of NS_ORDER) {
    const theirs = readlinkSync(`/proc/${pid}/ns/${link === "pid_for_children" ? "pid" : link}`);
    const ours = readlinkSync(`/proc/self/ns/${link === "pid_for_children" ? "pid" : link}`);
    if (theirs !== ours) flags |= NS_FLAG[name];
  }
  return flags;
}

/** The plan for the new process: the jail's, with another command (and maybe user). */
export function execPlan(plan: Plan, o: JoinOptions): Plan {
  return { ...plan, command: o.command, asPid1: false, newSession: !o.tty, passFds: [], verbose: false };
}

/** --user, resolved in the jail's /etc/passwd (`root`: where the jail's root is seen from here). */
export function resolveUser(plan: Plan, spec: string, root = ""): Plan["user"] {
  const [u, g] = spec.split(":") as [string, string | undefined];
  const read = (f: string) => {
    try {
      return readFileSync(root + f, "utf8");
    } catch {
      return "";
    }
  };
  const entry = findUser(read("/etc/passwd"), u);
  if (!entry && !/^\d+$/.test(u)) throw new UsageError(`--user '${u}': no such user in the jail's /etc/passwd; give a number (--user 1000:1000)`);
  const uid = entry?.uid ?? Number(u);
  let gid = entry?.gid ?? uid;
  if (g !== undefined) {
    const found = /^\d+$/.test(g) ? Number(g) : findGroup(read("/etc/group"), g);
    if (found === null) throw new UsageError(`--user '${spec}': no such group '${g}' in the jail; give a number`);
    gid = found;
  }
  return { ...plan.user, uid, gid, groups: [], home: entry?.home ?? "/" };
}

/**
 * The jail's program runs next to us and may try to ptrace this process before its execve (it
 * is not under seccomp yet). A change of ids resets the dumpable flag to fs.suid_dumpable, so
 * after the capability sets (the step right after the id switch) it is cleared again.
 */
const nonDumpableKernel = {
  ...realKernel,
  setCapSets: (p: bigint, e: bigint, i: bigint) => {
    realKernel.setCapSets(p, e, i);
    realKernel.setDumpable(false);
  },
};

/** What joining takes, opened from the host while the jail's program is verified alive. */
export interface JoinTarget {
  name: string;
  /** a pidfd of the jail's program */
  target: number;
  pid: number;
  /** the namespaces to join */
  flags: number;
  /** O_PATH descriptor of the program's root */
  rootFd: number;
  /** the jail's cgroup.procs files, open for writing */
  procs: number[];
}

export function openJoinTarget(j: Judged & { kind: "live" }): JoinTarget {
  const rec = j.record;
  const name = rec.name;
  // The program, not init: init is non-dumpable with the host's mm, so a rootless caller could
  // not read its root or namespaces; the program's are the ones to match anyway.
  const target = openVerified(rec.program, rec.plan.asPid1 ? rec.supervisor.pid : rec.init.pid);
  if (target === null) throw new UsageError(`jail '${name}': its program has ended`);
  const pid = rec.program.pid;
  const flags = nsFlags(pid);
  const rootFd = openSync(`/proc/${pid}/root`, O_PATH | O_DIRECTORY | O_CLOEXEC);
  // The jail's own cgroups, opened while we still see the host's cgroup filesystem.
  const procs = rec.cgroups.map((d) => openSync(`${d}/cgroup.procs`, "w"));
  // All of it read while the pidfd shows the program alive: it was that process's.
  if (pidfdWaitExit(target, 0)) throw new UsageError(`jail '${name}': its program has ended`);
  return { name, target, pid, flags, rootFd, procs };
}

/** Put the new process `child` in the jail's cgroups (one write each: the whole pid). */
export function enterCgroups(t: JoinTarget, child: number): void {
  for (const fd of t.procs) {
    writeSync(fd, String(child));
    proc.closeFd(fd);
  }
}

export function joinJail(j: Judged & { kind: "live" }, o: JoinOptions, seccomp: Buffer | null): JoinResult {
  const rec = j.record;
  const t = openJoinTarget(j);
  const { name, target, flags, rootFd } = t;

  proc.blockSignals([...proc.FORWARDED_SIGNALS, SIG.CHLD]);
  const sigfd = proc.signalFd([...proc.FORWARDED_SIGNALS, SIG.CHLD]);
  const [sock, childSock] = channel();
  // A failed execve after the jail's filter is reported through shared memory (as in run).
  const report = new ExecReport();
  const execTarget = execPlan(rec.plan, o);
  // Both read our /proc: after setns the mount namespace (and its /proc) is the jail's.
  proc.prepareForFork();
  proc.assertSingleThreaded("setns");
  // Nothing in the jail may ptrace us or read our /proc files while we hold host descriptors.
  proc.setDumpable(false);
  setnsPidfd(target, flags);
  proc.closeFd(target);
  let child: number;
  try {
    child = proc.fork();
  } catch {
    throw new UsageError(`jail '${name}' has ended`);
  }
  if (child === 0) {
    proc.closeFd(sock);
    proc.closeFd(sigfd);
    let plan = execTarget;
    try {
      proc.setParentDeathSignal(SIG.KILL);
      if (receive(childSock) === null) proc.exitNow(125);
      enterRootFd(rootFd);
      proc.closeFd(rootFd);
      if (o.user !== undefined) plan = { ...plan, user: resolveUser(plan, o.user) };
    } catch (err) {
      send(childSock, { t: "error", step: "join", message: err instanceof Error ? err.message : String(err), exit: 125 });
      proc.exitNow(125);
    }
    execOrReport(plan, nonDumpableKernel, childSock, seccomp, undefined, report);
  }
  proc.closeFd(childSock);
  proc.closeFd(rootFd);
  try {
    enterCgroups(t, child);
    send(sock, { t: "go" });
  } catch (err) {
    proc.kill(child, SIG.KILL);
    proc.waitPid(child);
    throw err;
  }
  return waitForChild(child, sock, sigfd, !o.tty, () => {
    const failed = report.read(execTarget.command[0]!);
    return failed ? execFailure(execTarget, failed, true) : null;
  });
}

function waitForChild(child: number, sock: number, sigfd: number, newSession: boolean, execFailed: () => { message: string; exit: number } | null): JoinResult {
  let error: (FromChild & { t: "error" }) | null = null;
  let sockOpen = true;
  for (;;) {
    const ready = proc.pollFds(sockOpen ? [sigfd, sock] : [sigfd], -1);
    if (!ready) continue;
    if (sockOpen && ready[1]! & (proc.POLLIN | proc.POLLHUP)) {
      const raw = receive(sock);
      if (raw === null) sockOpen = false;
      const msg = asFromChild(raw);
      if (msg?.t === "error") error ??= msg;
    }
    if (ready[0]! & proc.POLLIN) {
      const info = proc.readSignal(sigfd);
      if (!info) continue;
      if (info.signo === SIG.CHLD) {
        const w = proc.waitPid(child, true);
        if (!w) continue;
        if (error) return { status: error.exit, message: (error.step === "exec" ? "" : `${error.step}: `) + error.message };
        const failed = execFailed();
        if (failed) return { status: failed.exit, message: failed.message };
        return { status: proc.shellStatus(w) };
      }
      // Terminal signals already reached the child in our process group (with -t).
      if (info.code !== proc.SI_KERNEL || newSession) proc.kill(child, info.signo);
    }
  }
}
