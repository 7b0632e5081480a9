// Gathering: /proc (and the cgroup filesystem) → a Snapshot. Reads each file once, synchronously;
// what several processes share (mountinfo per mount namespace and root, id maps per user
// namespace, markers per root, cgroup limit files) is read once per run and cached.
import { MASKED_PROC } from "./facts.ts";
import { CgroupReader, findCgroupMounts } from "./cgroup.ts";
import { mountAt, numbers, parseIdMap, parseLimits, parseMountinfo, parseNsLink, parseStat, parseStatus } from "./parse.ts";
import { isUnknown, NS_TYPES, unknown, type DevIno, type DeviceNode, type IdRange, type Known, type Mount, type NsIds, type NsReference, type PinState, type ReaderView, type Snapshot } from "./snapshot.ts";
import { ProcSource } from "./source.ts";

/** Marker files looked up inside the target's root (never the reader's: this host has a stray /.dockerenv). */
export const MARKER_FILES = ["/.dockerenv", "/run/.containerenv", "/.flatpak-info"] as const;

export interface GatherOptions {
  /** false for --all: skip what only the single-process report shows (cmdline, exe, limits, oom) */
  readonly full: boolean;
}

// one shared object: --all skips these reads for every process
const NOT_READ = unknown("not read in --all");
const FILTERS_NOT_READ = unknown("filter contents not read (only for a single process, as root)");

/** The process could not be inspected at all (no such pid). */
export class NoSuchProcess extends Error {}

/** Per-run state: the references to compare with and the caches shared across processes. */
export class GatherContext {
  readonly readerPid: number;
  readonly refs: readonly NsReference[];
  readonly hostRoot: Known<DevIno>;
  readonly hostRootMount: Known<Mount>;
  readonly hostProcDev: Known<string | null>;
  /** the sensitive /proc entries this kernel has (same kernel for every process) */
  readonly kernelProcEntries: readonly string[];
  readonly cgroups: CgroupReader;
  readonly readerView: ReaderView;
  private mountCache = new Map<string, Known<readonly Mount[]>>();
  private mapCache = new Map<string, Known<readonly IdRange[]>>();
  private textCache = new Map<string, string>();
  private markerCache = new Map<string, Record<string, Known<boolean>>>();
  private deviceCache = new Map<string, Known<readonly DeviceNode[]>>();
  private statCache = new Map<number, { comm: string; ppid: number } | null>();

  constructor(
    readonly src: ProcSource = new ProcSource(),
    readerPid?: number,
  ) {
    this.readerPid = readerPid ?? src.selfPid();
    // PID 1 may refuse even root (it can hold capabilities the reader lacks); kthreadd always
    // lives in the kernel's initial namespaces, when it is visible (not inside a pid namespace).
    const kthreadd = src.read(2, "stat");
    this.refs = [
      { name: "PID 1", pid: 1, ns: readNs(src, 1) },
      ...(!isUnknown(kthreadd) && /^2 \(kthreadd\) \S+ 0 /.test(kthreadd) ? [{ name: "kthreadd (PID 2)" as const, pid: 2, ns: readNs(src, 2) }] : []),
      { name: "reader", pid: this.readerPid, ns: readNs(src, this.readerPid) },
    ];
    // the reader's own root: stat through /proc like every target's, so both come out the same way
    this.hostRoot = src.statRoot(this.readerPid);
    const mi = src.read(this.readerPid, "mountinfo");
    const readerMounts = isUnknown(mi) ? mi : parseMountinfo(mi);
    const readerStatus = src.read(this.readerPid, "status");
    this.readerView = {
      nspid: isUnknown(readerStatus) ? [] : numbers(parseStatus(readerStatus).get("NSpid")),
      uidMap: this.idMap(this.readerPid, "uid_map", unknown("not cached")),
      mountIds: isUnknown(readerMounts) ? readerMounts : new Set(readerMounts.map((m) => m.id)),
      netDevices: netDevices(src, this.readerPid),
    };
    this.hostRootMount = isUnknown(readerMounts) ? readerMounts : (mountAt(readerMounts, "/") ?? unknown("no / entry in mountinfo"));
    this.hostProcDev = isUnknown(readerMounts) ? readerMounts : (mountAt(readerMounts, "/proc")?.dev ?? null);
    this.cgroups = new CgroupReader(src, isUnknown(mi) ? mi : findCgroupMounts(mi));
    this.kernelProcEntries = MASKED_PROC.filter((p) => src.exists(src.path(p)) === true);
  }

