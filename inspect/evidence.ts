// Runtime evidence: what the process looks like (docker, podman, kubernetes, bwrap, …), listed as
// evidence with its source rather than a guess. Marker files are looked up inside the target's
// own root only, and are not believed when that root is the reader's (this host has a stray
// /.dockerenv on its own root).
import { nsRelation, rootFacts } from "./facts.ts";
import { known, NS_TYPES, type Snapshot } from "./snapshot.ts";

export interface Evidence {
  readonly runtime: string;
  readonly source: string;
  readonly detail: string;
  /** set when stronger evidence names another runtime (e.g. a stale marker file in a shared rootfs) */
  readonly outweighed?: string;
}

/**
 * How much each source can be trusted, strongest first. The parent chain and the process itself
 * are what the kernel says ran it; the cgroup path is set by the runtime that placed it; environ
 * is set at start but copied from images and configs; a marker file is just a file in a root
 * filesystem that several runtimes may share, and stays there after the runtime that wrote it.
 */
const STRENGTH = ["command", "parent chain", "cgroup path", "environ", "marker file"] as const;

const CGROUP_PATTERNS: readonly [RegExp, string][] = [
  [/\/kubepods/, "kubernetes"],
  [/\/docker[-/]|docker-[0-9a-f]{12,}\.scope/, "docker"],
  [/libpod|\/machine\.slice\/libpod-/, "podman"],
  [/\/lxc(\.payload)?[./]/, "lxc"],
  [/\/machine\.slice\/machine-/, "systemd-nspawn/machined"],
  [/\/jailx[-/]/, "jailx"],
];

const PARENTS: readonly [RegExp, string][] = [
  [/^bwrap$/, "bubblewrap"],
  [/^firejail$/, "firejail"],
  [/^jailx$/, "jailx"],
  [/^containerd-shim/, "containerd"],
  [/^conmon$/, "podman (conmon)"],
  [/^runsc/, "gVisor"],
  [/^runc$/, "runc"],
  [/^crun$/, "crun"],
  [/^systemd-nspawn$/, "systemd-nspawn"],
  [/^lxc-start$/, "lxc"],
];

const MARKERS: Record<string, string> = {
  "/.dockerenv": "docker",
  "/run/.containerenv": "podman",
  "/.flatpak-info": "flatpak",
};

/**
 * The evidence, each item marked `outweighed` when a stronger source names only other runtimes.
 * Same-strength sources naming different runtimes are both kept (nested sandboxes do exist).
 */
export function collectEvidence(s: Snapshot): Evidence[] {
  const raw = rawEvidence(s);
  const decided = decidingSource(raw);
  if (!decided) return raw;
  const named = new Set(raw.filter((e) => e.source === decided).map((e) => e.runtime));
  const rank = (src: string) => STRENGTH.indexOf(src as (typeof STRENGTH)[number]);
  return raw.map((e) =>
    rank(e.source) > rank(decided) && !named.has(e.runtime) && !agrees(e.runtime, named) ? { ...e, outweighed: `${decided} says ${[...named].join(" + ")}` } : e,
  );
}

/** "podman (conmon)" and "podman", "systemd-nspawn/machined" and "systemd-nspawn" are the same runtime. */
function agrees(runtime: string, named: Set<string>): boolean {
  const base = (x: string) => x.split(/[ /(]/)[0]!;
  for (const n of named) if (base(n) === base(runtime)) return true;
  return false;
}

/** The strongest source present. */
export function decidingSource(ev: readonly Evidence[]): string | undefined {
  return STRENGTH.find((src) => ev.some((e) => e.source === src));
}

function rawEvidence(s: Snapshot): Evidence[] {
  const out: Evidence[] = [];
  const env = known(s.containerEnv);
  if (env) out.push({ runtime: env, source: "environ", detail: `container=${env}` });
  const rootSeparate = known(rootFacts(s).separate);
  for (const [file, present] of Object.entries(s.markers)) {
    if (present !== true) continue;
    if (rootSeparate === false) continue; // the reader's own root: says nothing about the target
    out.push({ runtime: MARKERS[file] ?? file, source: "marker file", detail: `${file} inside its root` });
  }
  const cg = known(s.cgroup);
  if (cg) out.push(...cgroupEvidence(cg.entries));
  out.push(...parentEvidence(s.parents));
  if (/^(bwrap|firejail|runsc.*)$/.test(s.comm)) {
    const name = PARENTS.find(([re]) => re.test(s.comm))?.[1] ?? s.comm;
    out.push({ runtime: name, source: "command", detail: `it is ${s.comm} itself (the sandbox's supervisor)` });
  }
  return out;
}

// --all: thousands of processes share a few cgroup lists and parent chains (same arrays)
const cgroupCache = new WeakMap<object, Evidence[]>();
const parentCache = new WeakMap<object, Evidence[]>();

function cgroupEvidence(entries: Snapshot["parents"] | readonly { path: string }[]): Evidence[] {
  let out = cgroupCache.get(entries);
  if (out) return out;
  out = [];
  for (const e of entries as readonly { path: string }[]) {
    for (const [re, name] of CGROUP_PATTERNS) {
      if (re.test(e.path) && !out.some((o) => o.runtime === name)) out.push({ runtime: name, source: "cgroup path", detail: e.path });
    }
  }
  cgroupCache.set(entries, out);
  return out;
}

function parentEvidence(parents: Snapshot["parents"]): Evidence[] {
  let out = parentCache.get(parents);
  if (out) return out;
  out = [];
  for (const p of parents) {
    for (const [re, name] of PARENTS) if (re.test(p.comm)) out.push({ runtime: name, source: "parent chain", detail: `${p.comm} (pid ${p.pid})` });
  }
  parentCache.set(parents, out);
  return out;
}

/** One phrase: what it looks like, from the evidence not outweighed; the deciding source is given separately. */
export function looksLike(s: Snapshot, ev: readonly Evidence[]): string {
  const kept = ev.filter((e) => !e.outweighed);
  if (kept.length === 0) {
    const rel = NS_TYPES.map((t) => nsRelation(s, t).state);
    if (s.nspid.length > 1 || rel.includes("separate") || known(rootFacts(s).separate) === true) return "sandboxed by an unidentified tool (no runtime evidence)";
    // "host process" only when every namespace is known to be the host's
    if (rel.includes("unknown")) return "no runtime evidence (namespaces partly unknown)";
    return "host process (no runtime evidence)";
  }
  const rank = (e: Evidence) => STRENGTH.indexOf(e.source as (typeof STRENGTH)[number]);
  return [...new Set([...kept].sort((a, b) => rank(a) - rank(b)).map((e) => e.runtime))].join(" + ");
}
