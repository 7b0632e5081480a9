// The report as data: one documented, stable object (docs/INSPECT.md) that --json prints as is
// and the text renderer lays out. Bump SCHEMA when a field changes meaning or disappears.
import { allNs, capFacts, deviceExposure, identity, procFacts, rootFacts, sensitiveMounts, type NsRelation } from "./facts.ts";
import { collectEvidence, decidingSource, looksLike, type Evidence } from "./evidence.ts";
import { score, type Score } from "./score.ts";
import { isUnknown, known, type CgroupInfo, type FilterDigest, type IdRange, type Known, type NsType, type PinState, type Rlimit, type Snapshot } from "./snapshot.ts";

export const SCHEMA = "jailx.inspect/2";
export const LIST_SCHEMA = "jailx.inspect.list/2";

export interface InspectReport {
  readonly schema: typeof SCHEMA;
  readonly pid: number;
  readonly comm: string;
  readonly cmdline: Known<readonly string[]>;
  readonly exe: Known<string>;
  readonly reader: { readonly pid: number; readonly uid: number };
  readonly pin: PinState;
  readonly parents: readonly { readonly pid: number; readonly comm: string }[];
  readonly namespaces: Record<NsType, NsRelation & { readonly id: Known<number> }>;
  readonly pidNamespaceDepth: number;
  readonly nspid: readonly number[];
  readonly userNamespace: {
    readonly uidMap: Known<readonly IdRange[]>;
    readonly gidMap: Known<readonly IdRange[]>;
    readonly setgroups: Known<string>;
    /** "root inside = uid N outside"; null when uid 0 is not mapped */
    readonly rootOutside: Known<number | null>;
  };
  readonly credentials: {
    readonly uid: readonly number[];
    readonly gid: readonly number[];
    readonly groups: readonly number[];
    readonly identity: Known<string>;
    readonly insideUid: Known<number | null>;
    /** the effective uid as the reader (the host, when it runs there) sees it */
    readonly hostUid: Known<number>;
  };
  readonly capabilities: {
    readonly effective: string[];
    readonly permitted: string[];
    readonly inheritable: string[];
    readonly bounding: string[];
    readonly ambient: string[];
    readonly dangerous: string[];
    /** the user namespace the capabilities apply in */
    readonly scope: "host" | "own user namespace" | "unknown";
  };
  readonly noNewPrivs: boolean;
  readonly seccomp: { readonly mode: "disabled" | "strict" | "filter"; readonly filters: number; readonly summary: Known<readonly FilterDigest[]> };
  readonly filesystem: {
    readonly rootSeparate: Known<boolean>;
    readonly rootMethod: string | null;
    readonly rootReadOnly: Known<boolean>;
    readonly rootMount: Known<{ readonly dev: string; readonly root: string; readonly fsType: string; readonly source: string }>;
    readonly mountCount: Known<number>;
    readonly proc: Known<{ readonly mounted: boolean; readonly sysWritable: boolean; readonly masked: string[]; readonly unmasked: string[] }>;
    readonly sensitiveMounts: Known<string[]>;
    /** disk and memory device nodes in its /dev that it could open */
    readonly deviceNodes: Known<string[]>;
  };
  readonly resources: {
    readonly cgroup: Known<CgroupInfo>;
    readonly rlimits: Known<Record<string, Rlimit>>;
    readonly oomScoreAdj: Known<number>;
  };
  readonly lsm: Known<string>;
  readonly landlock: string;
  /** decidedBy: the strongest source of evidence present (null without evidence) */
  readonly runtime: { readonly looksLike: string; readonly decidedBy: string | null; readonly evidence: readonly Evidence[] };
  readonly score: Score;
}

export function buildReport(s: Snapshot): InspectReport {
  const ns = allNs(s);
  const id = identity(s);
  const caps = capFacts(s);
  const root = rootFacts(s);
  const mounts = known(s.mounts);
  const ev = collectEvidence(s);
  const map = known(s.uidMap);
  return {
    schema: SCHEMA,
    pid: s.pid,
    comm: s.comm,
    cmdline: s.cmdline,
    exe: s.exe,
    reader: s.reader,
    pin: s.pin,
    parents: s.parents,
    namespaces: Object.fromEntries(Object.entries(ns).map(([t, r]) => [t, { ...r, id: s.ns[t as NsType] }])) as InspectReport["namespaces"],
    pidNamespaceDepth: s.nspid.length,
    nspid: s.nspid,
    userNamespace: {
      uidMap: s.uidMap,
      gidMap: s.gidMap,
      setgroups: s.setgroups,
      rootOutside: map ? (map.find((r) => r.inside === 0)?.outside ?? null) : (s.uidMap as Known<never>),
    },
    credentials: {
      uid: s.creds.uid,
      gid: s.creds.gid,
      groups: s.creds.groups,
      identity: isUnknown(id) ? id : id.kind,
      insideUid: isUnknown(id) ? id : (id.insideUid ?? null),
      hostUid: isUnknown(id) ? id : id.hostUid,
    },
    capabilities: {
      ...caps.sets,
      dangerous: caps.dangerousUsable,
      scope: ns.user.state === "separate" ? "own user namespace" : ns.user.state === "shared" ? "host" : "unknown",
    },
    noNewPrivs: s.noNewPrivs,
    seccomp: { mode: (["disabled", "strict", "filter"] as const)[s.seccompMode] ?? "filter", filters: s.seccompFilters, summary: s.seccompFilterSummary },
    filesystem: {
      rootSeparate: root.separate,
      rootMethod: root.method,
      rootReadOnly: root.readOnly,
      rootMount: root.rootMount
        ? { dev: root.rootMount.dev, root: root.rootMount.root, fsType: root.rootMount.fsType, source: root.rootMount.source }
        : (isUnknown(s.mounts) ? s.mounts : { unknown: "no / entry" }),
      mountCount: mounts ? mounts.length : (s.mounts as Known<never>),
      proc: mounts ? procFacts(mounts, s.kernelProcEntries) : (s.mounts as Known<never>),
      sensitiveMounts: sensitiveMounts(s),
      deviceNodes: deviceExposure(s),
    },
    resources: { cgroup: s.cgroup, rlimits: s.rlimits, oomScoreAdj: s.oomScoreAdj },
    lsm: s.lsm,
    landlock: "not observable from outside (the kernel exposes no Landlock domain in /proc)",
    runtime: { looksLike: looksLike(s, ev), decidedBy: decidingSource(ev) ?? null, evidence: ev },
    score: score(s),
  };
}
