// Cgroup limits of a process: the tightest memory/pids/cpu limit on its cgroup or any ancestor,
// from v2 (memory.max, pids.max, cpu.max) or, when the controller lives in a v1 hierarchy
// (hybrid layouts), from v1 (memory.limit_in_bytes, pids.max, cpu.cfs_quota_us/period).
// File formats: Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst in the kernel tree.
import { parseCgroup, parseMountinfo } from "./parse.ts";
import { isUnknown, unknown, type CgroupEntry, type CgroupInfo, type CgroupLimit, type DevicesAccess, type Known, type Mount } from "./snapshot.ts";
import type { ProcSource } from "./source.ts";

type Resource = "memory" | "pids" | "cpu";

/** Where each hierarchy is mounted in the reader's view; read once per run. */
export interface CgroupMounts {
  readonly v2?: Mount;
  /** controller name → v1 mount */
  readonly v1: Map<string, Mount>;
}

export function findCgroupMounts(readerMountinfo: string): CgroupMounts {
  const v1 = new Map<string, Mount>();
  let v2: Mount | undefined;
  for (const m of parseMountinfo(readerMountinfo)) {
    if (m.fsType === "cgroup2") v2 ??= m;
    else if (m.fsType === "cgroup") for (const o of m.superOptions) if (!v1.has(o)) v1.set(o, m);
  }
  return { v2, v1 };
}

// v1 memory.limit_in_bytes reports "no limit" as a huge page-aligned number (PAGE_COUNTER_MAX).
const V1_UNLIMITED = 2 ** 60;

export class CgroupReader {
  /** file path → value (null = no limit); shared across processes in --all */
  private cache = new Map<string, number | null | undefined>();
  constructor(
    private readonly src: ProcSource,
    private readonly mounts: Known<CgroupMounts>,
  ) {}

  /** Processes in the same cgroups share one (frozen) result. */
  info(cgroupText: Known<string>): Known<CgroupInfo> {
    if (isUnknown(cgroupText)) return cgroupText;
    let info = this.infoCache.get(cgroupText);
    if (!info) {
      const entries = parseCgroup(cgroupText);
      info = Object.freeze({
        entries,
        memory: this.limit(entries, "memory"),
        pids: this.limit(entries, "pids"),
        cpu: this.limit(entries, "cpu"),
        devices: this.devices(entries),
      });
      this.infoCache.set(cgroupText, info);
    }
    return info;
  }
  private infoCache = new Map<string, CgroupInfo>();

  /**
   * Which devices the cgroup lets it open: v1 devices.list of its devices cgroup (a child never
   * allows more than its parent, so its own list is the one in force) AND, on the v2 hierarchy,
   * any BPF_CGROUP_DEVICE program in force (cgroupfs does not show those: asked with
   * BPF_PROG_QUERY, which needs CAP_NET_ADMIN or CAP_SYS_ADMIN).
   */
  private devices(entries: CgroupEntry[]): Known<DevicesAccess> {
    if (isUnknown(this.mounts)) return this.mounts;
    const bpf = this.bpfPrograms(entries);
    const m = this.mounts.v1.get("devices");
    const e = entries.find((x) => x.controllers.split(",").includes("devices"));
    if (m && e) {
      const dir = this.dirOf(m, e.path);
      if (!dir) return unknown(`its devices cgroup ${e.path} is outside the reader's view`);
      const t = this.src.readPath(this.src.path(`${dir}/devices.list`));
      if (isUnknown(t)) return t;
      const rules = t.split("\n").filter(Boolean);
      const v1All = rules.includes("a *:* rwm");
      // a restrictive v1 list restricts whatever BPF says; an open one leaves it to BPF
      if (v1All && typeof bpf === "string") return unknown(`devices.list allows every device, and BPF device programs cannot be queried (${bpf})`);
      const n = typeof bpf === "object" ? bpf.count : undefined;
      return { allowAll: v1All && !n, rules, where: dir, version: 1, ...(n !== undefined ? { bpfPrograms: n } : {}) };
    }
    if (typeof bpf === "string") return unknown(`cgroup v2: device access is decided by BPF programs; BPF_PROG_QUERY failed (${bpf}: needs CAP_NET_ADMIN or CAP_SYS_ADMIN)`);
    if (!bpf.dir) return unknown("no devices controller and no cgroup v2 hierarchy in the reader's view");
    return { allowAll: bpf.count === 0, rules: [], where: bpf.dir, version: 2, bpfPrograms: bpf.count };
  }

  /** BPF device programs in force on its v2 cgroup: the count and the directory, or the errno name. */
  private bpfPrograms(entries: CgroupEntry[]): { count: number; dir: string } | string {
    const v2 = entries.find((e) => e.hierarchy === 0 && e.controllers === "");
    // BPF device programs attach to v2 cgroups only: without a v2 hierarchy there are none
    if (!v2 || isUnknown(this.mounts) || !this.mounts.v2) return { count: 0, dir: "" };
    const dir = this.dirOf(this.mounts.v2, v2.path);
    if (!dir) return "ENOENT: its v2 cgroup is outside the reader's view";
    const n = this.src.devicePrograms(dir);
    return typeof n === "number" ? { count: n, dir } : n;
  }

