// Processes: clone/fork from a Bun process, wait, signals, descriptors, exec.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { c, check, cstr, cstrArray, errno, ptr, syscall, toArrayBuffer, type Pointer } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { NR } from "./nr.ts";

export const SIG = {
  HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15,
  CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, XFSZ: 25, WINCH: 28, SYS: 31,
} as const;

/** Signals jailx passes on to the program (the rest keep their default meaning). */
export const FORWARDED_SIGNALS = [SIG.HUP, SIG.INT, SIG.QUIT, SIG.TERM, SIG.USR1, SIG.USR2, SIG.WINCH] as const;

const PR_SET_PDEATHSIG = 1;
const PR_SET_DUMPABLE = 4;
const PR_SET_CHILD_SUBREAPER = 36;
const MADV_DOFORK = 11;
const O_CLOEXEC = 0o2000000;
const O_DIRECTORY = process.arch === "arm64" ? 0o40000 : 0o200000;
/** si_code of signals the kernel generates itself (e.g. Ctrl-C on a terminal). */
export const SI_KERNEL = 0x80;

/** Number of threads of this process (must be 1 before unshare/clone of a user namespace). */
export function threadCount(): number {
  return readdirSync("/proc/self/task").length;
}

export function assertSingleThreaded(step: string): void {
  const n = threadCount();
  if (n !== 1)
    throw new SysError(step, "EINVAL", 22, undefined, undefined,
      `jailx has ${n} threads; a jail needs exactly one. Run the compiled binary (bun scripts/build.ts → dist/jailx): 'bun cmd/jailx.ts run' transpiles with a thread pool`);
}

/**
 * JSC marks its JIT region MADV_DONTFORK: a forked child would have no JIT code and crash at
 * once. Mark it MADV_DOFORK again before any fork/clone. The region is the process's only
 * anonymous rwx mapping (checked against the "dc" VmFlag in smaps); /proc/self/maps is a tenth
 * of the size of smaps to read, and MADV_DOFORK on a mapping without "dc" changes nothing.
 */
export function prepareForFork(): void {
  for (const line of readFileSync("/proc/self/maps", "latin1").split("\n")) {
    if (line.indexOf(" rwxp ") < 0) continue;
    const dash = line.indexOf("-");
    const start = parseInt(line.slice(0, dash), 16);
    const end = parseInt(line.slice(dash + 1, line.indexOf(" ")), 16);
    check(c.madvise(start as never, end - start, MADV_DOFORK), "madvise", { flags: "MADV_DOFORK" });
  }
}

/** clone(2) without a new stack: like fork(), but with namespace flags. Returns 0 in the child. */
export function cloneProcess(flags: number): number {
  const SIGCHLD = SIG.CHLD;
  const r = Number(syscall(NR.clone, flags | SIGCHLD, 0, 0, 0, 0));
  if (r < 0) {
    const e = errno();
    throw new SysError("clone", errnoName(e), e, undefined, `0x${flags.toString(16)}`);
  }
  return r;
}

export function fork(): number {
  return check(c.fork(), "fork");
}

export interface WaitResult {
  pid: number;
  /** exit code when the process exited */
  code?: number;
  /** signal number when the process was killed */
  signal?: number;
}

const WNOHANG = 1;

/** waitpid; returns null with WNOHANG when nothing changed. Retries EINTR. */
export function waitPid(pid: number, nohang = false): WaitResult | null {
  const status = new Int32Array(1);
  for (;;) {
    const r = c.waitpid(pid, ptr(status), nohang ? WNOHANG : 0);
    if (r === 0) return null;
    if (r < 0) {
      const e = errno();
      if (e === 4) continue;
      if (e === 10 && nohang) return null; // ECHILD: nothing left to wait for
      throw new SysError("waitpid", errnoName(e), e);
    }
    return decodeStatus(r, status[0]!);
  }
}

export function decodeStatus(pid: number, s: number): WaitResult {
  const sig = s & 0x7f;
  if (sig === 0) return { pid, code: (s >> 8) & 0xff };
  return { pid, signal: sig };
}

/** Exit status a shell would show for this result. */
export function shellStatus(w: WaitResult): number {
  return w.signal !== undefined ? 128 + w.signal : (w.code ?? 0);
}

export function kill(pid: number, sig: number): boolean {
  return c.kill(pid, sig) === 0;
}

