// `jailx run -d`: the jailx the user started forks the supervisor into its own session and waits
// only until the program has been executed (or could not be); the supervisor then goes on in the
// background with its output — and the program's — in a size-bounded log file.
import { closeSync, fstatSync, openSync, renameSync, writeSync } from "node:fs";
import { c, errno, ptr } from "../sys/ffi.ts";
import * as proc from "../sys/proc.ts";
import { isCompiled } from "../sys/reexec.ts";

/** A detached jail's log: at most this many bytes per file, one rotated file kept (NAME.log.1). */
export const LOG_MAX_BYTES = 1 << 20;

export interface Report {
  status: number;
  message?: string;
}

export type Forked = { parent: true; report: Report } | { parent: false; report(r: Report): void };

/** Fork the background supervisor. The parent gets the child's first report (or a failure). */
export function forkDetached(): Forked {
  const [rr, rw] = proc.pipe();
  proc.prepareForFork();
  const pid = proc.fork();
  if (pid !== 0) {
    proc.closeFd(rw);
    return { parent: true, report: awaitReport(rr) };
  }
  proc.closeFd(rr);
  c.setsid(); // no terminal, and the caller's Ctrl-C or logout does not reach it
  // Nothing of ours may keep the caller's stdout open (`jailx run -d | cat` must end): the
  // caller hears from us only through the report pipe; the log takes over fds 1-2 later.
  const nul = openSync("/dev/null", "r+");
  for (const fd of [0, 1, 2]) c.dup3(nul, fd, 0);
  closeSync(nul);
  return { parent: false, report: reportOnce(rw) };
}

/** The background side's one report to `run -d`: written to `fd`, which is then closed. */
function reportOnce(fd: number): (r: Report) => void {
  let open = true;
  return (r) => {
    if (!open) return;
    open = false;
    const b = Buffer.from(JSON.stringify(r));
    c.write(fd, ptr(b), b.length);
    proc.closeFd(fd);
  };
}

/** The background supervisor's first report, read until it closes the pipe `fd` (closed here). */
function awaitReport(fd: number): Report {
  const text = proc.readToEnd(fd);
  proc.closeFd(fd);
  try {
    const r = JSON.parse(text) as Report;
    if (Number.isInteger(r.status)) return r;
  } catch {
    /* below */
  }
  return { status: 125, message: "the detached supervisor ended without saying whether the jail started (see its log)" };
}


/** stdin from /dev/null; stdout and stderr into `fd` (the log pipe). */
export function redirectOutput(fd: number): void {
  const nul = openSync("/dev/null", "r");
  c.dup3(nul, 0, 0);
  closeSync(nul);
  c.dup3(fd, 1, 0);
  c.dup3(fd, 2, 0);
  proc.closeFd(fd);
}

export interface Logger {
  /** the write end of its pipe (close-on-exec) */
  fd: number;
  pid: number;
}

/** Fork the log writer. */
export function startLogger(path: string, maxBytes = LOG_MAX_BYTES): Logger {
  const [r, w] = proc.pipe();
  proc.prepareForFork();
  const pid = proc.fork();
  if (pid === 0) {
    try {
      proc.closeFdsExcept([r]);
      writeLog(r, path, maxBytes);
    } catch {
      /* nobody to tell: the supervisor's own output goes through us */
    }
    proc.exitNow(0);
  }
  proc.closeFd(r);
  return { fd: w, pid };
}

/**
 * Close our ends of the log (fds 1-2 become /dev/null) and wait for the writer to drain it: once
 * the supervisor has exited, no jailx process of this jail is left (what `stop` waits for).
 */
export function stopLogger(l: Logger): void {
  const nul = openSync("/dev/null", "r+");
  c.dup3(nul, 1, 0);
  c.dup3(nul, 2, 0);
  closeSync(nul);
  proc.waitPid(l.pid);
}

/** Copy the pipe into `path` until every writer is gone, rotating to `path.1` at `maxBytes`. */
function writeLog(r: number, path: string, maxBytes: number): void {
  let fd = openSync(path, "a", 0o600);
  let size = fstatSync(fd).size;
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = Number(c.read(r, ptr(buf), buf.length));
    if (n === 0) break;
    if (n < 0) {
      if (errno() === 4) continue;
      break;
    }
    let chunk = buf.subarray(0, n);
    while (chunk.length > 0) {
      if (size >= maxBytes) {
        closeSync(fd);
        renameSync(path, `${path}.1`);
        fd = openSync(path, "w", 0o600);
        size = 0;
      }
      const take = Math.min(chunk.length, maxBytes - size);
      writeSync(fd, chunk.subarray(0, take));
      size += take;
      chunk = chunk.subarray(take);
    }
  }
  closeSync(fd);
}

/**
 * `run -d` on the stage path, where this (multi-threaded) process must not fork itself: a second
 * jailx with the same arguments does the work in the background and reports on a pipe (fd 3 in
 * it), which is all this one waits for. The name is decided here, once.
 */
export function detachStaged(name: string): Forked {
  const [r, w] = proc.pipe();
  const argv = isCompiled() ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, process.argv[1]!, ...process.argv.slice(2)];
  const child = Bun.spawn(argv, {
    env: { ...process.env, JAILX_DETACHED_FD: "3", JAILX_DETACHED_NAME: name },
    stdio: ["ignore", "ignore", "ignore", w],
  });
  child.unref();
  proc.closeFd(w);
  return { parent: true, report: awaitReport(r) };
}

/** In the background jailx of detachStaged: its own session, and the pipe to report on. */
export function takeBackgroundRole(): (Forked & { parent: false; name: string; fd: number }) | null {
  const fd = Number(process.env.JAILX_DETACHED_FD);
  const name = process.env.JAILX_DETACHED_NAME;
  delete process.env.JAILX_DETACHED_FD;
  delete process.env.JAILX_DETACHED_NAME;
  if (!Number.isInteger(fd) || fd < 3 || !name || !proc.fdIsOpen(fd)) return null;
  c.setsid(); // no terminal, and the caller's Ctrl-C or logout does not reach it
  proc.setCloexec(fd, true);
  return { parent: false, name, fd, report: reportOnce(fd) };
}
