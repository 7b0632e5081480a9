// Arguments → a validated, pure plan. Nothing here touches the kernel: facts about the host come
// in through `HostFacts`, so every rule is unit-tested with a fake host. `jailx run --dry-run`
// prints the result.
import { UsageError } from "../sys/errors.ts";
import { DEFAULT_CAPS, capName, capNumber } from "../sys/caps.ts";
import { findGroup, findUser, subIdRange, type IdRange } from "../sys/ids.ts";
import { RLIMITS, RLIM_INFINITY } from "../sys/rlimit.ts";
import type { NamespaceName } from "../sys/ns.ts";
import type { SeccompPlan } from "../sys/seccomp/policy.ts";
import type { SeccompPlanBuilder } from "./seccomp.ts";
import { cgroupPlanFromOptions, type CgroupPlan } from "../sys/cgroup/plan.ts";
import { RESOURCE_DEFAULTS, type ParsedOptions, type ParsedRun } from "./options.ts";
import { buildMounts, hostDirVisible, type MountOp } from "./mounts.ts";
import type { ModeEntry, ModeLister } from "./etc-view.ts";

export type PathKind = "dir" | "file" | "other";

/** What the plan may know about the host. Real: jail/host.ts; tests: a fake. */
export interface HostFacts {
  uid: number;
  gid: number;
  env: Record<string, string | undefined>;
  /** kind of the path after following symlinks, or null when it does not exist */
  stat(path: string): PathKind | null;
  /** target when `path` itself is a symlink */
  readlink(path: string): string | null;
  readText(path: string): string | null;
  /** entries of a directory with their st_mode (symlinks not followed); null when unreadable */
  listModes(dir: string): ModeEntry[] | null;
  /**
   * The entries at the top of the host's /proc that are not processes, with the type bits of
   * st_mode only (from the listing itself: no lstat); null when /proc cannot be read.
   */
  procEntries(): ModeEntry[] | null;
  /**
   * A lister for the tree at `root` that may leave out non-directories the host's "other" can
   * read (all etcHidden needs when no bind beneath `root` is kept), started now and read later;
   * absent or null: use listModes.
   */
  walkModes?(root: string): ModeLister | null;
  fdOpen(fd: number): boolean;
  /** the directory jailx was started in */
  cwd: string;
  stdinIsTerminal: boolean;
  /** the kernel's Landlock ABI (0: none); absent = assume scoping exists (ABI 6) */
  landlockAbi?: number;
}

export interface IdMapPlan {
  uid: IdRange[];
  gid: IdRange[];
  /** write "deny" to setgroups first (required for an unprivileged single-id map) */
  denySetgroups: boolean;
  /** how the maps get written: by the supervisor itself, or by newuidmap/newgidmap */
  writer: "supervisor" | "newuidmap";
}

export interface Plan {
  command: string[];
  namespaces: Record<NamespaceName, boolean>;
  rootless: boolean;
  idmap: IdMapPlan | null;
  user: { uid: number; gid: number; groups: number[]; home: string };
  hostname: string | null;
  net: "host" | "none";
  /** a prepared directory used as the root, or null for a fresh tmpfs root */
  rootfs: string | null;
  mounts: MountOp[];
  /** --chdir; null: jailx's own working directory if the jail has it (cwdInJail), else / */
  chdir: string | null;
  hostCwd: string;
  /** the caller's directory is bound at its own path in the jail (else, without --chdir, the program starts in /) */
  cwdInJail: boolean;
  env: Record<string, string>;
  caps: { keep: string[]; ambient: string[] };
  noNewPrivs: boolean;
  /** Landlock scoping of abstract unix sockets and signals (needs no_new_privs and ABI ≥ 6) */
  landlock: boolean;
  /** one line each, printed before the jail starts: what this kernel cannot do for the jail */
  notes: string[];
  rlimits: { name: string; soft: string; hard: string }[];
  asPid1: boolean;
  /** the program daemonizes (--forking/--pid-file): init waits for the daemon it leaves */
  forking: { pidFile: string | null } | null;
  /** the profile the options came from (--profile or selected by the program's name) */
  profile: string | null;
  newSession: boolean;
  passFds: number[];
  seccomp: SeccompPlan | null;
  cgroup: CgroupPlan | null;
  timeoutMs: number | null;
  verbose: boolean;
}

