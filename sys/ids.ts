// Users, groups and user-namespace id maps.
import { readFileSync, writeFileSync } from "node:fs";
import { c, check, ptr } from "./ffi.ts";
import { SysError } from "./errors.ts";
import { errnoName } from "./errno.ts";

/** One line of uid_map/gid_map: ids [inside, inside+count) are [outside, outside+count). */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

export function formatIdMap(ranges: readonly IdRange[]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}\n`).join("");
}

function writeProcFile(pid: number, file: string, text: string): void {
  const path = `/proc/${pid}/${file}`;
  try {
    writeFileSync(path, text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SysError("write", e.code ?? "EIO", e.errno ? -e.errno : 5, path, text.trim().replace(/\n/g, "; "));
  }
}

/** Written by the supervisor (in the parent namespace) for the jail's init. */
export function writeIdMaps(pid: number, uid: readonly IdRange[], gid: readonly IdRange[], denySetgroups: boolean): void {
  if (denySetgroups) writeProcFile(pid, "setgroups", "deny");
  writeProcFile(pid, "uid_map", formatIdMap(uid));
  writeProcFile(pid, "gid_map", formatIdMap(gid));
}

export interface SubIdRange {
  start: number;
  count: number;
}

/** The first /etc/subuid (or subgid) range granted to `user` (name or uid). */
export function subIdRange(file: string, user: string, uid: number, text?: string): SubIdRange | null {
  let content = text;
  if (content === undefined) {
    try {
      content = readFileSync(file, "utf8");
    } catch {
      return null;
    }
  }
  for (const line of content.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (!who || start === undefined || count === undefined) continue;
    if (who === user || who === String(uid)) return { start: Number(start), count: Number(count) };
  }
  return null;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The entries of a passwd file's text (passwd(5)), in file order; malformed lines are skipped. */
export function parsePasswd(passwd: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length < 7) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

/** Look a user up by name or number in a passwd file's text (the first match, like getpwnam). */
export function findUser(passwd: string, who: string): PasswdEntry | null {
  return parsePasswd(passwd).find((e) => e.name === who || String(e.uid) === who) ?? null;
}

export function findGroup(group: string, who: string): number | null {
  for (const line of group.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && (f[0] === who || f[2] === who)) return Number(f[2]);
  }
  return null;
}

/** Switch to uid/gid and set the supplementary groups (skipped where setgroups is denied). */
export function switchIds(uid: number, gid: number, groups: readonly number[], setgroupsAllowed: boolean): void {
  if (setgroupsAllowed) {
    const list = new Uint32Array(groups.length || 1);
    groups.forEach((g, i) => (list[i] = g));
    check(c.setgroups(groups.length, ptr(list)), "setgroups");
  }
  check(c.setresgid(gid, gid, gid), "setresgid", { flags: String(gid) });
  check(c.setresuid(uid, uid, uid), "setresuid", { flags: String(uid) });
}

export function hostIds(): { uid: number; gid: number } {
  return { uid: c.getuid(), gid: c.getgid() };
}

export { errnoName };
