// Gathering: which cgroup hierarchies are mounted (from mountinfo), which controllers each one
// has, and where the calling process sits in each (from /proc/self/cgroup). No judging here.
import { SysError } from "../errors.ts";
import { parseMountinfo } from "../mountinfo.ts";
import { ownMountinfo } from "../mount.ts";
import { realSystem, type CgroupSystem } from "./system.ts";

export interface CgroupHierarchy {
  version: 1 | 2;
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup. */
  mountPoint: string;
  /** The cgroup shown at the mount point (mountinfo field 4), usually "/". */
  mountRoot: string;
  /** v1: the controllers bound to it (from the mount options); v2: the root's cgroup.controllers. */
  controllers: string[];
  /** v1 named hierarchy without controllers (name=systemd). */
  name?: string;
}

export interface CgroupLayout {
  /** "v2": only a cgroup2 tree; "v1": only v1 hierarchies; "hybrid": both. */
  kind: "v2" | "v1" | "hybrid";
  root: string;
  hierarchies: CgroupHierarchy[];
}

/** The v1 controller names the kernel may list in a cgroup mount's super options. */
const V1_CONTROLLERS = new Set([
  "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio", "perf_event",
  "net_prio", "hugetlb", "pids", "rdma", "misc",
]);

function under(path: string, dir: string): boolean {
  return dir === "/" || path === dir || path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

/** The cgroup and cgroup2 mounts beneath `root` in a mountinfo text (see proc(5) for the fields). */
export function parseCgroupMounts(mountinfo: string, root: string): CgroupHierarchy[] {
  const seen = new Map<string, CgroupHierarchy>();
  for (const { fsType: fstype, root: mountRoot, mountPoint, superOptions: opts } of parseMountinfo(mountinfo)) {
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    if (!under(mountPoint, root)) continue;
    let h: CgroupHierarchy;
    if (fstype === "cgroup2") h = { version: 2, mountPoint, mountRoot, controllers: [] };
    else {
      const name = opts.find((o) => o.startsWith("name="))?.slice(5);
      h = { version: 1, mountPoint, mountRoot, controllers: opts.filter((o) => V1_CONTROLLERS.has(o)).sort() };
      if (name) h.name = name;
    }
    // The same hierarchy mounted twice (bind mounts): keep the first, the shortest path wins ties.
    const key = h.version === 2 ? "v2" : h.name ? `name=${h.name}` : h.controllers.join(",");
    if (!seen.has(key)) seen.set(key, h);
  }
  return [...seen.values()];
}

/**
 * Which cgroup layout is mounted beneath `root`, with each hierarchy's mount point and
 * controllers. `mountinfoText` (default /proc/self/mountinfo) and `system` are seams for tests.
 */
export function detectCgroupLayout(
  root = "/sys/fs/cgroup",
  mountinfoText?: string,
  system: CgroupSystem = realSystem,
): CgroupLayout {
  const text = mountinfoText ?? ownMountinfo();
  const hierarchies = parseCgroupMounts(text, root);
  for (const h of hierarchies) {
    if (h.version === 2) h.controllers = (system.read(`${h.mountPoint}/cgroup.controllers`) ?? "").split(/\s+/).filter(Boolean);
  }
  const v1 = hierarchies.some((h) => h.version === 1);
  const v2 = hierarchies.some((h) => h.version === 2);
  if (!v1 && !v2) throw new SysError("mountinfo", "ENOENT", 2, root, undefined, "no cgroup filesystem is mounted there; mount cgroup2 at /sys/fs/cgroup");
  return { kind: v1 && v2 ? "hybrid" : v2 ? "v2" : "v1", root, hierarchies };
}

export interface SelfCgroupEntry {
  id: number;
  /** v1: controllers (and name=X) of the hierarchy; v2: empty. */
  controllers: string[];
  path: string;
}

/** /proc/PID/cgroup (any process, not only self): "hierarchy-id:controller-list:path" per line (cgroups(7)). */
export function parseSelfCgroup(text: string): SelfCgroupEntry[] {
  const out: SelfCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ id: Number(m[1]), controllers: m[2] ? m[2].split(",").sort() : [], path: m[3]! });
  }
  return out;
}

/** The caller's cgroup path in hierarchy `h`, or null when /proc/self/cgroup has no line for it. */
export function callerPathIn(h: CgroupHierarchy, self: SelfCgroupEntry[]): string | null {
  const entry = self.find((e) =>
    h.version === 2
      ? e.id === 0 && e.controllers.length === 0
      : h.name
        ? e.controllers.includes(`name=${h.name}`)
        : e.controllers.join(",") === h.controllers.join(","),
  );
  return entry?.path ?? null;
}

/** A cgroup path ("/a/b") → its directory under the hierarchy's mount, or null if not visible there. */
export function dirOf(h: CgroupHierarchy, cgroupPath: string): string | null {
  if (!under(cgroupPath, h.mountRoot)) return null;
  const rest = h.mountRoot === "/" ? cgroupPath : cgroupPath.slice(h.mountRoot.length);
  return (h.mountPoint + (rest === "/" ? "" : rest)).replace(/\/+$/, "") || "/";
}
