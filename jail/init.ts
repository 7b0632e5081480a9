// jailx's init: PID 1 of the jail. It starts the program, passes signals on, reaps orphans,
// and reports the program's end to the supervisor. The payload's own side is becomeProgram().
import { existsSync } from "node:fs";
import { errnoName } from "../sys/errno.ts";
import { SysError } from "../sys/errors.ts";
import * as proc from "../sys/proc.ts";
import { becomeProgram, dropPrivileges, type ExecFailure } from "./child.ts";
import type { Kernel } from "./kernel.ts";
import type { Plan } from "./plan.ts";
import { channel, receive, send, type FromChild } from "./protocol.ts";
import { Daemon } from "./daemon.ts";
import type { ExecReport } from "./exec-report.ts";

const { SIG } = proc;

/** The message and exit status for a failed execve (126: cannot execute, 127: not found). */
export function execFailure(plan: Plan, f: ExecFailure, exists?: boolean): { message: string; exit: number } {
  const prog = plan.command[0]!;
  // ENOENT for a file that exists: its ELF interpreter (the dynamic loader) or a script's
  // #! interpreter is missing inside the jail. (`exists` comes from the jail's own lookup;
  // without it the check runs here, in the jail, so it sees the jail's view.)
  if (f.errno === 2 && (exists ?? existsSync(f.path)))
    return { message: `${f.path}: its interpreter (dynamic loader or #! program) is missing inside the jail; bind it (e.g. --ro-bind /lib64)`, exit: 127 };
  if (f.errno === 2)
    return {
      message: prog.includes("/")
        ? `${prog}: not found inside the jail (bind its directory with --ro-bind)`
        : `${prog}: command not found inside the jail (PATH=${plan.env.PATH ?? ""})`,
      exit: 127,
    };
  const why = { 13: "permission denied, or its filesystem is mounted noexec", 8: "not an executable format", 21: "is a directory", 1: "operation not permitted" }[f.errno];
  return { message: `${f.path}: cannot execute: ${errnoName(f.errno)}${why ? ` (${why})` : ""}`, exit: 126 };
}

/** In the program's process: set up and execve; on failure report and exit 126/127. */
export function execOrReport(plan: Plan, k: Kernel, sock: number, seccomp: Buffer | null, learn?: Buffer, execReport?: ExecReport): never {
  let failure: { message: string; exit: number };
  try {
    // Returns only before the filter (no target, or a setup step failed); after it, a failed
    // execve goes through `report` (jail/exec-report.ts).
    failure = execFailure(plan, becomeProgram(plan, k, sock, seccomp, learn, execReport));
  } catch (err) {
    failure = { message: err instanceof Error ? err.message : String(err), exit: 125 };
  }
  send(sock, { t: "error", step: "exec", ...failure });
  return proc.exitNow(failure.exit);
}