export function setParentDeathSignal(sig: number): void {
  check(c.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl", { flags: "PR_SET_PDEATHSIG" });
}

export function setDumpable(on: boolean): void {
  check(c.prctl(PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0), "prctl", { flags: "PR_SET_DUMPABLE" });
}

export function setChildSubreaper(): void {
  check(c.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl", { flags: "PR_SET_CHILD_SUBREAPER" });
}

// ---- signal masks and signalfd ----

function sigset(signals: readonly number[]): BigUint64Array {
  const set = new BigUint64Array(1);
  for (const s of signals) set[0]! |= 1n << BigInt(s - 1);
  return set;
}

const SIG_BLOCK = 0, SIG_SETMASK = 2;

export function blockSignals(signals: readonly number[]): void {
  const r = syscall(NR.rt_sigprocmask, SIG_BLOCK, ptr(sigset(signals)), 0, 8);
  if (r < 0n) throw new SysError("rt_sigprocmask", errnoName(errno()), errno());
}

/**
 * Signals Bun catches to print a crash report (seen in SigCgt: ILL, TRAP, ABRT, BUS, FPE, SEGV).
 * Sent with kill() they are no crash, yet the handler aborts the process.
 */
export const CRASH_REPORT_SIGNALS = [4, 5, 6, 7, 8, 11] as const;

/** Reset the handlers of `signals` to SIG_DFL; the blocked mask stays as it is. */
export function defaultHandlers(signals: readonly number[]): void {
  const act = new BigUint64Array(4);
  for (const s of signals) syscall(NR.rt_sigaction, s, ptr(act), 0, 8);
}

/** Unblock everything and reset every handler to SIG_DFL (Bun ignores SIGPIPE and SIGXFSZ). */
export function resetSignalsForExec(): void {
  syscall(NR.rt_sigprocmask, SIG_SETMASK, ptr(new BigUint64Array(1)), 0, 8);
  // struct kernel_sigaction { handler; flags; restorer; mask } — all zero = SIG_DFL.
  const act = new BigUint64Array(4);
  for (let s = 1; s <= 64; s++) if (s !== SIG.KILL && s !== SIG.STOP) syscall(NR.rt_sigaction, s, ptr(act), 0, 8);
}

const SFD_CLOEXEC = 0o2000000;

export function signalFd(signals: readonly number[]): number {
  const r = Number(syscall(NR.signalfd4, -1, ptr(sigset(signals)), 8, SFD_CLOEXEC));
  if (r < 0) throw new SysError("signalfd4", errnoName(errno()), errno());
  return r;
}

export interface SigInfo {
  signo: number;
  code: number;
  pid: number;
}

/** Read one signalfd_siginfo (128 bytes); null on EAGAIN. */
export function readSignal(fd: number): SigInfo | null {
  const buf = new Int32Array(32);
  const n = Number(c.read(fd, ptr(buf), 128));
  if (n !== 128) return null;
  return { signo: buf[0]!, code: buf[2]!, pid: buf[3]! };
}

// ---- descriptors ----

export function closeFd(fd: number): void {
  c.close(fd);
}

/** Close every descriptor ≥ 3 except `keep` (close_range over the gaps). */
export function closeFdsExcept(keep: readonly number[]): void {
  const sorted = [...new Set(keep.filter((f) => f >= 3))].sort((a, b) => a - b);
  let from = 3;
  for (const k of sorted) {
    if (k > from) syscall(NR.close_range, from, k - 1, 0);
    from = k + 1;
  }
  syscall(NR.close_range, from, 0x7fffffff, 0);
}

const F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;

export function setCloexec(fd: number, on: boolean): void {
  const flags = check(c.fcntl(fd, F_GETFD, 0), "fcntl", { flags: `fd ${fd}` });
  check(c.fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC), "fcntl", { flags: `fd ${fd}` });
}

/** Move descriptor `from` to the number `to` (replacing what is there), close-on-exec. */
export function moveFd(from: number, to: number): void {
  check(c.dup3(from, to, 0o2000000 /* O_CLOEXEC */), "dup3", { flags: `fd ${from} -> ${to}` });
  c.close(from);
}

export function fdIsOpen(fd: number): boolean {
  return c.fcntl(fd, F_GETFD, 0) >= 0;
}

/** isatty(3): TCGETS succeeds only on a terminal. */
export function isTerminal(fd: number): boolean {
  return c.ioctl(fd, 0x5401 /* TCGETS */, ptr(new Uint8Array(64))) === 0;
}

/** Everything readable from `fd` until EOF (retrying EINTR), as text. */
export function readToEnd(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    const n = Number(c.read(fd, ptr(buf), buf.length));
    if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
    else if (n === 0 || errno() !== 4 /* EINTR */) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A directory entry as getdents64 reports it: its name and d_type (DT_*; 0 = unknown). */
export interface DirEntry {
  name: string;
  dtype: number;
}

/**
 * The entries of `dir` in the order the filesystem lists them, read with getdents64 until
 * `stop(name)` holds for one (that entry and the rest are not read, so a listing whose tail is
 * long costs only its head); null when the directory cannot be opened.
 */
export function readDirUntil(dir: string, stop: (name: string) => boolean): DirEntry[] | null {
  const path = cstr(dir);
  const fd = c.open(ptr(path), O_DIRECTORY | O_CLOEXEC, 0); // O_RDONLY is 0
  if (fd < 0) return null;
  const out: DirEntry[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      const n = Number(syscall(NR.getdents64, fd, ptr(buf), buf.length));
      if (n <= 0) return n === 0 ? out : null;
      // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
      for (let at = 0; at < n; ) {
        const reclen = buf.readUInt16LE(at + 16);
        const end = buf.indexOf(0, at + 19);
        const name = buf.toString("latin1", at + 19, end < 0 || end > at + reclen ? at + reclen : end);
        if (stop(name)) return out;
        if (name !== "." && name !== "..") out.push({ name, dtype: buf[at + 18]! });
        at += reclen;
      }
    }
  } finally {
    c.close(fd);
  }
}

/** Block until the other end of a pipe is closed (EOF); data, if any, is discarded. */
export function waitForEof(fd: number): void {
  const b = new Uint8Array(64);
  for (;;) {
    const n = Number(c.read(fd, ptr(b), b.length));
    if (n === 0 || (n < 0 && errno() !== 4 /* EINTR */)) return;
  }
}

export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check(c.pipe2(ptr(fds), 0o2000000), "pipe2");
  return [fds[0]!, fds[1]!];
}