  mounts(pid: number, ns: Known<number>, root: Known<DevIno>): Known<readonly Mount[]> {
    // mountinfo depends on the mount namespace and on the process root (paths are relative to it)
    const key = isUnknown(ns) || isUnknown(root) ? undefined : `${ns}:${root.dev}:${root.ino}`;
    if (key && this.mountCache.has(key)) return this.mountCache.get(key)!;
    const t = this.src.read(pid, "mountinfo");
    const v = isUnknown(t) ? t : parseMountinfo(t);
    if (key && !isUnknown(v)) this.mountCache.set(key, v);
    return v;
  }

  /** A file that belongs to the user namespace (setgroups), read once per namespace. */
  perUserns(pid: number, file: string, userns: Known<number>): Known<string> {
    const key = isUnknown(userns) ? undefined : `${file}:${userns}`;
    if (key && this.textCache.has(key)) return this.textCache.get(key)!;
    const v = this.src.read(pid, file);
    if (key && !isUnknown(v)) this.textCache.set(key, v);
    return v;
  }

  idMap(pid: number, file: "uid_map" | "gid_map", userns: Known<number>): Known<readonly IdRange[]> {
    const key = isUnknown(userns) ? undefined : `${file}:${userns}`;
    if (key && this.mapCache.has(key)) return this.mapCache.get(key)!;
    const t = this.src.read(pid, file);
    const v = isUnknown(t) ? t : parseIdMap(t);
    if (key && !isUnknown(v)) this.mapCache.set(key, v);
    return v;
  }

  /**
   * What the lookups of marker files and device nodes through /proc/PID/root find depends on the
   * process's mount namespace (its mounts: /run, /dev) and on its root directory: cached by both.
   */
  private viewKey(mnt: Known<number>, root: Known<DevIno>): string | undefined {
    return isUnknown(mnt) || isUnknown(root) ? undefined : `${mnt}:${root.dev}:${root.ino}`;
  }

  markers(pid: number, mnt: Known<number>, root: Known<DevIno>): Record<string, Known<boolean>> {
    const key = this.viewKey(mnt, root);
    if (key && this.markerCache.has(key)) return this.markerCache.get(key)!;
    const out: Record<string, Known<boolean>> = {};
    for (const f of MARKER_FILES) out[f] = this.src.exists(`${this.src.proc}/${pid}/root${f}`);
    if (key) this.markerCache.set(key, out);
    return out;
  }

  deviceNodes(pid: number, mnt: Known<number>, root: Known<DevIno>): Known<readonly DeviceNode[]> {
    const key = this.viewKey(mnt, root);
    if (key && this.deviceCache.has(key)) return this.deviceCache.get(key)!;
    const v = this.src.deviceNodes(pid);
    if (key && !isUnknown(v)) this.deviceCache.set(key, v);
    return v;
  }

  /** comm and ppid of a process, for the parent chain (cached: parents are shared). */
  stat(pid: number): { comm: string; ppid: number } | null {
    if (this.statCache.has(pid)) return this.statCache.get(pid)!;
    const t = this.src.read(pid, "stat");
    const v = isUnknown(t) ? null : parseStat(t);
    this.statCache.set(pid, v && { comm: v.comm, ppid: v.ppid });
    return v && { comm: v.comm, ppid: v.ppid };
  }
}

/** The interface names in /proc/PID/net/dev (anyone can read it; it shows the process's net namespace). */
function netDevices(src: ProcSource, pid: number): Known<string> {
  const t = src.read(pid, "net/dev");
  if (isUnknown(t)) return t;
  return t
    .split("\n")
    .slice(2)
    .map((l) => l.slice(0, l.indexOf(":")).trim())
    .filter(Boolean)
    .sort()
    .join(" ");
}

