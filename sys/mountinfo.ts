// /proc/PID/mountinfo (proc(5)): the one parser, for the jail's mount setup, the cgroup layout
// and inspect. Pure: no I/O here.

export interface Mount {
  /** unique for the mount object: two namespaces never show the same id */
  readonly id: number;
  readonly parent: number;
  /** "major:minor" */
  readonly dev: string;
  /** field 4: the path inside the source filesystem that is mounted here */
  readonly root: string;
  readonly mountPoint: string;
  readonly options: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
export function unescapeMountField(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

/** The last table parsed, and its text. */
let last: { text: string; mounts: readonly Mount[] } | undefined;

/** Fields, optional fields up to "-", fstype, source, super options; malformed lines are skipped. */
export function parseMountinfo(text: string): readonly Mount[] {
  // The supervisor parses its one table (sys/mount.ts ownMountinfo) for each look at the cgroup
  // layout and for the compile (per bind on kernels without mount_setattr): once is enough.
  if (last?.text === text) return last.mounts;
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2]!,
      root: unescapeMountField(f[3]!),
      mountPoint: unescapeMountField(f[4]!),
      options: f[5]!.split(","),
      fsType: f[sep + 1]!,
      source: unescapeMountField(f[sep + 2]!),
      superOptions: (f[sep + 3] ?? "").split(","),
    });
  }
  last = { text, mounts: out };
  return out;
}

/** mountinfo's per-mount option for each MOUNT_ATTR bit (RDONLY, NOSUID, NODEV, NOEXEC). */
const OPTION_ATTRS: [number, string][] = [[0x1, "ro"], [0x2, "nosuid"], [0x4, "nodev"], [0x8, "noexec"]];

/** A mount's flags as MOUNT_ATTR bits, from mountinfo's per-mount options. */
export function attrsOfOptions(options: readonly string[]): number {
  let a = 0;
  for (const [bit, opt] of OPTION_ATTRS) if (options.includes(opt)) a |= bit;
  return a;
}

/** What a clone of a host path holds: the flags of its top mount, and the visible mounts beneath. */
export interface MountTree {
  attrs: number;
  /** mount points beneath the path, relative to it, parents first, with their flags */
  subs: { rel: string; attrs: number }[];
}

/** Whether the path `p` is at or beneath the mount point (or path) `mp`. */
export const covers = (mp: string, p: string) => mp === "/" || p === mp || p.startsWith(mp + "/");

/**
 * The mounts a clone of `path` (recursive: with its submounts) shows, from the mount table: the
 * mount `path` lies on, found as a path walk finds it (from the root, into the first mount on
 * the way; a mount stacked on another at the same point covers it), and each mount point beneath
 * `path` where the walk ends on a mount rooted there (mounts hidden under others are left out:
 * nothing can reach them). `path` must be canonical (no symlinks, no "..").
 */
export function mountTreeAt(path: string, mountinfo: string, recursive: boolean): MountTree {
  const mounts = parseMountinfo(mountinfo);
  const ids = new Set(mounts.map((m) => m.id));
  const children = new Map<number, Mount[]>();
  for (const m of mounts) {
    const siblings = children.get(m.parent);
    if (siblings) siblings.push(m);
    else children.set(m.parent, [m]);
  }
  const roots = mounts.filter((m) => !ids.has(m.parent));
  const root = roots.findLast((m) => m.mountPoint === "/") ?? roots.at(-1);
  if (!root) return { attrs: 0, subs: [] };
  const walk = (p: string): Mount => {
    let cur = root;
    for (;;) {
      let next: Mount | undefined;
      for (const m of children.get(cur.id) ?? [])
        if (covers(m.mountPoint, p) && (!next || m.mountPoint.length <= next.mountPoint.length)) next = m;
      if (!next) return cur;
      cur = next;
    }
  };
  const top = walk(path);
  const subs: MountTree["subs"] = [];
  if (recursive) {
    const prefix = path === "/" ? "/" : path + "/";
    const points = [...new Set(mounts.map((m) => m.mountPoint).filter((p) => p.startsWith(prefix) && p !== prefix))];
    points.sort((a, b) => a.split("/").length - b.split("/").length);
    for (const p of points) {
      const m = walk(p);
      if (m.mountPoint === p) subs.push({ rel: p.slice(prefix.length), attrs: attrsOfOptions(m.options) });
    }
  }
  return { attrs: attrsOfOptions(top.options), subs };
}
