// A Recording + the jail it was learned in → a profile (docs/PROFILE-FORMAT: syscalls, read,
// write, exec, network, listen, connect, capabilities). Pure: unit-tested with made-up
// recordings (tests/learn/profile.test.ts).
//
// Paths are mapped through the learning jail's mounts: what lay in a read-only bind becomes a
// host path to read (or exec), what lay in a writable bind a host path to write, what lay in a
// tmpfs a `tmpfs:` entry; /proc, /dev and /tmp are what every jail has, and writes that the
// learning jail refused (read-only mounts) stay refused, so they need nothing.
import type { MountOp } from "../mounts.ts";
import type { Recording } from "./recording.ts";
import { isLoopbackAddr, parseEndpoint } from "./sockaddr.ts";
import { groupSyscalls } from "./syscall-groups.ts";

export type Network = "none" | "loopback" | "host";

export interface Profile {
  syscalls: string[];
  read: string[];
  write: string[];
  exec: string[];
  network: Network;
  listen: string[];
  connect: string[];
  capabilities: string[];
  /** run options for binds whose jail path differs from the host path */
  "ro-bind": string[];
  bind: string[];
  learned: { programs: string[]; date: string; jailx: string; runs: number };
  /** run options of the learning run that decide how the program starts (CARRIED_OPTIONS) */
  options: Record<string, string | boolean>;
  /** why-lines the writer puts above sections */
  notes: Record<string, string[]>;
}

export interface LearnContext {
  mounts: readonly MountOp[];
  /** capabilities the learning jail kept: nothing else can have been needed */
  keptCaps: readonly string[];
  net: "host" | "none";
  jailx: string;
  date: string;
  /** the learning run's options (only CARRIED_OPTIONS go into the profile) */
  runOptions?: Record<string, unknown>;
}

/**
 * Run options that decide how the program starts rather than what it may reach: the profile
 * keeps them, or the enforced run would differ from the learned one (as root instead of
 * --user, a daemon's exit ending the jail without --forking, another working directory).
 */
export const CARRIED_OPTIONS = ["user", "forking", "pid-file", "chdir"];

/** Directories never collapsed by counting (a listing of them still includes them whole). */
const BROAD = new Set([
  "/", "/usr", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/libexec", "/usr/share", "/usr/local",
  "/usr/local/lib", "/usr/local/share", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin",
  "/lib", "/lib32", "/lib64", "/etc", "/var", "/var/lib", "/var/cache", "/var/log", "/home", "/root", "/srv", "/opt",
  "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
]);
/** A directory with at least this many files read directly in it is read as a whole. */
export const COLLAPSE_FILES = 6;

type Place =
  | { kind: "jail" }
  | { kind: "host"; host: string; writable: boolean; userDst?: string; userSrc?: string }
  | { kind: "tmpfs"; dst: string };

/** Where a jail path lives in the learning jail's view. */
export function placeOf(path: string, mounts: readonly MountOp[]): Place {
  let best: MountOp | null = null;
  let bestLen = -1;
  for (const m of mounts) {
    if (m.op === "symlink" || m.op === "readonly" || m.op === "mask") continue;
    const dst = m.dst;
    if ((path === dst || path.startsWith(dst === "/" ? "/" : dst + "/")) && dst.length > bestLen) [best, bestLen] = [m, dst.length];
  }
  if (!best || best.op === "proc" || best.op === "devpts" || best.dst === "/dev" || best.dst.startsWith("/dev/") || best.dst === "/tmp") return { kind: "jail" };
  if (best.op === "tmpfs") return { kind: "tmpfs", dst: best.dst };
  const rest = path.slice(best.dst.length);
  if (best.op === "hide-bind") return { kind: "host", host: best.src + rest, writable: false };
  if (best.op === "bind") {
    const user = best.src !== best.dst ? { userDst: best.dst, userSrc: best.src } : {};
    return { kind: "host", host: best.src + rest, writable: !best.readonly, ...user };
  }
  return { kind: "jail" };
}

/**
 * A path through the jail's own top-level symlinks (/lib64 → usr/lib64 on merged-/usr systems)
 * as the host path it lands on: the profile lists that, and every jail has the same links.
 */
export function throughSystemLinks(path: string, mounts: readonly MountOp[]): string {
  for (const m of mounts) {
    if (m.op !== "symlink" || !(path === m.dst || path.startsWith(m.dst + "/"))) continue;
    const target = m.target.startsWith("/") ? m.target : `${parent(m.dst)}/${m.target}`;
    return target.replace(/\/+/g, "/") + path.slice(m.dst.length);
  }
  return path;
}