const SHAREABLE = ["uts", "ipc", "cgroup"] as const;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Variables of jailx's own runtime that must not reach the program. */
const PRIVATE_ENV = /^(BUN_|MIMALLOC_|JAILX_)/;

/** Landlock scoping of abstract unix sockets and signals arrived with ABI 6 (sys/landlock.ts). */
const LANDLOCK_SCOPE_ABI = 6;
const str = (o: ParsedOptions, k: string) => o[k] as string | undefined;
const list = (o: ParsedOptions, k: string) => (o[k] as string[] | undefined) ?? [];
const flag = (o: ParsedOptions, k: string) => o[k] === true;

export function absolute(what: string, path: string): string {
  if (!path.startsWith("/")) throw new UsageError(`${what} '${path}': use an absolute path (e.g. ${"$PWD/" + path})`);
  return path.replace(/\/+$/, "") || "/";
}

export function parseDuration(what: string, s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m || Number(m[1]) <= 0) throw new UsageError(`${what} '${s}': use a duration like 500ms, 30s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

/** Limits counted in bytes: they take k/m/g suffixes (binary: 1k = 1024). */
const RLIMIT_SIZES = new Set(["fsize", "data", "stack", "core", "rss", "as", "memlock", "msgqueue"]);

function parseRlimits(o: ParsedOptions): Plan["rlimits"] {
  return list(o, "rlimit").map((spec) => {
    const m = /^([a-z_]+)=([^:]+)(?::(.+))?$/.exec(spec.toLowerCase());
    const name = m?.[1]?.replace(/^rlimit_/, "");
    if (!m || !name || !(name in RLIMITS))
      throw new UsageError(`--rlimit '${spec}': use NAME=SOFT[:HARD] with NAME one of ${Object.keys(RLIMITS).join(", ")}`);
    const val = (v: string) => {
      if (v === "inf" || v === "unlimited") return RLIM_INFINITY.toString();
      const sized = /^(\d+)([kmg])$/.exec(v);
      if (sized && !RLIMIT_SIZES.has(name))
        throw new UsageError(`--rlimit '${spec}': ${name} is not a size, so '${v}' takes no k/m/g suffix; give a plain number (sizes: ${[...RLIMIT_SIZES].join(", ")})`);
      if (sized) return (BigInt(sized[1]!) << BigInt({ k: 10, m: 20, g: 30 }[sized[2] as "k" | "m" | "g"])).toString();
      if (!/^\d+$/.test(v)) throw new UsageError(`--rlimit '${spec}': '${v}' is not a number${RLIMIT_SIZES.has(name) ? " (bytes, or with k, m, g)" : ""} or 'inf'`);
      return v;
    };
    const soft = val(m[2]!);
    // One value is both limits: a soft limit alone is one setrlimit away from the hard one.
    const hard = m[3] !== undefined ? val(m[3]) : soft;
    if (hard !== undefined && BigInt(soft) > BigInt(hard))
      throw new UsageError(`--rlimit '${spec}': the soft limit is above the hard limit`);
    return { name, soft, hard };
  });
}

function namespaces(o: ParsedOptions, userns: boolean): Record<NamespaceName, boolean> {
  const shared = list(o, "share");
  for (const s of shared)
    if (!(SHAREABLE as readonly string[]).includes(s))
      throw new UsageError(`--share '${s}': only ${SHAREABLE.join(", ")} can be shared (pid and mount are always new; use --net host for the network)`);
  const net = str(o, "net") ?? "host";
  if (net !== "host" && net !== "none") throw new UsageError(`--net '${net}': use --net host or --net none`);
  return {
    user: userns, pid: true, mount: true, uts: !shared.includes("uts"),
    ipc: !shared.includes("ipc"), cgroup: !shared.includes("cgroup"), net: net === "none",
  };
}

function idMap(o: ParsedOptions, host: HostFacts, userns: boolean): IdMapPlan | null {
  if (!userns) {
    if (str(o, "userns-map")) throw new UsageError("--userns-map needs --userns");
    return null;
  }
  if (host.uid === 0) {
    if (str(o, "rootless-map")) throw new UsageError("--rootless-map is for non-root users; root uses --userns-map");
    let base = 1_000_000_000, count = 65536;
    const spec = str(o, "userns-map");
    if (spec) {
      const m = /^(\d+)(?::(\d+))?$/.exec(spec);
      if (!m || Number(m[2] ?? 1) < 1) throw new UsageError(`--userns-map '${spec}': use HOSTID[:COUNT], e.g. 100000:65536`);
      base = Number(m[1]);
      count = Number(m[2] ?? 65536);
    } else {
      const sub = subIdRange("/etc/subuid", "root", 0, host.readText("/etc/subuid") ?? "");
      if (sub) ({ start: base, count } = sub);
    }
    const r = [{ inside: 0, outside: base, count }];
    return { uid: r, gid: r, denySetgroups: false, writer: "supervisor" };
  }
  const mode = str(o, "rootless-map") ?? "root";
  if (str(o, "userns-map")) throw new UsageError("--userns-map is for root; non-root users use --rootless-map");
  const name = findUser(host.readText("/etc/passwd") ?? "", String(host.uid))?.name ?? String(host.uid);
  if (mode === "root" || mode === "self") {
    const inside = mode === "root" ? 0 : host.uid;
    return {
      uid: [{ inside, outside: host.uid, count: 1 }],
      gid: [{ inside: mode === "root" ? 0 : host.gid, outside: host.gid, count: 1 }],
      denySetgroups: true, writer: "supervisor",
    };
  }
  if (mode !== "sub") throw new UsageError(`--rootless-map '${mode}': use root, self or sub`);
  const su = subIdRange("/etc/subuid", name, host.uid, host.readText("/etc/subuid") ?? "");
  const sg = subIdRange("/etc/subgid", name, host.uid, host.readText("/etc/subgid") ?? "");
  if (!su || !sg)
    throw new UsageError(`--rootless-map sub: /etc/subuid and /etc/subgid grant no range to '${name}'; add one (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name})`);
  return {
    uid: [{ inside: 0, outside: host.uid, count: 1 }, { inside: 1, outside: su.start, count: su.count }],
    gid: [{ inside: 0, outside: host.gid, count: 1 }, { inside: 1, outside: sg.start, count: sg.count }],
    denySetgroups: false, writer: "newuidmap",
  };
}

function mappedInside(map: IdRange[] | undefined, id: number): boolean {
  return !map || map.some((r) => id >= r.inside && id < r.inside + r.count);
}

function resolveUser(o: ParsedOptions, host: HostFacts, root: string | null, idmap: IdMapPlan | null): Plan["user"] {
  const spec = str(o, "user");
  const passwd = host.readText((root ?? "") + "/etc/passwd") ?? "";
  const groupText = host.readText((root ?? "") + "/etc/group") ?? "";
  let user = { uid: 0, gid: 0, groups: [] as number[], home: "/root" };
  // Without --user the program runs as root inside, unless the map has no root (--rootless-map
  // self): then as the first id the map does put inside.
  if (spec === undefined && idmap && !mappedInside(idmap.uid, 0)) {
    const uid = idmap.uid[0]!.inside;
    user = { uid, gid: idmap.gid[0]!.inside, groups: [], home: findUser(passwd, String(uid))?.home ?? "/" };
  }
  if (spec !== undefined) {
    const [u, g] = spec.split(":", 2) as [string, string | undefined];
    const entry = findUser(passwd, u);
    if (!entry && !/^\d+$/.test(u)) throw new UsageError(`--user '${u}': no such user in ${root ?? ""}/etc/passwd; give a number (--user 1000:1000)`);
    const uid = entry ? entry.uid : Number(u);
    let gid = entry ? entry.gid : uid;
    if (g !== undefined) {
      const found = /^\d+$/.test(g) ? Number(g) : findGroup(groupText, g);
      if (found === null) throw new UsageError(`--user '${spec}': no such group '${g}'; give a number`);
      gid = found;
    }
    user = { uid, gid, groups: [], home: entry?.home ?? "/" };
  }
  if (!mappedInside(idmap?.uid, user.uid) || !mappedInside(idmap?.gid, user.gid))
    throw new UsageError(`--user '${spec ?? "0:0"}': uid ${user.uid}/gid ${user.gid} is not mapped in the jail's user namespace` +
      (host.uid !== 0 ? " (rootless maps only your own id; try --rootless-map sub)" : " (widen --userns-map)"));
  return user;
}

