// Pure parsers for the /proc text formats inspect reads (see proc(5)). No I/O here.
import type { CgroupEntry, IdRange, Mount, NsType, Rlimit } from "./snapshot.ts";

/**
 * The fields inspect uses from /proc/PID/status ("Key:\tvalue" lines). Looked up by key rather
 * than splitting all ~60 lines: --all reads a thousand of these.
 */
export const STATUS_KEYS = [
  "Name", "PPid", "Uid", "Gid", "Groups", "NSpid", "Kthread", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
  "NoNewPrivs", "Seccomp", "Seccomp_filters",
] as const;
export type StatusKey = (typeof STATUS_KEYS)[number];

export function parseStatus(text: string): Map<StatusKey, string> {
  const out = new Map<StatusKey, string>();
  // STATUS_KEYS follow the kernel's order (fs/proc/array.c), so each search starts where the
  // previous field ended; a key not found after it is looked for from the start.
  let from = 0;
  for (const k of STATUS_KEYS) {
    let at = valueStart(text, k, from);
    if (at < 0 && from > 0) at = valueStart(text, k, 0);
    if (at < 0) continue;
    const end = text.indexOf("\n", at);
    out.set(k, text.slice(at, end < 0 ? undefined : end).trim());
    if (end > 0) from = end;
  }
  return out;
}

/** Where the value of "key:" starts (at a line start at or after `from`), or -1. */
function valueStart(text: string, key: string, from: number): number {
  if (from === 0 && text.startsWith(key + ":")) return key.length + 1;
  const i = text.indexOf("\n" + key + ":", from);
  return i < 0 ? -1 : i + key.length + 2;
}

export function numbers(field: string | undefined): number[] {
  if (!field) return [];
  return field.split(/\s+/).filter(Boolean).map(Number);
}

/** /proc/PID/stat: comm is in parentheses and may contain spaces and ")"; split after the last ")". */
export function parseStat(text: string): { comm: string; state: string; ppid: number; startTime: string } {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); starttime is field 22 → rest[19]
  return { comm: text.slice(open + 1, close), state: rest[0] ?? "?", ppid: Number(rest[1]), startTime: rest[19] ?? "" };
}

/** "net:[4026531833]" → 4026531833 */
export function parseNsLink(link: string, type: NsType): number {
  // sliced, not matched: --all parses eight of these per process
  if (!link.startsWith(type) || link.charCodeAt(type.length) !== 58 /* : */ || !link.endsWith("]"))
    throw new Error(`unexpected ns link '${link}'`);
  const n = Number(link.slice(type.length + 2, -1));
  if (!Number.isInteger(n)) throw new Error(`unexpected ns link '${link}'`);
  return n;
}

/** uid_map/gid_map: "inside outside count" per line. */
export function parseIdMap(text: string): IdRange[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3)
    .map(([a, b, c]) => ({ inside: Number(a), outside: Number(b), count: Number(c) }));
}

export { parseMountinfo } from "../sys/mountinfo.ts";
import { parseSelfCgroup } from "../sys/cgroup/layout.ts";

/**
 * The mounts a process actually sees, by mount point. mountinfo also lists mounts hidden under
 * others (a stack at one path: the top one is visible). The process's root mount is the entry
 * whose parent is not listed (outside its root); a mount stacked on top of the root directory is
 * not visible through "/" (path lookup starts at the root without crossing mounts), so "/" maps
 * to that root mount itself.
 */
export function visibleMounts(mounts: readonly Mount[]): Map<string, Mount> {
  let out = visibleCache.get(mounts);
  if (!out) visibleCache.set(mounts, (out = computeVisible(mounts)));
  return out;
}

// --all shares one parsed mountinfo between the processes of a mount namespace
const visibleCache = new WeakMap<readonly Mount[], Map<string, Mount>>();

function computeVisible(mounts: readonly Mount[]): Map<string, Mount> {
  const ids = new Set(mounts.map((m) => m.id));
  const children = new Map<number, Mount[]>();
  for (const m of mounts) {
    if (m.parent === m.id) continue;
    const list = children.get(m.parent);
    if (list) list.push(m);
    else children.set(m.parent, [m]);
  }
  const root = mounts.find((m) => m.mountPoint === "/" && (!ids.has(m.parent) || m.parent === m.id)) ?? mounts.find((m) => m.mountPoint === "/");
  const out = new Map<string, Mount>();
  if (!root) return out;
  out.set("/", root);
  const todo: Mount[] = [root];
  while (todo.length) {
    const m = todo.pop()!;
    const bases = new Map<string, Mount>();
    // later entries were mounted later: the last base at a path wins
    for (const c of children.get(m.id) ?? []) if (c.mountPoint !== m.mountPoint || m === root) bases.set(c.mountPoint, c);
    for (const [point, base] of bases) {
      if (point === "/" ) continue; // stacked on the root directory: not visible through "/"
      let top = base;
      for (;;) {
        const above = (children.get(top.id) ?? []).filter((d) => d.mountPoint === point).pop();
        if (!above) break;
        top = above;
      }
      out.set(point, top);
      todo.push(top);
    }
  }
  return out;
}

/** The mount a process sees at `path` (see visibleMounts). */
export function mountAt(mounts: readonly Mount[], path: string): Mount | undefined {
  return visibleMounts(mounts).get(path);
}

/** /proc/PID/cgroup, in inspect's shape (the parser is sys/cgroup's, for any process). */
export function parseCgroup(text: string): CgroupEntry[] {
  return parseSelfCgroup(text).map((e) => ({ hierarchy: e.id, controllers: e.controllers.join(","), path: e.path }));
}

/** /proc/PID/limits: fixed-width columns; names contain spaces, so split on 2+ spaces. */
export function parseLimits(text: string): Record<string, Rlimit> {
  const out: Record<string, Rlimit> = {};
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s{2,}/);
    if (f.length >= 3) out[f[0]!.replace(/^Max /, "")] = { soft: f[1]!, hard: f[2]! };
  }
  return out;
}
