// Interpretation shared by the checks and the report: what the raw snapshot means, layer by
// layer (shared or separate namespaces, who the process is on the host, what its root is).
import { DANGEROUS_CAPS, capNames } from "./caps.ts";
import { mountAt, visibleMounts } from "./parse.ts";
import { isUnknown, known, NS_TYPES, unknown, type Known, type Mount, type NsReference, type NsType, type Snapshot } from "./snapshot.ts";

export interface NsRelation {
  readonly state: "shared" | "separate" | "unknown";
  /** which process the target was compared with */
  readonly reference: NsReference["name"] | null;
  /** the same comparison against the reader itself, when both could be read */
  readonly vsReader?: "shared" | "separate";
  /** what decided: the ns links, or a fact anyone can read when the links are refused */
  readonly proof?: "ns link" | "NSpid" | "uid_map" | "mount ids" | "net/dev" | "timens_offsets";
  readonly reason?: string;
}

/**
 * Shared or separate, compared with PID 1 of the reader's view (the host's init when the reader
 * runs on the host); when PID 1's links cannot be read, with kthreadd (always in the initial
 * namespaces) and finally with the reader itself. A reference that is the target is skipped.
 */
export function nsRelation(s: Snapshot, t: NsType): NsRelation {
  return allNs(s)[t];
}

/** Facts are derived many times per snapshot (checks, report, list row): compute each once. */
function memo<T>(f: (s: Snapshot) => T): (s: Snapshot) => T {
  const cache = new WeakMap<Snapshot, T>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) cache.set(s, (v = f(s)));
    return v;
  };
}

function computeNsRelation(s: Snapshot, t: NsType): NsRelation {
  const mine = s.ns[t];
  if (isUnknown(mine)) return readableProof(s, t) ?? { state: "unknown", reference: null, reason: mine.unknown };
  const reader = s.refs.find((r) => r.name === "reader" && r.pid !== s.pid);
  const rv = reader ? known(reader.ns[t]) : undefined;
  const vsReader = rv === undefined ? undefined : rv === mine ? "shared" : "separate";
  for (const ref of s.refs) {
    if (ref.pid === s.pid) continue;
    const id = known(ref.ns[t]);
    if (id !== undefined) return { state: id === mine ? "shared" : "separate", reference: ref.name, vsReader, proof: "ns link" };
  }
  const why = s.refs.map((r) => r.ns[t]).find(isUnknown);
  return { state: "unknown", reference: null, reason: `no reference namespace could be read${why ? ` (${why.unknown})` : ""}` };
}

/**
 * The ns/* links need ptrace access; these facts do not, and each proves a relation to the
 * reader's namespace on its own (no guessing: without a proof the state stays unknown).
 */
function readableProof(s: Snapshot, t: NsType): NsRelation | undefined {
  const r = s.readerView;
  const sep = (proof: NsRelation["proof"]): NsRelation => ({ state: "separate", reference: "reader", proof });
  const shared = (proof: NsRelation["proof"]): NsRelation => ({ state: "shared", reference: "reader", proof });
  switch (t) {
    case "pid":
      // NSpid lists its pid in every pid namespace from the reader's /proc down to its own
      if (r.nspid.length === 0 || s.nspid.length === 0) return undefined;
      return s.nspid.length > r.nspid.length ? sep("NSpid") : s.nspid.length === 1 ? shared("NSpid") : undefined;
    case "user": {
      // uid_map is shown relative to the reader: a map other than the reader's own is another namespace
      const mine = known(s.uidMap);
      const theirs = known(r.uidMap);
      if (!mine || !theirs) return undefined;
      return mapText(mine) !== mapText(theirs) ? sep("uid_map") : undefined;
    }
    case "mnt": {
      // a mount id belongs to one mount object, and a mount to one namespace
      const mine = known(s.mounts);
      const theirs = known(r.mountIds);
      if (!mine || !theirs || mine.length === 0) return undefined;
      return mine.some((m) => theirs.has(m.id)) ? shared("mount ids") : sep("mount ids");
    }
    case "net": {
      // another set of interfaces is another network stack; the same set proves nothing
      const mine = known(s.netDevices);
      const theirs = known(r.netDevices);
      return mine !== undefined && theirs !== undefined && mine !== theirs ? sep("net/dev") : undefined;
    }
    case "time": {
      const off = known(s.timeOffsets);
      return off !== undefined && /\s-?[1-9]/.test(off) ? sep("timens_offsets") : undefined;
    }
    default:
      return undefined;
  }
}