const NOT_NEEDED = unknown("not read: the ns link was readable");

function readNs(src: ProcSource, pid: number): NsIds {
  const out = {} as Record<string, Known<number>>;
  for (const t of NS_TYPES) {
    const l = src.readlink(pid, `ns/${t}`);
    out[t] = isUnknown(l) ? l : parseNsLink(l, t);
  }
  return out as NsIds;
}

/** Reads one process. Throws NoSuchProcess when it does not exist (or vanished before any read). */
export function gather(pid: number, ctx: GatherContext, opts?: { full: true }): Snapshot;
/** With full: false (--all), kernel threads are left out (null): there is nothing to contain. */
export function gather(pid: number, ctx: GatherContext, opts: GatherOptions): Snapshot | null;
export function gather(pid: number, ctx: GatherContext, opts: GatherOptions = { full: true }): Snapshot | null {
  const src = ctx.src;
  // Pin first: while the pidfd's process has not been reaped, its pid cannot be reused, so
  // "still alive after the reads" proves every read was about this one process.
  const pinned = src.pin(pid);
  if (pinned === "ESRCH") throw new NoSuchProcess(`no process with pid ${pid}`);
  if (pinned === "EINVAL") throw new NoSuchProcess(`${pid} is a thread id, not a process id: give the process (Tgid)`);
  if (typeof pinned === "string" && pinned !== "ENOSYS") throw new NoSuchProcess(`cannot pin process ${pid} (pidfd_open: ${pinned})`);
  // ENOSYS (kernel < 5.3, or a captured tree): fall back to comparing start times
  const pidfd = typeof pinned === "number" ? pinned : undefined;
  try {
    // Without a pidfd (fake trees, old kernels) the start time tells whether the pid was reused.
    let startTime: string | undefined;
    if (pidfd === undefined) {
      const statText = src.read(pid, "stat");
      if (isUnknown(statText)) throw new NoSuchProcess(`no process with pid ${pid}`);
      startTime = parseStat(statText).startTime;
    }
    const statusText = src.read(pid, "status");
    if (isUnknown(statusText))
      throw new NoSuchProcess(pidfd !== undefined ? `process ${pid} exited before it could be read` : `process ${pid} exited while being read (status: ${statusText.unknown})`);
    const st = parseStatus(statusText);
    const stat0 = { comm: st.get("Name") ?? "?", ppid: Number(st.get("PPid") ?? 0) };
    if (!opts.full && (st.get("Kthread") === "1" || stat0.ppid === 2 || pid === 2)) return null;
    const ns = readNs(src, pid);
    const root = src.statRoot(pid);
    const cmdline = opts.full ? src.read(pid, "cmdline") : NOT_READ;
    const limits = opts.full ? src.read(pid, "limits") : NOT_READ;
    const oom = opts.full ? src.read(pid, "oom_score_adj") : NOT_READ;
    // read in --all too: the lsm check is scored there, and an unread one would widen every row's range
    const lsm = src.read(pid, "attr/current");
    const setgroups = ctx.perUserns(pid, "setgroups", ns.user);
    const snap: Snapshot = {
      pid,
      reader: { pid: ctx.readerPid, uid: src.readerUid },
      pin: { method: "none", state: "alive" },
      comm: stat0.comm,
      ppid: stat0.ppid,
      parents: parentChain(ctx, stat0.ppid),
      cmdline: isUnknown(cmdline) ? cmdline : cmdline.split("\0").filter((a, i, l) => a !== "" || i < l.length - 1),
      exe: opts.full ? src.readlink(pid, "exe") : NOT_READ,
      creds: { uid: numbers(st.get("Uid")), gid: numbers(st.get("Gid")), groups: numbers(st.get("Groups")) },
      caps: {
        inheritable: st.get("CapInh") ?? "0",
        permitted: st.get("CapPrm") ?? "0",
        effective: st.get("CapEff") ?? "0",
        bounding: st.get("CapBnd") ?? "0",
        ambient: st.get("CapAmb") ?? "0",
      },
      noNewPrivs: st.get("NoNewPrivs") === "1",
      seccompMode: Number(st.get("Seccomp") ?? 0),
      seccompFilters: Number(st.get("Seccomp_filters") ?? 0),
      nspid: numbers(st.get("NSpid")),
      ns,
      refs: ctx.refs,
      readerView: ctx.readerView,
      // fallbacks that prove a separate namespace without the ns link (read only when it is refused)
      netDevices: isUnknown(ns.net) ? netDevices(src, pid) : NOT_NEEDED,
      timeOffsets: isUnknown(ns.time) ? src.read(pid, "timens_offsets") : NOT_NEEDED,
      uidMap: ctx.idMap(pid, "uid_map", ns.user),
      gidMap: ctx.idMap(pid, "gid_map", ns.user),
      setgroups: isUnknown(setgroups) ? setgroups : setgroups.trim(),
      root,
      hostRoot: ctx.hostRoot,
      mounts: ctx.mounts(pid, ns.mnt, root),
      hostRootMount: ctx.hostRootMount,
      hostProcDev: ctx.hostProcDev,
      kernelProcEntries: ctx.kernelProcEntries,
      deviceNodes: ctx.deviceNodes(pid, ns.mnt, root),
      cgroup: ctx.cgroups.info(src.read(pid, "cgroup")),
      rlimits: isUnknown(limits) ? limits : parseLimits(limits),
      oomScoreAdj: isUnknown(oom) ? oom : Number(oom.trim()),
      lsm: isUnknown(lsm) ? lsmUnknown(lsm.unknown) : lsm.replace(/\0/g, "").trim(),
      containerEnv: src.envVar(pid, "container"),
      markers: ctx.markers(pid, ns.mnt, root),
      // filled in by seccomp-filters.ts for a single process read by root (needs a ptrace stop)
      seccompFilterSummary: st.get("Seccomp") === "2" ? FILTERS_NOT_READ : [],
    };
    return { ...snap, pin: pinState(src, pid, startTime, pidfd) };
  } finally {
    if (pidfd !== undefined) src.unpin(pidfd);
  }
}

