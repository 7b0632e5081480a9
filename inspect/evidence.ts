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
}

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
  [/^systemd-nspawn$/, "systemd-nspawn"],
  [/^lxc-start$/, "lxc"],
];

const MARKERS: Record<string, string> = {
  "/.dockerenv": "docker",
  "/run/.containerenv": "podman",
  "/.flatpak-info": "flatpak",
};

export function collectEvidence(s: Snapshot): Evidence[] {
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

/** One phrase: what it looks like, from the strongest evidence. */
export function looksLike(s: Snapshot, ev: readonly Evidence[]): string {
  if (ev.length === 0) {
    const inNs = s.nspid.length > 1 || NS_TYPES.some((t) => nsRelation(s, t).state === "separate");
    return inNs ? "sandboxed by an unidentified tool (no runtime evidence)" : "host process (no runtime evidence)";
  }
  const names = [...new Set(ev.map((e) => e.runtime))];
  return names.join(" + ");
}