function mapText(m: readonly { inside: number; outside: number; count: number }[]): string {
  return m.map((x) => `${x.inside} ${x.outside} ${x.count}`).join(",");
}

export const allNs = memo((s: Snapshot): Record<NsType, NsRelation> => {
  const out = {} as Record<NsType, NsRelation>;
  for (const t of NS_TYPES) out[t] = computeNsRelation(s, t);
  return out;
});

/** Who the process is: host root, root only inside its user namespace, or an ordinary user. */
export interface Identity {
  readonly kind: "host-root" | "userns-root" | "user";
  /** effective uid as the reader sees it (status is translated into the reader's user namespace) */
  readonly hostUid: number;
  /** effective uid inside its own user namespace, when known */
  readonly insideUid?: number;
  /** "root inside = uid N outside" */
  readonly rootOutside?: number;
}

export const identity = memo(computeIdentity);
/**
 * status shows the ids translated into the reader's user namespace; uid_map (readable by anyone)
 * says what they are inside the process's own. The map decides whenever it can be read: uid 0
 * inside that is not uid 0 outside is root only over its own namespace.
 */
function computeIdentity(s: Snapshot): Known<Identity> {
  const euid = s.creds.uid[1] ?? -1;
  const map = known(s.uidMap);
  const rootOutside = map?.find((r) => r.inside === 0)?.outside;
  if (euid === 0) return { kind: "host-root", hostUid: 0, insideUid: map ? toInside(map, 0) : 0, rootOutside };
  if (!map) {
    // without the map, the ids are known only as the reader sees them
    const userns = nsRelation(s, "user");
    if (userns.state === "separate") return unknown(`uid_map unreadable (${(s.uidMap as { unknown: string }).unknown})`);
    return { kind: "user", hostUid: euid, insideUid: euid };
  }
  const insideUid = toInside(map, euid);
  return { kind: insideUid === 0 ? "userns-root" : "user", hostUid: euid, insideUid, rootOutside };
}

/** An id as the reader sees it → the same id inside the process's user namespace. */
function toInside(map: readonly { inside: number; outside: number; count: number }[], outside: number): number | undefined {
  const r = map.find((x) => outside >= x.outside && outside < x.outside + x.count);
  return r ? r.inside + outside - r.outside : undefined;
}

/** Capability names per set, and the dangerous ones that are usable (effective or permitted). */
export const capFacts = memo((s: Snapshot) => {
  // many processes carry the same five masks: decode each combination once
  const c = s.caps;
  const key = `${c.effective}/${c.permitted}/${c.inheritable}/${c.bounding}/${c.ambient}`;
  let v = capCache.get(key);
  if (!v) capCache.set(key, (v = computeCapFacts(s)));
  return v;
});
const capCache = new Map<string, ReturnType<typeof computeCapFacts>>();

function computeCapFacts(s: Snapshot) {
  const sets = {
    effective: capNames(s.caps.effective),
    permitted: capNames(s.caps.permitted),
    inheritable: capNames(s.caps.inheritable),
    bounding: capNames(s.caps.bounding),
    ambient: capNames(s.caps.ambient),
  };
  const usable = new Set([...sets.effective, ...sets.permitted, ...sets.ambient]);
  return { sets, usable, dangerousUsable: DANGEROUS_CAPS.filter((c) => usable.has(c)) };
}