export const POLLIN = 1, POLLHUP = 0x10;

/** poll() on a few fds; returns revents per fd, or null on timeout. Retries EINTR. */
export function pollFds(fds: readonly number[], timeoutMs: number): number[] | null {
  const buf = new Int32Array(fds.length * 2);
  fds.forEach((fd, i) => {
    buf[i * 2] = fd;
    buf[i * 2 + 1] = POLLIN; // events (short) | revents (short) << 16
  });
  for (;;) {
    const r = c.poll(ptr(buf), fds.length, timeoutMs);
    if (r < 0 && errno() === 4) continue;
    check(r, "poll");
    if (r === 0) return null;
    return fds.map((_, i) => (buf[i * 2 + 1]! >>> 16) & 0xffff);
  }
}

// ---- exec ----

/** execve; returns only on failure, with the errno. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): number {
  const a = cstrArray(argv);
  const e = cstrArray(env);
  const p = cstr(path);
  c.execve(ptr(p), ptr(a.array), ptr(e.array));
  return errno();
}

/** Prepared execve arguments: C buffers built before the seccomp filter (see jail/child.ts). */
export interface PreparedExec {
  path: string;
  keep: unknown[];
  p: number;
  a: number;
  e: number;
}

export function prepareExec(path: string, argv: readonly string[], env: readonly string[]): PreparedExec {
  const a = cstrArray(argv);
  const e = cstrArray(env);
  const p = cstr(path);
  // Bind the libc calls made after the filter now: binding compiles a trampoline (allocates).
  void c.execve;
  void c.__errno_location;
  void c._exit;
  return { path, keep: [a, e, p], p: ptr(p), a: ptr(a.array), e: ptr(e.array) };
}

/** execve of prepared arguments: allocates nothing (it runs after the seccomp filter). */
export function execPrepared(x: PreparedExec): number {
  c.execve(x.p as Pointer, x.a as Pointer, x.e as Pointer);
  return errno();
}

/** Whether a name leads somewhere: stat succeeds or fails with anything but ENOENT/ENOTDIR
 * (execvp goes on to the next PATH directory only for those two). */
export function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== "ENOENT" && code !== "ENOTDIR";
  }
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_ANONYMOUS = 0x20;

/** Anonymous memory shared with every process forked or cloned (without CLONE_VM) after this. */
export function sharedMemory(size: number): ArrayBuffer {
  const p = c.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0) as unknown as number;
  if (!p || p === -1) throw new SysError("mmap", errnoName(errno()), errno(), undefined, `MAP_SHARED|MAP_ANONYMOUS, ${size} bytes`);
  return toArrayBuffer(p as Pointer, 0, size);
}

export function exitNow(code: number): never {
  c._exit(code);
  throw new Error("unreachable");
}

export function getpid(): number {
  return c.getpid();
}