function environment(o: ParsedOptions, host: HostFacts, user: Plan["user"]): Record<string, string> {
  const env: Record<string, string> = {};
  if (!flag(o, "clearenv"))
    for (const [k, v] of Object.entries(host.env)) if (v !== undefined && !PRIVATE_ENV.test(k)) env[k] = v;
  env.PATH ??= DEFAULT_PATH;
  if (flag(o, "clearenv")) env.HOME = user.home;
  env.container = "jailx";
  for (const kv of list(o, "setenv")) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`--setenv '${kv}': use KEY=VALUE`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  for (const k of list(o, "unsetenv")) delete env[k];
  return env;
}

/** The capabilities a jail keeps: the defaults, less --cap-drop, plus --cap-add (these options alone decide). */
export function keptCapabilities(o: ParsedOptions): string[] {
  const drop = list(o, "cap-drop");
  let keep = new Set(DEFAULT_CAPS);
  if (drop.some((d) => d.toLowerCase() === "all")) keep = new Set();
  else for (const d of drop) keep.delete(capName(capNumber(d)));
  for (const a of list(o, "cap-add")) keep.add(capName(capNumber(a)));
  return [...keep].sort();
}

function capabilities(o: ParsedOptions, user: Plan["user"]): Plan["caps"] {
  const add = list(o, "cap-add").map((n) => capName(capNumber(n)));
  // A non-root program starts with no capabilities (like OCI runtimes); ones named with
  // --cap-add are raised as ambient so that they survive its execve.
  return { keep: keptCapabilities(o), ambient: user.uid === 0 ? [] : add.sort() };
}