export interface RootFacts {
  /** the directory the process sees as "/" is not the reader's "/" */
  readonly separate: Known<boolean>;
  /** how `separate` was decided */
  readonly method: "stat dev:inode" | "mountinfo / entry" | null;
  readonly readOnly: Known<boolean>;
  readonly rootMount?: Mount;
}

export const rootFacts = memo(computeRootFacts);
function computeRootFacts(s: Snapshot): RootFacts {
  const mounts = known(s.mounts);
  const rootMount = mounts ? mountAt(mounts, "/") : undefined;
  const readOnly: Known<boolean> = rootMount ? rootMount.options.includes("ro") : isUnknown(s.mounts) ? s.mounts : unknown("no / entry in mountinfo");
  const r = known(s.root);
  const h = known(s.hostRoot);
  if (r && h) return { separate: r.dev !== h.dev || r.ino !== h.ino, method: "stat dev:inode", readOnly, rootMount };
  // Without ptrace access: mountinfo is readable by anyone; its `/` entry names the filesystem
  // (major:minor) and the directory inside it (field 4) that the process uses as its root.
  const hm = known(s.hostRootMount);
  if (rootMount && hm) {
    return { separate: rootMount.dev !== hm.dev || rootMount.root !== hm.root, method: "mountinfo / entry", readOnly, rootMount };
  }
  return { separate: isUnknown(s.root) ? s.root : unknown("cannot compare roots"), method: null, readOnly, rootMount };
}

/** Paths under /proc that container runtimes hide (Docker/OCI default maskedPaths and readonlyPaths). */
export const MASKED_PROC = ["/proc/kcore", "/proc/sysrq-trigger", "/proc/keys", "/proc/timer_list"] as const;

export interface ProcFacts {
  /** no proc filesystem at /proc at all */
  readonly mounted: boolean;
  readonly sysWritable: boolean;
  readonly masked: string[];
  readonly unmasked: string[];
}

/**
 * `present`: the entries this kernel has at all (/proc/kcore needs CONFIG_PROC_KCORE, …); one
 * that does not exist cannot be visible, so it is neither masked nor unmasked.
 */
export function procFacts(mounts: readonly Mount[], present: readonly string[] = MASKED_PROC): ProcFacts {
  const proc = mountAt(mounts, "/proc");
  if (!proc || proc.fsType !== "proc") return { mounted: false, sysWritable: false, masked: [], unmasked: [] };
  const sys = mountAt(mounts, "/proc/sys");
  const sysWritable = !(proc.options.includes("ro") || (sys && sys.options.includes("ro")));
  const entries = MASKED_PROC.filter((p) => present.includes(p));
  // masked = something is mounted over it (read-only /proc still lets root read /proc/kcore)
  const masked = entries.filter((p) => mountAt(mounts, p) !== undefined);
  return { mounted: true, sysWritable, masked, unmasked: entries.filter((p) => !masked.includes(p)) };
}

