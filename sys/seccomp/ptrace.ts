// Reads the seccomp filters of another process: PTRACE_SEIZE, PTRACE_INTERRUPT (a ptrace stop
// is required), PTRACE_SECCOMP_GET_FILTER for each index, PTRACE_DETACH. Needs CAP_SYS_ADMIN
// (and the right to ptrace the target). Filters come back oldest first (index 0 = oldest).
import { readFileSync } from "node:fs";
import { c, errno, ptr, syscall } from "../ffi.ts";
import { SysError } from "../errors.ts";
import { errnoName } from "../errno.ts";
import { TABLES, currentMachine } from "./tables.ts";

const PTRACE_DETACH = 17;
const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;
const PTRACE_SECCOMP_GET_FILTER = 0x420c;
const __WALL = 0x40000000;
const WNOHANG = 1;

const ROOT_HINT = "reading seccomp filters needs root (CAP_SYS_ADMIN and CAP_SYS_PTRACE over the target)";

function ptrace(req: number, pid: number, addr: number | bigint, data: number | bigint): number {
  return Number(syscall(TABLES[currentMachine()].get("ptrace")!, req, pid, addr, data));
}

function fail(what: string, pid: number, hint?: string): never {
  const e = errno();
  const code = errnoName(e);
  throw new SysError("ptrace", code, e, `/proc/${pid}`, what, hint ?? (code === "EPERM" || code === "EACCES" ? refusedHint(pid) : undefined));
}

/** EPERM from PTRACE_SEIZE: not privileged, or the process already has a tracer. */
function refusedHint(pid: number): string {
  if (c.geteuid() !== 0) return ROOT_HINT;
  const tracer = /^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (tracer && tracer !== "0") return `the process is already traced by pid ${tracer}; a process has one tracer at a time`;
  return "ptrace was refused (a security module, or the process is exiting)";
}

/** The process's seccomp mode from /proc/PID/status: 0 none, 1 strict, 2 filter. */
export function seccompMode(pid: number): number | undefined {
  const m = /^Seccomp:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : undefined;
}

/**
 * Waits for the interrupt stop, but not forever: a process in uninterruptible sleep (a hung
 * NFS read, say) reaches it only when the sleep ends, and `inspect` must not hang with it.
 */
function waitForStop(pid: number, timeoutMs = 2000): void {
  const status = new Int32Array(1);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = c.waitpid(pid, ptr(status), __WALL | WNOHANG);
    if (r === pid) return;
    if (r === -1 && errno() !== 4 /* EINTR */) fail("waitpid for the ptrace stop", pid);
    if (performance.now() > deadline) {
      throw new SysError("ptrace", "ETIMEDOUT", 110, `/proc/${pid}`, "PTRACE_INTERRUPT", `the process did not stop within ${timeoutMs} ms (uninterruptible sleep?)`);
    }
    Bun.sleepSync(1);
  }
}

export function readProcessFilters(pid: number): Buffer[] {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`readProcessFilters: bad pid ${pid}`);
  if (seccompMode(pid) !== 2) return [];
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) === -1) fail("PTRACE_SEIZE", pid);
  try {
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) === -1) fail("PTRACE_INTERRUPT", pid);
    waitForStop(pid);
    const filters: Buffer[] = [];
    for (let i = 0; ; i++) {
      const n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, 0);
      if (n === -1) {
        if (errno() === 2 /* ENOENT: past the last filter */) break;
        fail(`PTRACE_SECCOMP_GET_FILTER index ${i}`, pid, errno() === 13 ? ROOT_HINT : undefined);
      }
      const buf = Buffer.alloc(n * 8);
      if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, ptr(buf)) === -1) fail(`PTRACE_SECCOMP_GET_FILTER index ${i}`, pid);
      filters.push(buf);
    }
    return filters;
  } finally {
    // Detaching resumes the process as it was (the interrupt stop is not a signal-delivery stop).
    ptrace(PTRACE_DETACH, pid, 0, 0);
  }
}
