// Supervisor side of learning: takes the listener out of the program's process, then, from the
// supervisor's poll loop, receives each notification, records it and lets the syscall continue.
//
// Why poll in the supervisor's own loop (no thread, no blocking ioctl): the supervisor is one
// JavaScript thread that already polls its signalfd and the message socket; the listener is one
// more descriptor there. A blocking SECCOMP_IOCTL_NOTIF_RECV would stall signal forwarding and
// the jail's end until the next syscall of the program.
import { readFileSync, readlinkSync } from "node:fs";
import { c } from "../../sys/ffi.ts";
import * as proc from "../../sys/proc.ts";
import { continueSyscall, receive, stillWaiting, type Notification } from "../../sys/seccomp/notify.ts";
import { openPidfd, pidfdGetfd } from "../../sys/pidfd.ts";
import type { FromChild } from "../protocol.ts";
import type { Observer } from "../supervisor.ts";
import { compileLearnFilter } from "./filter.ts";
import { Recorder } from "./recorder.ts";
import type { MountOp } from "../mounts.ts";

export class LearnSession implements Observer {
  readonly recorder: Recorder;
  private listenerFd = -1;
  /** why learning could not attach, when it could not (the jail is then killed) */
  failure: string | null = null;
  notifications = 0;

  constructor(program: string, mounts: readonly MountOp[], private readonly notifyAll: boolean) {
    this.recorder = new Recorder(program, mounts);
  }

  filter(childSock: number): Buffer {
    return compileLearnFilter(childSock, this.notifyAll);
  }

  listener(msg: FromChild & { t: "listener" }, jailPid: number, asPid1: boolean): void {
    if (this.listenerFd >= 0) return;
    try {
      this.listenerFd = this.take(msg, jailPid, asPid1);
    } catch (err) {
      // The program's process waits on its next syscall for a listener nobody holds: end it.
      this.failure = `cannot attach the learner: ${err instanceof Error ? err.message : String(err)}`;
      proc.kill(jailPid, proc.SIG.KILL);
    }
  }

  /**
   * The program's process is the jail's first process (--as-pid-1) or the only child of
   * jailx's init, and has not run the program yet: jailx's own code announced the descriptor.
   * Still, check the pid inside the jail matches, and that what we got is a seccomp listener.
   */
  private take(msg: FromChild & { t: "listener" }, jailPid: number, asPid1: boolean): number {
    let pid = jailPid;
    if (!asPid1) {
      const kids = readFileSync(`/proc/${jailPid}/task/${jailPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      if (kids.length !== 1) throw new Error(`jailx's init has ${kids.length} children, expected the program's process only`);
      pid = Number(kids[0]);
    }
    const pidfd = openPidfd(pid);
    if (typeof pidfd === "string") throw new Error(`pidfd_open ${pid}: ${pidfd}`);
    try {
      const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]?.trim().split(/\s+/).pop();
      if (Number(nspid) !== msg.pid) throw new Error(`pid ${pid} is ${nspid} inside the jail, not ${msg.pid}`);
      const fd = pidfdGetfd(pidfd, msg.fd);
      if (typeof fd === "string") throw new Error(`pidfd_getfd (fd ${msg.fd}): ${fd}`);
      if (readlinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:seccomp notify") {
        c.close(fd);
        throw new Error(`descriptor ${msg.fd} of the program's process is not a seccomp listener`);
      }
      return fd;
    } finally {
      c.close(pidfd);
    }
  }

  fds(): number[] {
    return this.listenerFd >= 0 ? [this.listenerFd] : [];
  }

  ready(fd: number, revents: number): void {
    if (fd !== this.listenerFd) return;
    // POLLHUP: no task uses the filter any more (the program and its children ended).
    if (!(revents & proc.POLLIN)) {
      if (revents & proc.POLLHUP) this.close();
      return;
    }
    let n: Notification | null;
    try {
      n = receive(fd);
    } catch (err) {
      this.error(err);
      return;
    }
    if (!n) return;
    this.notifications++;
    let stages: ReturnType<Recorder["observe"]> = [];
    try {
      stages = this.recorder.observe(n);
    } catch (err) {
      // Whatever the jail made us read, the supervisor goes on (and the program too).
      this.error(err);
      stages = [];
    }
    // Read first, then check the thread is still stopped in this very syscall: only then does
    // what we read belong to it.
    // (Nothing read, nothing to check: a syscall already seen, without arguments of interest.)
    if (stages.length > 0 && stillWaiting(fd, n.id)) for (const s of stages) s(this.recorder.rec);
    try {
      continueSyscall(fd, n.id);
    } catch (err) {
      this.error(err);
    }
  }

  /** Errors met while recording (the recording may miss what they concerned). */
  readonly errors: string[] = [];

  /** Kept for one warning line: no control characters (a message may quote the jail's bytes). */
  private error(err: unknown): void {
    if (this.errors.length < 100) this.errors.push((err instanceof Error ? err.message : String(err)).replace(/[\x00-\x1f\x7f-\x9f]/g, "?").slice(0, 300));
  }

  close(): void {
    if (this.listenerFd >= 0) c.close(this.listenerFd);
    this.listenerFd = -1;
    this.recorder.close();
  }
}
