// --all: one row per process, built from the same snapshot and check table as the full report.
import { readdirSync, readFileSync } from "node:fs";
import { capFacts, nsRelation, rootFacts } from "./facts.ts";
import { collectEvidence, looksLike } from "./evidence.ts";
import { gather, GatherContext, NoSuchProcess } from "./gather.ts";
import { limitText } from "./report.ts";
import { exposureOf } from "./score.ts";
import { known, NS_TYPES, type NsType, type Snapshot } from "./snapshot.ts";

export interface ListRow {
  readonly pid: number;
  readonly user: string;
  readonly comm: string;
  /** namespace type → "separate" | "shared" | "unknown" */
  readonly ns: Record<NsType, string>;
  readonly caps: string;
  readonly seccomp: string;
  readonly nnp: boolean;
  readonly limits: { readonly memory: string; readonly pids: string; readonly cpu: string };
  readonly exposure: number | null;
  readonly label: string;
  readonly runtime: string;
  /** any separate namespace or root: some kind of sandbox */
  readonly jailed: boolean;
  /** set when the process exited or its pid was reused while being read */
  readonly warning?: string;
}

export function userNames(path = "/etc/passwd"): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const l of readFileSync(path, "utf8").split("\n")) {
      const f = l.split(":");
      if (f.length > 2 && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]!);
    }
  } catch {}
  return m;
}

export function rowOf(s: Snapshot, users: Map<number, string>): ListRow {
  const ns = Object.fromEntries(NS_TYPES.map((t) => [t, nsRelation(s, t).state])) as Record<NsType, string>;
  const caps = capFacts(s);
  const sc = exposureOf(s);
  const euid = s.creds.uid[1] ?? -1;
  const cg = known(s.cgroup);
  const short = (x: string) => x.replace(/ \(.*$/, "");
  const rootSep = known(rootFacts(s).separate) === true;
  return {
    pid: s.pid,
    user: users.get(euid) ?? String(euid),
    comm: s.comm,
    ns,
    caps: caps.usable.size === 0 ? "none" : caps.usable.size >= 41 ? "all" : `${caps.usable.size}${caps.dangerousUsable.length ? "!" : ""}`,
    seccomp: s.seccompMode === 2 ? `filter:${s.seccompFilters}` : s.seccompMode === 1 ? "strict" : "off",
    nnp: s.noNewPrivs,
    limits: cg
      ? { memory: short(limitText(cg.memory, "bytes")), pids: short(limitText(cg.pids, "pids")), cpu: short(limitText(cg.cpu, "cpus")) }
      : { memory: "unknown", pids: "unknown", cpu: "unknown" },
    exposure: sc.exposure,
    label: sc.label,
    runtime: looksLike(s, collectEvidence(s)),
    jailed: rootSep || Object.values(ns).includes("separate"),
    warning: s.pin.state === "alive" ? undefined : s.pin.detail,
  };
}

/** Every process of the reader's pid namespace, kernel threads left out. */
export function listAll(ctx: GatherContext = new GatherContext()): ListRow[] {
  const users = userNames(ctx.src.path("/etc/passwd"));
  const rows: ListRow[] = [];
  for (const name of readdirSync(ctx.src.proc)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const s = gather(Number(name), ctx, { full: false });
      if (s) rows.push(rowOf(s, users));
    } catch (e) {
      if (!(e instanceof NoSuchProcess)) throw e; // exited between readdir and reading: skip
    }
  }
  return rows;
}

export type SortKey = "pid" | "score" | "user" | "comm";

export function sortRows(rows: ListRow[], key: SortKey): ListRow[] {
  const cmp: Record<SortKey, (a: ListRow, b: ListRow) => number> = {
    pid: (a, b) => a.pid - b.pid,
    score: (a, b) => (b.exposure ?? -1) - (a.exposure ?? -1) || a.pid - b.pid,
    user: (a, b) => a.user.localeCompare(b.user) || a.pid - b.pid,
    comm: (a, b) => a.comm.localeCompare(b.comm) || a.pid - b.pid,
  };
  return rows.sort(cmp[key]);
}

const NS_LETTER: Record<NsType, string> = { user: "U", pid: "P", mnt: "M", net: "N", uts: "H", ipc: "I", cgroup: "C", time: "T" };

export function renderRows(rows: readonly ListRow[]): string {
  const head = ["PID", "USER", "COMMAND", "NS", "CAPS", "SECCOMP", "NNP", "MEM", "PIDS", "CPU", "SCORE", "RUNTIME"];
  const table = rows.map((r) => [
    String(r.pid),
    r.user,
    r.comm,
    // one letter per separate namespace, "?" for unknown, "-" for shared
    NS_TYPES.map((t) => (r.ns[t] === "separate" ? NS_LETTER[t] : r.ns[t] === "unknown" ? "?" : "-")).join(""),
    r.caps,
    r.seccomp,
    r.nnp ? "yes" : "no",
    r.limits.memory,
    r.limits.pids,
    r.limits.cpu,
    r.exposure === null ? "?" : `${r.exposure.toFixed(1)} ${r.label}`,
    r.runtime + (r.warning ? ` [${r.warning}]` : ""),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [fmt(head), ...table.map(fmt)].join("\n") + "\nNS letters: U user, P pid, M mnt, N net, H uts, I ipc, C cgroup, T time (- shared, ? unknown)\n";
}