function lsmUnknown(reason: string): Known<string> {
  return unknown(reason.startsWith("EINVAL") ? "EINVAL: no LSM (AppArmor/SELinux) exposes a label on this kernel" : reason);
}

// siblings share their parent chain: one array per parent pid (the evidence cache keys on it)
const chains = new WeakMap<GatherContext, Map<number, { pid: number; comm: string }[]>>();

function parentChain(ctx: GatherContext, ppid: number): { pid: number; comm: string }[] {
  let byParent = chains.get(ctx);
  if (!byParent) chains.set(ctx, (byParent = new Map()));
  let chain = byParent.get(ppid);
  if (!chain) byParent.set(ppid, (chain = walkParents(ctx, ppid)));
  return chain;
}

function walkParents(ctx: GatherContext, ppid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (let p = ppid; p > 0 && out.length < 64; ) {
    const s = ctx.stat(p);
    if (!s) break;
    out.push({ pid: p, comm: s.comm });
    p = s.ppid;
  }
  return out;
}

/** After the reads: is it still the same process? */
function pinState(src: ProcSource, pid: number, startTime: string | undefined, pidfd: number | undefined): PinState {
  if (pidfd !== undefined) {
    return src.pinnedAlive(pidfd)
      ? { method: "pidfd", state: "alive" }
      : { method: "pidfd", state: "exited", detail: "the process exited while it was being read" };
  }
  const now = src.read(pid, "stat");
  if (isUnknown(now)) return { method: "none", state: "exited", detail: "the process exited while it was being read" };
  if (parseStat(now).startTime !== startTime) return { method: "none", state: "reused", detail: "the pid now belongs to another process" };
  return { method: "none", state: "alive" };
}