  private limit(entries: CgroupEntry[], res: Resource): Known<CgroupLimit> {
    if (isUnknown(this.mounts)) return this.mounts;
    const v2 = entries.find((e) => e.hierarchy === 0 && e.controllers === "");
    // v2 first: a controller enabled there is the one in force.
    if (v2 && this.mounts.v2) {
      const dir = this.dirOf(this.mounts.v2, v2.path);
      // A non-root v2 cgroup has memory.max etc. only when its parent enabled the controller;
      // the root cgroup has no limit files, so look at the controllers it offers instead.
      if (dir && this.hasFile(dir, res))
        return this.walk(dir, this.mounts.v2, res, 2);
    }
    const m = this.mounts.v1.get(res);
    const e = entries.find((x) => x.controllers.split(",").includes(res));
    if (m && e) {
      const dir = this.dirOf(m, e.path);
      if (dir) return this.walk(dir, m, res, 1);
    }
    if (v2 && this.mounts.v2) return unknown(`no ${res} controller is enabled on the path (cgroup v2)`);
    return unknown(`no ${res} controller mounted in the reader's view`);
  }

  /** Whether a v2 limit file exists in `dir` (cached: --all asks for the same dirs again and again). */
  private hasFile(dir: string, res: Resource): boolean {
    const key = `has:${dir}:${res}`;
    let v = this.exists.get(key);
    if (v === undefined) this.exists.set(key, (v = this.src.exists(this.src.path(`${dir}/${V2_FILE[res]}`)) === true || this.rootOffers(dir, res)));
    return v;
  }
  private exists = new Map<string, boolean>();

  private rootOffers(dir: string, res: Resource): boolean {
    if (!this.mounts || isUnknown(this.mounts) || dir !== this.mounts.v2?.mountPoint) return false;
    const t = this.src.readPath(this.src.path(`${dir}/cgroup.controllers`));
    return !isUnknown(t) && t.trim().split(/\s+/).includes(res);
  }

  /** The cgroup directory of `path` under a mount (paths are relative to the reader's cgroupns). */
  private dirOf(m: Mount, path: string): string | undefined {
    const root = m.root === "/" ? "" : m.root;
    if (root && !path.startsWith(root)) return undefined;
    const rel = path.slice(root.length);
    return (m.mountPoint + (rel === "/" ? "" : rel)).replace(/\/+$/, "") || "/";
  }

  private walk(dir: string, m: Mount, res: Resource, version: 1 | 2): Known<CgroupLimit> {
    let best: CgroupLimit = { value: null, version };
    let lastErr: Known<never> | undefined;
    for (let d = dir; ; d = parentOf(d)) {
      const v = this.value(d, res, version);
      if (isUnknown(v)) lastErr ??= v;
      else {
        if (v !== null && (best.value === null || v < best.value)) best = { value: v, where: d, version };
      }
      if (d === m.mountPoint || d === "/" || !d.startsWith(m.mountPoint)) break;
    }
    // a limit found is in force whatever the unreadable levels say; "no limit" needs every level
    return best.value !== null || !lastErr ? best : lastErr;
  }

  private value(dir: string, res: Resource, version: 1 | 2): Known<number | null> {
    const key = `${version}:${dir}:${res}`;
    if (this.cache.has(key)) {
      const v = this.cache.get(key);
      return v === undefined ? unknown("ENOENT: no limit file") : v;
    }
    const v = version === 2 ? this.readV2(dir, res) : this.readV1(dir, res);
    if (!isUnknown(v)) this.cache.set(key, v);
    // A missing file at the hierarchy root is normal (root cgroups carry no limit files).
    else if (v.unknown.startsWith("ENOENT")) this.cache.set(key, null);
    return isUnknown(v) && v.unknown.startsWith("ENOENT") ? null : v;
  }

  private readV2(dir: string, res: Resource): Known<number | null> {
    const t = this.src.readPath(this.src.path(`${dir}/${V2_FILE[res]}`));
    if (isUnknown(t)) return t;
    const f = t.trim().split(/\s+/);
    if (f[0] === "max") return null;
    return res === "cpu" ? Number(f[0]) / Number(f[1] ?? 100000) : Number(f[0]);
  }

  private readV1(dir: string, res: Resource): Known<number | null> {
    if (res === "cpu") {
      const q = this.src.readPath(this.src.path(`${dir}/cpu.cfs_quota_us`));
      if (isUnknown(q)) return q;
      if (Number(q) < 0) return null;
      const p = this.src.readPath(this.src.path(`${dir}/cpu.cfs_period_us`));
      return isUnknown(p) ? p : Number(q) / Number(p);
    }
    const t = this.src.readPath(this.src.path(`${dir}/${res === "memory" ? "memory.limit_in_bytes" : "pids.max"}`));
    if (isUnknown(t)) return t;
    if (t.trim() === "max") return null;
    const n = Number(t.trim());
    return res === "memory" && n >= V1_UNLIMITED ? null : n;
  }
}

const V2_FILE: Record<Resource, string> = { memory: "memory.max", pids: "pids.max", cpu: "cpu.max" };

function parentOf(d: string): string {
  const i = d.lastIndexOf("/");
  return i <= 0 ? "/" : d.slice(0, i);
}