function passFds(o: ParsedOptions, host: HostFacts): number[] {
  return list(o, "pass-fd").map((s) => {
    if (!/^\d+$/.test(s)) throw new UsageError(`--pass-fd '${s}': use a descriptor number`);
    const fd = Number(s);
    if (fd > 2 && !host.fdOpen(fd)) throw new UsageError(`--pass-fd ${fd}: descriptor ${fd} is not open in jailx`);
    return fd;
  });
}

/** `seccompPlanFor` builds the seccomp part (jail/seccomp.ts: the prebuilt default or the policy module). */
export function buildPlan(run: ParsedRun, host: HostFacts, seccompPlanFor: SeccompPlanBuilder): Plan {
  const o = run.options;
  if (run.command.length === 0 || run.command[0] === "")
    throw new UsageError("no program given: jailx run [options] -- PROGRAM [ARGS...]");
  const userns = host.uid !== 0 ? true : flag(o, "userns");
  if (host.uid !== 0 && o["userns"] === false)
    throw new UsageError("--no-userns: a non-root user can only create a jail inside a user namespace");
  const ns = namespaces(o, userns);
  const hostname = str(o, "hostname");
  if (hostname !== undefined && !ns.uts) throw new UsageError("--hostname needs the jail's own uts namespace; remove --share uts");
  if (hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname))
    throw new UsageError(`--hostname '${hostname}': use letters, digits, '-' and '.' (at most 63)`);
  const rootfs = str(o, "rootfs") !== undefined ? absolute("--rootfs", str(o, "rootfs")!) : null;
  if (rootfs && host.stat(rootfs) !== "dir") throw new UsageError(`--rootfs '${rootfs}': not a directory`);
  const idmap = idMap(o, host, userns);
  const user = resolveUser(o, host, rootfs, idmap);
  const chdir = str(o, "chdir") === undefined ? null : absolute("--chdir", str(o, "chdir")!);
  const caps = capabilities(o, user);
  const timeout = str(o, "timeout");
  // Without a user namespace root inside is the host's root: it could read every root-only
  // file under /etc, so those are hidden by mode as well as by name.
  const mounts = buildMounts(o, host, rootfs, !userns);
  const pidFile = str(o, "pid-file") === undefined ? null : absolute("--pid-file", str(o, "pid-file")!);
  const forking = flag(o, "forking") || pidFile !== null;
  if (forking && flag(o, "as-pid-1")) throw new UsageError("--forking/--pid-file need jailx's init to wait for the daemon; remove --as-pid-1");
  const seccomp = seccompPlanFor(o, caps.keep);
  // The kernel installs a seccomp filter only with no_new_privs set or CAP_SYS_ADMIN held, and
  // the program's process has dropped CAP_SYS_ADMIN by then: refuse the mix up front.
  if (seccomp && flag(o, "allow-new-privs") && !caps.keep.includes("sys_admin"))
    throw new UsageError("--allow-new-privs needs --seccomp none (a seccomp filter can only be installed with no_new_privs, or with --cap-add SYS_ADMIN)");
  return {
    command: run.command,
    namespaces: ns,
    rootless: host.uid !== 0,
    idmap,
    user,
    hostname: ns.uts ? (hostname ?? "jailx") : null,
    net: ns.net ? "none" : "host",
    rootfs,
    mounts,
    chdir,
    hostCwd: host.cwd,
    cwdInJail: hostDirVisible(mounts, host.cwd),
    env: environment(o, host, user),
    caps,
    noNewPrivs: !flag(o, "allow-new-privs"),
    ...landlockPlan(o, host, ns.net),
    rlimits: parseRlimits(o),
    asPid1: flag(o, "as-pid-1"),
    forking: forking ? { pidFile } : null,
    profile: str(o, "profile") ?? null,
    // Without a terminal there is no job control to keep, and in the caller's process group
    // kill(0, …) would reach the caller (a pid namespace does not scope process groups).
    newSession: o["new-session"] === undefined ? !host.stdinIsTerminal : flag(o, "new-session"),
    passFds: passFds(o, host),
    seccomp,
    cgroup: cgroupPlanFromOptions(o, { pids: RESOURCE_DEFAULTS.pids }),
    timeoutMs: timeout === undefined ? null : parseDuration("--timeout", timeout),
    verbose: flag(o, "verbose"),
  };
}