const parent = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";
const under = (p: string, dir: string) => dir === "/" || p === dir || p.startsWith(dir + "/");

/**
 * Narrowest sensible set: listed directories whole ("D/"); a directory with many files read
 * directly in it whole (unless broad, such as /usr/lib); directories only looked at (stat)
 * dropped when something beneath them is listed; everything covered by a "D/" dropped.
 */
export function collapsePaths(files: Iterable<string>, dirs: Iterable<string>, listed: Iterable<string>): string[] {
  const whole = new Set(listed);
  const fileSet = new Set(files);
  const perDir = new Map<string, number>();
  for (const f of fileSet) perDir.set(parent(f), (perDir.get(parent(f)) ?? 0) + 1);
  for (const [d, n] of perDir) if (n >= COLLAPSE_FILES && !BROAD.has(d)) whole.add(d);
  // The outermost whole directories win.
  const wholeList = [...whole].sort((a, b) => a.length - b.length).filter((d, i, all) => !all.slice(0, i).some((o) => under(d, o)));
  const covered = (p: string) => wholeList.some((d) => under(p, d));
  const out = new Set<string>(wholeList.map((d) => (d === "/" ? "/" : d + "/")));
  for (const f of fileSet) if (!covered(f)) out.add(f);
  const kept = [...out];
  for (const d of dirs) {
    if (covered(d) || fileSet.has(d)) continue;
    // A directory that was only looked at exists anyway when something beneath it is kept.
    if (kept.some((k) => k !== d && under(k.replace(/\/$/, ""), d))) continue;
    out.add(d);
  }
  return [...out].sort();
}

