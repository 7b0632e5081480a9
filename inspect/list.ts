// --all: one row per process, built from the same snapshot and check table as the full report.
import { readdirSync } from "node:fs";
import { parsePasswd } from "../sys/ids.ts";
import { capFacts, nsRelation, rootFacts } from "./facts.ts";
import { collectEvidence, looksLike } from "./evidence.ts";
import { gather, GatherContext, NoSuchProcess } from "./gather.ts";
import { limitText } from "./report.ts";
import { exposureOf } from "./score.ts";
import { isUnknown, known, NS_TYPES, type NsType, type Snapshot } from "./snapshot.ts";
import type { ProcSource } from "./source.ts";

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
  /** where the exposure could be once the unknown checks are known (see Score.range) */
  readonly range: { readonly min: number; readonly max: number } | null;
  /** share of the applicable check weight that is unknown */
  readonly unknownWeight: number;
  readonly runtime: string;
  /** any separate namespace or root: some kind of sandbox */
  readonly jailed: boolean;
  /** set when the process exited or its pid was reused while being read */
  readonly warning?: string;
}

/** uid → name from the reader's passwd file (the first entry of a uid wins, like getpwuid). */
export function userNames(src: ProcSource): Map<number, string> {
  const m = new Map<number, string>();
  const text = src.readPath(src.path("/etc/passwd"));
  if (!isUnknown(text)) for (const e of parsePasswd(text)) if (!m.has(e.uid)) m.set(e.uid, e.name);
  return m;
}

/**
 * Processes with the same judged facts get the same verdict: --all on a host with a thousand
 * workers judges each distinct combination once. The key holds every snapshot field the checks
 * and the row read; shared objects (mount table, cgroup info, id map, parent chain, markers) are
 * keyed by identity, since gathering hands out one object per namespace / cgroup / parent / root.
 */
function judgedKey(s: Snapshot): string | undefined {
  // the target can be one of the namespace references (PID 1, kthreadd, the reader): judge it alone
  if (s.pid <= 2 || s.pid === s.reader.pid) return undefined;
  const ns = s.ns;
  const c = s.caps;
  const cr = s.creds;
  // one string built by concatenation: --all computes this for every process (no arrays, no map)
  return (
    k(ns.user) + k(ns.pid) + k(ns.mnt) + k(ns.net) + k(ns.uts) + k(ns.ipc) + k(ns.cgroup) + k(ns.time) +
    `|${cr.uid[1]}|${cr.uid[3]}|${cr.gid[3]}|${cr.groups.join(",")}|${c.effective}|${c.permitted}|${c.inheritable}|${c.bounding}|${c.ambient}` +
    `|${s.noNewPrivs}|${s.seccompMode}|${s.seccompFilters}|${s.nspid.length}|${s.comm}` +
    k(s.root) + k(s.mounts) + k(s.cgroup) + k(s.uidMap) + k(s.parents) + k(s.markers) + k(s.lsm) + k(s.containerEnv) +
    k(s.deviceNodes) + k(s.netDevices) + k(s.timeOffsets)
  );
}

/** One key part: a primitive as itself, an Unknown by its reason, a shared object by its identity. */
function k(v: unknown): string {
  if (typeof v !== "object") return `|=${v as string}`;
  if (v === null) return "|null";
  const reason = (v as { unknown?: unknown }).unknown;
  if (typeof reason === "string") return `|?${reason}`;
  const root = v as { dev?: unknown; ino?: unknown };
  if (typeof root.dev === "number" && typeof root.ino === "number") return `|${root.dev}:${root.ino}`; // a DevIno: by value
  let id = ids.get(v);
  if (id === undefined) ids.set(v, (id = ++nextId));
  return `|#${id}`;
}

const ids = new Map<object, number>();
let nextId = 0;

type Verdict = Omit<ListRow, "pid" | "user" | "comm" | "warning">;
const verdicts = new Map<string, Verdict>();

export function rowOf(s: Snapshot, users: Map<number, string>): ListRow {
  const key = judgedKey(s);
  let v = key === undefined ? undefined : verdicts.get(key);
  if (!v) {
    v = judge(s);
    if (key !== undefined) verdicts.set(key, v);
  }
  const euid = s.creds.uid[1] ?? -1;
  return {
    pid: s.pid,
    user: users.get(euid) ?? String(euid),
    comm: s.comm,
    ...v,
    warning: s.pin.state === "alive" ? undefined : s.pin.detail,
  };
}

function judge(s: Snapshot): Verdict {
  const ns = Object.fromEntries(NS_TYPES.map((t) => [t, nsRelation(s, t).state])) as Record<NsType, string>;
  const caps = capFacts(s);
  const sc = exposureOf(s);
  const cg = known(s.cgroup);
  const short = (x: string) => x.replace(/ \(.*$/, "");
  const rootSep = known(rootFacts(s).separate) === true;
  return {
    ns,
    caps: caps.usable.size === 0 ? "none" : caps.usable.size >= 41 ? "all" : `${caps.usable.size}${caps.dangerousUsable.length ? "!" : ""}`,
    seccomp: s.seccompMode === 2 ? `filter:${s.seccompFilters}` : s.seccompMode === 1 ? "strict" : "off",
    nnp: s.noNewPrivs,
    limits: cg
      ? { memory: short(limitText(cg.memory, "bytes")), pids: short(limitText(cg.pids, "pids")), cpu: short(limitText(cg.cpu, "cpus")) }
      : { memory: "unknown", pids: "unknown", cpu: "unknown" },
    exposure: sc.exposure,
    label: sc.label,
    range: sc.range,
    unknownWeight: sc.unknownWeight,
    runtime: looksLike(s, collectEvidence(s)),
    jailed: rootSep || Object.values(ns).includes("separate"),
  };
}

/** Every process of the reader's pid namespace, kernel threads left out. */
export function listAll(ctx: GatherContext = new GatherContext()): ListRow[] {
  const users = userNames(ctx.src);
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
    r.exposure === null ? "?" : `${r.exposure.toFixed(1)} ${r.label}${r.unknownWeight > 0 && r.range ? ` (${r.range.min.toFixed(1)}–${r.range.max.toFixed(1)})` : ""}`,
    r.runtime + (r.warning ? ` [${r.warning}]` : ""),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [fmt(head), ...table.map(fmt)].join("\n") + "\nNS letters: U user, P pid, M mnt, N net, H uts, I ipc, C cgroup, T time (- shared, ? unknown)\n";
}

