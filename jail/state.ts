// Jails by name: a small per-user directory with one entry per running jail.
//
// The entry file (NAME.json) is only an index: it says which process is the jail's supervisor
// (pid + start time) and at which descriptor that supervisor holds its sealed record (a memfd,
// sys/memfd.ts). Everything an action relies on — init and program pids, the plan, the cgroup —
// is read from that sealed record, never from the file: a jailed program that can reach the
// directory (a --bind of /run, say) may rewrite the file, but it cannot make jailx signal or
// join a process that is not a verified jailx supervisor's jail. The supervisor is checked
// through a pidfd (start time read while the pidfd's process is known alive), so a reused pid
// is seen as stale and its entry removed, never acted on.
import {
  closeSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync,
} from "node:fs";
import { UsageError } from "../sys/errors.ts";
import { closeFd } from "../sys/proc.ts";
import { readSealedMemfd } from "../sys/memfd.ts";
import { pidfdOpen, pidfdWaitExit, procStart } from "../sys/pidfd.ts";
import type { Plan } from "./plan.ts";

export const RECORD_MEMFD = "jailx-state";
/** How many exited detached jails (record and log) are kept for `ps -a` and `logs`. */
export const KEEP_EXITED = 16;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface ProcRef {
  pid: number;
  /** field 22 of /proc/PID/stat: start time in clock ticks since boot */
  start: string;
}

/** NAME.json: untrusted index (see the header). */
export interface Entry {
  v: 1;
  name: string;
  supervisor: ProcRef;
  /** the supervisor's descriptor of its sealed record; null while the jail starts */
  recordFd: number | null;
  startedAt: number;
  detached: boolean;
  log: string | null;
  command: string[];
}

/** The supervisor's sealed record: trusted once the supervisor is verified. */
export interface JailRecord {
  v: 1;
  name: string;
  supervisor: ProcRef;
  init: ProcRef;
  program: ProcRef;
  startedAt: number;
  detached: boolean;
  log: string | null;
  /** the jail's own cgroup directories (empty without limits) */
  cgroups: string[];
  plan: Plan;
}

export interface ExitedRecord {
  v: 1;
  name: string;
  command: string[];
  startedAt: number;
  endedAt: number;
  status: number;
  message?: string;
  log: string | null;
}

export type Judged =
  | { kind: "live"; entry: Entry; record: JailRecord; pidfd: number }
  | { kind: "starting"; entry: Entry }
  | { kind: "stale"; entry: Entry; why: string };

/** Shown in messages: a value from the user or a file, with control characters made visible. */
export function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + "…" : s);
}