/** PID 1 of the jail when the program is not PID 1 itself. Never returns. */
export function runInit(plan: Plan, k: Kernel, sock: number, seccomp: Buffer | null, learn?: Buffer, execReport?: ExecReport): never {
  // Signals stay blocked (inherited from the supervisor) until the program resets them just
  // before execve, so none is lost between fork and signalfd.
  // The program may run as the same user: init is non-dumpable from before the fork, so the
  // program can never ptrace it or open /proc/1/exe (execve makes the program dumpable again).
  k.setDumpable(false);
  // A change of ids (dropPrivileges below, with --user) makes the kernel reset our dumpable
  // flag to fs.suid_dumpable; where that is 1, the program could then read /proc/1/environ and
  // write /proc/1/mem. So the program's process waits until init has dropped its privileges
  // and is non-dumpable again before it goes on to execve.
  const [held, release] = proc.pipe();
  // The program's process reports a failed execve on its own socket (close-on-exec): init
  // relays what it says, and its EOF without a word means the execve happened.
  const [execDone, execSock] = channel();
  const pid = proc.fork();
  if (pid === 0) {
    proc.closeFd(release);
    proc.closeFd(execDone);
    // The program's socket takes the supervisor socket's number: jailx learn's filter lets
    // exactly one write on that number through (jail/learn/filter.ts), its listener message.
    proc.moveFd(execSock, sock);
    proc.waitForEof(held);
    proc.closeFd(held);
    execOrReport(plan, k, sock, seccomp, learn, execReport);
  }
  proc.closeFd(held);
  proc.closeFd(execSock);

  // The program may signal us (same user, CAP_KILL). The kernel drops signals sent from inside
  // the namespace to its PID 1 when their handler is SIG_DFL, but Bun handles SIGSEGV, SIGBUS,
  // … to print a crash report and then aborts: `kill -BUS 1` would end the jail with a bogus
  // crash. Default handlers make those signals no-ops for us; a real fault still kills (the
  // kernel forces it).
  proc.defaultHandlers(proc.CRASH_REPORT_SIGNALS);
  const sigfd = proc.signalFd([...proc.FORWARDED_SIGNALS, SIG.CHLD]);
  k.closeFdsExcept([sock, sigfd, release, execDone]);
  // Give init nothing more than the program has.
  try {
    dropPrivileges(plan, k, [], []);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
  }
  k.setDumpable(false);
  proc.closeFd(release);
  k.setParentDeathSignal(SIG.KILL);
  let failed = false;
  for (let m = receive(execDone); m !== null; m = receive(execDone)) {
    // An error ends the program's process; jailx learn's listener message comes before execve.
    if ((m as FromChild).t === "error") failed = true;
    send(sock, m as FromChild); // untrusted either way: the supervisor checks every message
  }
  proc.closeFd(execDone);
  if (!failed) send(sock, { t: "started" });

  const report = (w: proc.WaitResult): never => {
    send(sock, w.signal !== undefined ? { t: "exit", signal: w.signal } : { t: "exit", code: w.code ?? 0 });
    return proc.exitNow(0);
  };
  // Set once a --forking program has exited 0 leaving processes behind (jail/daemon.ts).
  let daemon = null as Daemon | null;
  /** Reap every child that has ended; report and exit when the program (or its daemon) has. */
  const reap = (): void => {
    for (;;) {
      // Tell the main process while it is still a child (a zombie counts): after the reap
      // below it could no longer be recognised.
      daemon?.mainPid();
      const w = proc.waitPid(-1, true);
      if (!w) break;
      if (daemon?.ended(w.pid, w.signal === undefined && w.code === 0)) report(w);
      if (daemon || w.pid !== pid) continue;
      // The program has ended. A daemonizing one that succeeded and left processes behind
      // hands over to its daemon; anything else ends the jail now, as without --forking.
      if (plan.forking && w.signal === undefined && w.code === 0 && !new Daemon(null).empty()) daemon = new Daemon(plan.forking.pidFile);
      else report(w);
    }
    // Every process of the daemon is gone without the main one being known: a clean end.
    if (daemon?.empty()) report({ pid: 0, code: 0 });
  };
  for (;;) {
    const ready = proc.pollFds([sigfd, sock], -1);
    // The supervisor is gone: end the jail (PID 1 exiting kills the whole pid namespace).
    if (ready && ready[1]! & proc.POLLHUP) proc.exitNow(1);
    if (!ready || !(ready[0]! & proc.POLLIN)) continue;
    const info = proc.readSignal(sigfd);
    if (!info) continue;
    if (info.signo === SIG.CHLD) {
      reap();
      continue;
    }
    // A terminal's Ctrl-C (si_code SI_KERNEL) already reached the program in our process
    // group; pass on only what was sent to us (by the supervisor), unless the program runs in
    // its own session.
    if (info.code === proc.SI_KERNEL && !plan.newSession) continue;
    // A daemonizing program may have exited with its SIGCHLD still queued behind this signal:
    // sent to its zombie, the signal would be lost. Reap first, so that it reaches the daemon.
    if (plan.forking && !daemon) reap();
    for (const p of daemon ? daemon.signalTargets() : [pid]) proc.kill(p, info.signo);
  }
}