export function buildProfile(rec: Recording, ctx: LearnContext): Profile {
  const notes: Record<string, string[]> = {};
  const note = (k: string, s: string) => (notes[k] ??= []).push(s);
  const readFiles = new Set<string>(), readDirs = new Set<string>(), listed = new Set<string>();
  const execFiles = new Set<string>();
  const writes = new Set<string>(), tmpfs = new Set<string>();
  const roBind = new Set<string>(), rwBind = new Set<string>();
  const userReads = new Map<string, { files: string[]; dirs: string[]; listed: string[] }>();
  // A bind entry is split at its first ':'; the program names its files as it likes.
  const unbindable: string[] = [];
  const bindEntry = (set: Set<string>, src: string, dst: string) => {
    if (src.includes(":") || dst.includes(":")) unbindable.push(dst);
    else set.add(`${src}:${dst}`);
  };
  const refused: string[] = [];
  let jailOnly = 0;
  for (const [path, use] of Object.entries(rec.paths)) {
    const place = placeOf(path, ctx.mounts);
    if (place.kind === "jail") {
      jailOnly++;
      continue;
    }
    if (place.kind === "tmpfs") {
      tmpfs.add(place.dst);
      continue;
    }
    const wrote = use.access.some((a) => a === "write" || a === "create" || a === "delete");
    const { host } = place;
    if (wrote && !place.writable) refused.push(path);
    if (wrote && place.writable) {
      const created = use.access.some((a) => a === "create" || a === "delete");
      const target = created ? parent(host) : host;
      if (place.userSrc) bindEntry(rwBind, target, `${place.userDst}${target.slice(place.userSrc.length)}`);
      else writes.add(target);
    }
    if (!use.access.some((a) => a === "read" || a === "list" || a === "exec")) continue;
    if (place.userSrc) {
      // Collapsed per bind below, then given as SRC:DST binds.
      const key = `${place.userSrc}\0${place.userDst}`;
      const sets = (userReads.get(key) ?? userReads.set(key, { files: [], dirs: [], listed: [] }).get(key))!;
      (use.access.includes("list") ? sets.listed : use.kind === "dir" ? sets.dirs : sets.files).push(path);
      continue;
    }
    if (use.access.includes("exec") || use.elf) execFiles.add(host);
    else if (use.access.includes("list")) listed.add(host);
    else if (use.kind === "dir") readDirs.add(host);
    else readFiles.add(host);
  }
  // Names the program used that lead to kept files through symlinks: the same names must work.
  for (const [alias, real] of Object.entries(rec.aliases)) {
    const place = placeOf(throughSystemLinks(alias, ctx.mounts), ctx.mounts);
    if (place.kind !== "host" || place.userSrc) continue;
    if (execFiles.has(real)) execFiles.add(place.host);
    else if (readFiles.has(real)) readFiles.add(place.host);
  }
  for (const [key, sets] of userReads) {
    const [src, dst] = key.split("\0") as [string, string];
    for (const p of collapsePaths(sets.files, sets.dirs, sets.listed)) {
      const jailPath = p.replace(/\/$/, "") || "/";
      bindEntry(roBind, `${src}${jailPath.slice(dst.length)}`, jailPath);
    }
  }
  if (unbindable.length) note("read", `not expressible as SRC:DST (a ':' in the name), left out: ${unbindable.slice(0, 3).join(", ")}`);
  // What lies at or below a written path is covered by its writable bind; listed in read or
  // exec too, it would become a read-only bind over it (nginx's /var/lib/nginx/body).
  const written = [...writes].map((w) => w.replace(/\/+$/, ""));
  const underWrite = (p: string) => written.some((w) => p.replace(/\/+$/, "") === w || p.startsWith(`${w}/`));
  const collapsed = collapsePaths(readFiles, readDirs, listed);
  const read = collapsed.filter((p) => !underWrite(p));
  const execList = collapsePaths(execFiles, [], []).filter((p) => !underWrite(p));
  const covered = collapsed.length - read.length;
  if (covered) note("read", `${covered} paths at or below a written directory are left out: its writable bind has them`);
  const bare = read.filter((r) => readDirs.has(r));
  if (bare.length)
    note("read", `directories only looked at (stat, O_PATH), without a trailing /: the directory itself, not its content (${bare.slice(0, 3).join(", ")}${bare.length > 3 ? ", …" : ""})`);
  if (jailOnly) note("read", `${jailOnly} paths under /proc, /dev and /tmp are left out: every jail has its own`);
  if (refused.length)
    note("write", `writes the learning jail refused (read-only) stay refused, nothing needed: ${refused.slice(0, 3).join(", ")}${refused.length > 3 ? ", …" : ""}`);
  const write = [...[...writes].sort(), ...[...tmpfs].sort().map((d) => `tmpfs:${d}`)];
  if (tmpfs.size) note("write", "tmpfs: entries are private, empty at start (as while learning)");

  const network = networkOf(rec, ctx.net);
  const caps = capabilitiesOf(rec, ctx.keptCaps);
  return {
    syscalls: groupSyscalls(rec.syscalls),
    read,
    write,
    exec: execList,
    network,
    listen: [...new Set(rec.listen)].sort(),
    connect: [...new Set(rec.connect)].sort(),
    capabilities: caps,
    "ro-bind": [...roBind].sort(),
    bind: [...rwBind].sort(),
    learned: { programs: [...rec.programs], date: ctx.date, jailx: ctx.jailx, runs: rec.runs },
    options: Object.fromEntries(CARRIED_OPTIONS.flatMap((k) => {
      const v = ctx.runOptions?.[k];
      return typeof v === "string" || typeof v === "boolean" ? [[k, v]] : [];
    })),
    notes,
  };
}

/**
 * none: no inet socket at all. loopback: inet only between the program's own endpoints (a new
 * network namespace has its own lo). host: it listens (to be reached from outside the jail) or
 * talks to anything else, the host's loopback services included.
 */
export function networkOf(rec: Recording, learnedNet: "host" | "none"): Network {
  const inet = rec.families.some((f) => f === "inet" || f === "inet6");
  if (!inet) return "none";
  if (learnedNet === "none") return "loopback";
  const ownPorts = new Set(rec.listen.map((l) => parseEndpoint(l)?.port).filter((p) => p !== undefined));
  const isInet = (e: string) => e.startsWith("tcp:") || e.startsWith("udp:");
  if (rec.listen.some(isInet)) return "host";
  for (const c of rec.connect.filter(isInet)) {
    const ep = parseEndpoint(c);
    if (!ep || !isLoopbackAddr(ep.addr) || !ownPorts.has(ep.port)) return "host";
  }
  return "loopback";
}

/** Capabilities the observed calls need, among those the learning jail kept. */
export function capabilitiesOf(rec: Recording, kept: readonly string[]): string[] {
  const need = new Set(rec.caps);
  // A signal to a process of another user needs CAP_KILL; with id changes (a master that
  // starts workers as another user) assume that is what the signals were for.
  if (rec.signals && rec.ids.some((i) => i.startsWith("setuid") || i.startsWith("setresuid") || i.startsWith("setreuid"))) need.add("kill");
  return [...need].filter((c) => kept.includes(c)).sort();
}