export function validateName(name: string): string {
  if (!NAME.test(name))
    throw new UsageError(`jail name ${shown(name)}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return name;
}

export function generateName(): string {
  return `jx-${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
}

/** The per-user state directory: root /run/jailx, others $XDG_RUNTIME_DIR/jailx. */
export function statePath(env: NodeJS.ProcessEnv = process.env, uid = process.geteuid?.() ?? 0): string {
  if (env.JAILX_STATE_DIR) return env.JAILX_STATE_DIR;
  if (uid === 0) return "/run/jailx";
  if (!env.XDG_RUNTIME_DIR)
    throw new UsageError("XDG_RUNTIME_DIR is not set: jailx keeps a rootless user's jails in $XDG_RUNTIME_DIR/jailx (set it, e.g. to /run/user/$(id -u), or set JAILX_STATE_DIR)");
  return `${env.XDG_RUNTIME_DIR}/jailx`;
}

/**
 * The state directory, checked: a real directory owned by us and writable by nobody else
 * (otherwise another user could plant or remove entries). Created (0700) when `create`.
 */
export function stateDir(create: boolean): string | null {
  const dir = statePath();
  const uid = process.geteuid?.() ?? 0;
  let st = lstatOrNull(dir);
  if (!st && !create) return null;
  if (!st) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw new UsageError(`state directory ${dir}: cannot create it (${(e as NodeJS.ErrnoException).code}); does its parent exist?`);
    }
    st = lstatOrNull(dir);
  }
  if (!st || !st.isDirectory()) throw new UsageError(`state directory ${dir} is not a directory; remove it`);
  if (st.uid !== uid) throw new UsageError(`state directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); remove it or set JAILX_STATE_DIR`);
  if (st.mode & 0o022) throw new UsageError(`state directory ${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run 'chmod 700 ${dir}'`);
  return dir;
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

const entryPath = (dir: string, name: string) => `${dir}/${name}.json`;
export const exitedPath = (dir: string, name: string) => `${dir}/${name}.exited.json`;
export const logPath = (dir: string, name: string) => `${dir}/${name}.log`;

function tmpFile(dir: string, data: string): string {
  const tmp = `${dir}/.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

/** Replace a file atomically (write beside it, then rename over it). */
export function writeAtomic(path: string, dir: string, data: string): void {
  renameSync(tmpFile(dir, data), path);
}

/** Create NAME.json only if no entry exists (link() fails on an existing name): atomic and exclusive. */
function createExclusive(dir: string, entry: Entry): boolean {
  const tmp = tmpFile(dir, JSON.stringify(entry));
  try {
    linkSync(tmp, entryPath(dir, entry.name));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function readEntry(dir: string, name: string): Entry | null {
  let text: string;
  try {
    text = readFileSync(entryPath(dir, name), "utf8");
  } catch {
    return null;
  }
  return parseEntry(text, name);
}

function parseEntry(text: string, name: string): Entry | null {
  try {
    const e = JSON.parse(text) as Entry;
    const okRef = (r: ProcRef) => r && Number.isInteger(r.pid) && r.pid > 0 && typeof r.start === "string";
    if (e.v !== 1 || e.name !== name || !okRef(e.supervisor)) return null;
    if (e.recordFd !== null && !(Number.isInteger(e.recordFd) && e.recordFd >= 0)) return null;
    return e;
  } catch {
    return null;
  }
}

/** Remove NAME.json, but only while it still names this supervisor (a new jail may own the name). */
export function removeEntry(dir: string, name: string, supervisor: ProcRef): void {
  const e = readEntry(dir, name);
  if (e && e.supervisor.pid === supervisor.pid && e.supervisor.start === supervisor.start) rmSync(entryPath(dir, name), { force: true });
}

/**
 * Check an entry against the kernel. Live: the supervisor runs (same start time, checked while
 * its pidfd shows it alive) and holds a sealed record naming this jail; the returned pidfd is
 * the caller's to close. Anything else is stale (or still starting).
 */
export function judge(entry: Entry): Judged {
  const fd = pidfdOpen(entry.supervisor.pid);
  if (fd === null) return { kind: "stale", entry, why: "its supervisor has exited" };
  let keep = false;
  try {
    const st = procStart(entry.supervisor.pid);
    if (!st || st.start !== entry.supervisor.start || pidfdWaitExit(fd, 0)) return { kind: "stale", entry, why: "its supervisor has exited (the pid now belongs to another process)" };
    if (entry.recordFd === null) return { kind: "starting", entry };
    const text = readSealedMemfd(entry.supervisor.pid, entry.recordFd, RECORD_MEMFD);
    // Read while alive: the memfd belonged to the pidfd's process.
    if (text === null || pidfdWaitExit(fd, 0)) return { kind: "stale", entry, why: "its supervisor holds no sealed jailx record" };
    const record = JSON.parse(text) as JailRecord;
    if (record.name !== entry.name || record.supervisor.pid !== entry.supervisor.pid || record.supervisor.start !== entry.supervisor.start)
      return { kind: "stale", entry, why: "its supervisor's record names another jail" };
    keep = true;
    return { kind: "live", entry, record, pidfd: fd };
  } finally {
    if (!keep) closeFd(fd);
  }
}

/** Names of the entries in the directory. */
export function entryNames(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith(".exited.json") && !f.startsWith(".")).map((f) => f.slice(0, -5)).filter((n) => NAME.test(n));
}

/** Every entry judged; stale ones are removed on the way (a later command never trusts them). */
export function listJudged(dir: string): Judged[] {
  const out: Judged[] = [];
  for (const name of entryNames(dir)) {
    const e = readEntry(dir, name);
    if (!e) {
      rmSync(entryPath(dir, name), { force: true });
      continue;
    }
    const j = judge(e);
    if (j.kind === "stale") removeEntry(dir, name, e.supervisor);
    else out.push(j);
  }
  return out;
}

/**
 * The live jail NAME for an action (ps, stop, kill, exec, logs): one line and 125 for an
 * unknown, dead or starting one. Stale entries are removed.
 */
export function findLive(name: string): Judged & { kind: "live" } {
  validateName(name);
  const dir = stateDir(false);
  const e = dir ? readEntry(dir, name) : null;
  if (!dir || !e) throw new UsageError(`no jail named ${shown(name)} is running (see 'jailx ps')`);
  const j = judge(e);
  if (j.kind === "stale") {
    removeEntry(dir, name, e.supervisor);
    throw new UsageError(`jail ${shown(name)} is not running (${j.why}); its stale entry was removed`);
  }
  if (j.kind === "starting") throw new UsageError(`jail ${shown(name)} is still starting; try again`);
  return j;
}

/**
 * Reserve NAME for a new jail whose supervisor is this process. A live name is an error; a
 * stale entry is removed first; an exited record of the name (and its log) is replaced.
 */
export function reserve(dir: string, entry: Entry): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(dir, entry)) {
      for (const p of [exitedPath(dir, entry.name), logPath(dir, entry.name), logPath(dir, entry.name) + ".1"]) rmSync(p, { force: true });
      return;
    }
    const old = readEntry(dir, entry.name);
    const j = old ? judge(old) : null;
    if (j?.kind === "live") closeFd(j.pidfd);
    if (j && j.kind !== "stale")
      throw new UsageError(`jail name ${shown(entry.name)} is in use (supervisor pid ${old!.supervisor.pid}); choose another --name or run 'jailx stop ${entry.name}'`);
    if (old) removeEntry(dir, entry.name, old.supervisor);
    else rmSync(entryPath(dir, entry.name), { force: true });
  }
  throw new UsageError(`jail name ${shown(entry.name)}: could not claim it (another jailx claims it at the same time)`);
}

/** Verify a process the sealed record names: same start time, and (optionally) its parent. */
export function openVerified(ref: ProcRef, parent?: number): number | null {
  const fd = pidfdOpen(ref.pid);
  if (fd === null) return null;
  const st = procStart(ref.pid);
  if (!st || st.start !== ref.start || (parent !== undefined && st.ppid !== parent) || pidfdWaitExit(fd, 0)) {
    closeFd(fd);
    return null;
  }
  return fd;
}

export function readExited(dir: string): ExitedRecord[] {
  const out: ExitedRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".exited.json")) continue;
    try {
      const r = JSON.parse(readFileSync(`${dir}/${f}`, "utf8")) as ExitedRecord;
      if (r.v === 1 && `${r.name}.exited.json` === f) out.push(r);
    } catch {
      /* unreadable: ignored */
    }
  }
  return out.sort((a, b) => b.endedAt - a.endedAt);
}

/** Keep the newest KEEP_EXITED exited records; older ones go with their logs. */
export function pruneExited(dir: string, keep = KEEP_EXITED): void {
  for (const r of readExited(dir).slice(keep)) {
    if (readEntry(dir, r.name)) continue; // the name is running again: its log is in use
    for (const p of [exitedPath(dir, r.name), logPath(dir, r.name), logPath(dir, r.name) + ".1"]) rmSync(p, { force: true });
  }
}