/** Host paths that, mounted into a separate mount namespace, give the host away. */
export const sensitiveMounts = memo(computeSensitiveMounts);
function computeSensitiveMounts(s: Snapshot): Known<string[]> {
  // "mounted in" means something only in another mount namespace: in the host's, these are the host's own
  const mnt = nsRelation(s, "mnt");
  if (mnt.state === "shared") return [];
  if (mnt.state === "unknown") return unknown(`whether its mount namespace is the host's is unknown (${mnt.reason})`);
  const mounts = known(s.mounts);
  if (!mounts) return s.mounts as Known<never>;
  const host = known(s.hostRootMount);
  const procDev = known(s.hostProcDev);
  const out: string[] = [];
  for (const m of visibleMounts(mounts).values()) {
    const rw = !m.options.includes("ro");
    if (host && m.dev === host.dev && m.root === host.root && m.mountPoint !== "/") out.push(`host root filesystem at ${m.mountPoint}${rw ? " (rw)" : ""}`);
    if (/(^|\/)(docker|containerd|podman)\.sock$/.test(m.root) || /\.sock$/.test(m.mountPoint) && /docker|containerd|podman/.test(m.mountPoint))
      out.push(`container runtime socket at ${m.mountPoint}`);
    // a proc instance is bound to a pid namespace: the host's one (same device) shows host processes
    if (m.fsType === "proc" && procDev && m.dev === procDev) out.push(`host /proc at ${m.mountPoint}${rw ? " (rw)" : ""}`);
    // the whole devtmpfs, not single nodes (/dev/null bound in, or over a masked /proc file)
    if (m.fsType === "devtmpfs" && m.root === "/") out.push(`host /dev (devtmpfs) at ${m.mountPoint}${rw ? " (rw)" : ""}`);
    if (m.fsType === "sysfs" && rw) out.push(`writable /sys at ${m.mountPoint}`);
    if (host && m.dev === host.dev && /^\/(var\/)?run$/.test(m.root) && rw) out.push(`host ${m.root} at ${m.mountPoint} (rw)`);
  }
  return out;
}

/** char devices that expose the host's memory and I/O ports (drivers/char/mem.c: mem, kmem, port) */
const MEMORY_DEVICES = new Set(["1:1", "1:2", "1:4"]);

/**
 * Disk (block) and memory device nodes in its /dev that it could open: not on a nodev mount,
 * allowed by its devices cgroup (v1; when that is unknown the node still counts and says so),
 * and open to it by the node's owner, group or mode bits — or to anyone with
 * cap_dac_override over the host.
 */
export const deviceExposure = memo(computeDeviceExposure);
function computeDeviceExposure(s: Snapshot): Known<string[]> {
  const nodes = known(s.deviceNodes);
  if (!nodes) return s.deviceNodes as Known<never>;
  const mounts = known(s.mounts);
  const visible = mounts ? visibleMounts(mounts) : undefined;
  const cg = known(s.cgroup);
  const devices = cg ? known(cg.devices) : undefined;
  const fsuid = s.creds.uid[3] ?? -1;
  const gids = new Set([s.creds.gid[3] ?? -1, ...s.creds.groups]);
  const overHost = nsRelation(s, "user").state === "shared" && capFacts(s).usable.has("dac_override");
  const out: string[] = [];
  for (const n of nodes) {
    if (n.type !== "block" && !MEMORY_DEVICES.has(`${n.major}:${n.minor}`)) continue;
    if (visible && mountOf(visible, n.path)?.options.includes("nodev")) continue;
    if (devices && !devices.allowAll && !cgroupAllows(devices.rules, n.type, n.major, n.minor)) continue;
    const dac = overHost || (n.uid === fsuid && n.mode & 0o600) || (gids.has(n.gid) && n.mode & 0o060) || n.mode & 0o006;
    if (!dac) continue;
    out.push(devices ? n.path : `${n.path} (devices cgroup unknown)`);
  }
  return out;
}

/** The mount a path lies on: the visible mount with the longest matching mount point. */
function mountOf(visible: Map<string, Mount>, path: string): Mount | undefined {
  for (let p = path; ; p = p.slice(0, Math.max(p.lastIndexOf("/"), 1))) {
    const m = visible.get(p);
    if (m) return m;
    if (p === "/") return undefined;
  }
}

/** v1 devices.list rules ("b 8:* rwm", "c 1:3 rw", "a *:* rwm"): may it read or write the node? */
function cgroupAllows(rules: readonly string[], type: "block" | "char", major: number, minor: number): boolean {
  const t = type === "block" ? "b" : "c";
  return rules.some((r) => {
    const [rt, mm, acc] = r.split(" ");
    if (!mm || !acc || (rt !== "a" && rt !== t)) return false;
    const [ma, mi] = mm.split(":");
    return (ma === "*" || Number(ma) === major) && (mi === "*" || Number(mi) === minor) && /[rw]/.test(acc);
  });
}