/** Landlock scoping needs ABI 6: asked for explicitly it is an error without it; by default a note. */
function landlockPlan(o: ParsedOptions, host: HostFacts, ownNet: boolean): { landlock: boolean; notes: string[] } {
  const abi = host.landlockAbi ?? LANDLOCK_SCOPE_ABI;
  const wanted = o["landlock"] !== false && !flag(o, "allow-new-privs");
  if (!wanted || abi >= LANDLOCK_SCOPE_ABI) return { landlock: wanted, notes: [] };
  const why = abi === 0 ? "Landlock is missing or disabled in this kernel" : `this kernel's Landlock is ABI ${abi}, scoping needs ABI ${LANDLOCK_SCOPE_ABI}`;
  if (o["landlock"] === true)
    throw new UsageError(`--landlock: no Landlock scoping here (${why}); drop --landlock (--net none still keeps the host's abstract unix sockets out of reach), or use a kernel with Landlock ABI ${LANDLOCK_SCOPE_ABI} (Linux 6.12+)`);
  // With its own network namespace the jail sees no host abstract sockets; the pid namespace and
  // the new session already keep its signals inside. Only the shared host network needs a word.
  if (ownNet) return { landlock: false, notes: [] };
  return {
    landlock: false,
    notes: [`no Landlock scoping (${why}): the jail can connect to the host's abstract unix sockets; --net none keeps them out of reach (--no-landlock silences this note)`],
  };
}
