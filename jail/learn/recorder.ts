// Turns seccomp notifications into a Recording. One notification = one syscall of one thread,
// stopped until the session lets it continue. Everything is read while the thread is stopped,
// staged, and committed only if the notification is still pending afterwards (its id is
// valid): otherwise the thread died and the pid may belong to someone else now.
import { AUDIT_ARCH, X32_SYSCALL_BIT, syscallName, type Abi } from "../../sys/seccomp/tables.ts";
import type { Notification } from "../../sys/seccomp/notify.ts";
import { emptyRecording, type PathUse, type Recording } from "./recording.ts";
import { parseSockaddr, formatEndpoint, type SockAddr } from "./sockaddr.ts";
import { socketType } from "./sockets.ts";
import { AF, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, CAPABILITY_SYSCALLS, ID_SYSCALLS, O, PATH_SYSCALLS, SIGNAL_SYSCALLS, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, type Access, type PathArg } from "./syscalls.ts";
import { closeSync } from "node:fs";
import { absolutePath, openRoot, readMem, readString, resolveInJail, type Resolved } from "./tracee.ts";
import { interpreterOf } from "./elf.ts";
import { placeOf } from "./profile.ts";
import { credsOf, dacNeeded, fownerNeeded, openToAll, PERM } from "./dac.ts";
import type { MountOp } from "../mounts.ts";

const FAMILY_NAMES: Record<number, string> = { [AF.UNIX]: "unix", [AF.INET]: "inet", [AF.INET6]: "inet6", [AF.NETLINK]: "netlink", [AF.PACKET]: "packet" };
const PR_CAPBSET_DROP = 24;
/** Changing a file's mode, times or extended attributes: its owner's right (else CAP_FOWNER). */
const OWNER_CALLS = new Set(["chmod", "fchmodat", "fchmodat2", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
  "setxattr", "lsetxattr", "setxattrat", "removexattr", "lremovexattr", "removexattrat"]);

/** The ABI of a notification: arch, and on x86_64 the x32 bit of the number. */
export function abiOf(arch: number, nr: number): Abi | null {
  if (arch === AUDIT_ARCH.x86_64) return nr & X32_SYSCALL_BIT ? "x32" : "x86_64";
  if (arch === AUDIT_ARCH.i386) return "i386";
  if (arch === AUDIT_ARCH.aarch64) return "aarch64";
  return null;
}

type Stage = (r: Recording) => void;

function add(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}

/** A program could name paths without end (files in its own /tmp): memory stays bounded. */
export const MAX_PATHS = 100_000;

/** The entry for a path, or null when the recording is full (then it says so). */
function pathEntry(r: Recording, path: string, kind: Resolved["kind"]): PathUse | null {
  const have = r.paths[path];
  if (have) return have;
  r.pathCount = (r.pathCount ?? 0) + 1;
  if (r.pathCount > MAX_PATHS) {
    r.truncated = true;
    return null;
  }
  return (r.paths[path] = { access: [], kind });
}

export class Recorder {
  readonly rec: Recording = emptyRecording();
  /** jailx's own syscalls before the program's first execve are not the program's */
  private started = false;
  private seen = new Map<string, Set<string>>();
  /** access + name pairs already recorded (see pathArg) */
  private recorded = new Set<string>();

  /** chroot was called: names may lead elsewhere from now on */
  private chrooted = false;

  constructor(program: string, private readonly mounts: readonly MountOp[]) {
    this.rec.programs = [program];
    this.rec.runs = 1;
  }

  /** Read what the syscall passes; returns the changes to commit once the id is still valid. */
  observe(n: Notification): Stage[] {
    const abi = abiOf(n.arch, n.nr);
    const nr = abi === "x32" ? n.nr & ~X32_SYSCALL_BIT : n.nr;
    const name = abi ? syscallName(abi, abi === "x32" ? n.nr : nr) : undefined;
    if (!this.started) {
      if (name !== "execve" && name !== "execveat") return [];
      this.started = true;
    }
    const stages: Stage[] = [];
    if (!abi || !name) {
      stages.push((r) => add(r.unknownSyscalls, `${abi ?? `arch 0x${n.arch.toString(16)}`}:${n.nr}`));
      return stages;
    }
    let names = this.seen.get(abi);
    if (!names) this.seen.set(abi, (names = new Set()));
    const known = names;
    if (!known.has(name))
      stages.push((r) => {
        if (known.has(name)) return;
        known.add(name);
        (r.syscalls[abi] ??= []).push(name);
      });
    const a = n.args;
    const int = (i: number) => Number(BigInt.asIntN(32, a[i]!));
    for (const spec of PATH_SYSCALLS[name] ?? []) stages.push(...this.pathArg(n, name, spec, int));
    if (name === "chroot") this.chrooted = true;
    const cap = CAPABILITY_SYSCALLS[name];
    if (cap) stages.push((r) => add(r.caps, cap));
    const ids = ID_SYSCALLS[name];
    if (ids) {
      const cap = ids.kind === "uid" ? "setuid" : "setgid";
      const vals = ids.kind === "groups" ? [`${int(0)} groups`] : a.slice(0, ids.args).map((v) => String(BigInt.asIntN(32, v)));
      stages.push((r) => {
        add(r.ids, `${name} ${vals.join(" ")}`);
        add(r.caps, cap);
      });
    }
    if (SIGNAL_SYSCALLS.has(name)) stages.push((r) => (r.signals = true));
    if (name === "prctl" && int(0) === PR_CAPBSET_DROP) stages.push((r) => add(r.caps, "setpcap"));
    if (name === "socket" || name === "socketpair") {
      const fam = int(0), type = int(1) & 0xf;
      stages.push((r) => add(r.families, FAMILY_NAMES[fam] ?? String(fam)));
      if (name === "socket" && (type === SOCK_RAW || fam === AF.PACKET)) stages.push((r) => add(r.caps, "net_raw"));
    }
    if (name === "bind" || name === "connect") stages.push(...this.socketCall(n, name, int(0), a[1]!, int(2)));
    if (name === "sendto" && a[4] !== 0n) stages.push(...this.socketCall(n, "connect", int(0), a[4]!, int(5)));
    // struct msghdr with 64-bit pointers: the native ABIs only (i386 and x32 are refused by the
    // jail's own filter unless opened).
    if (name === "sendmsg" && (abi === "x86_64" || abi === "aarch64")) {
      const hdr = readMem(n.pid, a[1]!, 16);
      if (hdr && hdr.length >= 12 && hdr.readBigUInt64LE(0) !== 0n)
        stages.push(...this.socketCall(n, "connect", int(0), hdr.readBigUInt64LE(0), hdr.readUInt32LE(8)));
    }
    return stages;
  }

  private pathArg(n: Notification, name: string, spec: PathArg, int: (i: number) => number): Stage[] {
    const raw = readString(n.pid, n.args[spec.path]!);
    if (raw === null) return [];
    const atFlags = spec.atFlags !== undefined ? int(spec.atFlags) : 0;
    // AT_EMPTY_PATH with "": the descriptor itself, already opened (and recorded) earlier.
    if (raw === "" && atFlags & AT_EMPTY_PATH) return [];
    if (raw === "") return [];
    const dirfd = spec.dirfd !== undefined ? int(spec.dirfd) : null;
    const path = absolutePath(n.pid, dirfd, raw);
    if (path === null) return [];
    let access: Access = spec.access === "open" || spec.access === "openat2" ? "read" : spec.access;
    let pathOnly = false;
    if (spec.access === "open" || spec.access === "openat2") {
      let flags = int(spec.flags!);
      if (spec.access === "openat2") {
        const how = readMem(n.pid, n.args[2]!, 8);
        if (!how || how.length < 8) return [];
        flags = Number(how.readBigUInt64LE(0) & 0xffffffffn);
      }
      access = openAccess(flags, n.arch === AUDIT_ARCH.aarch64);
      pathOnly = (flags & O.PATH) !== 0;
    }
    const nofollow = spec.nofollow === true || (atFlags & AT_SYMLINK_NOFOLLOW) !== 0;
    // The same name with the same access was resolved and recorded before: once is enough (a
    // program stats the same files over and over) — but only where the program cannot change
    // what the name leads to (read-only host binds, and no chroot seen), and only for names
    // that resolved to something (a missing one may exist later).
    // (The syscall's kind is in the key: a stat of a directory is not the open that lists it.)
    const key = `${spec.access}\0${access}\0${nofollow}\0${pathOnly}\0${path}`;
    if (this.recorded.has(key) && !this.chrooted) return [];
    if (access === "create" || access === "delete") return this.nameInDir(n.pid, path, access);
    const found = this.resolve(n.pid, path, !nofollow, access === "exec" ? 4096 : 4);
    // A path that does not exist was a probe (a search path, an optional file): under a
    // learned profile it does not exist either, so it needs nothing.
    if (!found) return [];
    // Opening a directory (not O_PATH, which only walks through it) is for reading its entries.
    if (access === "read" && found.kind === "dir" && spec.access !== "read" && !pathOnly) access = "list";
    const opened = (spec.access === "open" || spec.access === "openat2") && !pathOnly;
    const need = !opened ? 0 : access === "write" ? PERM.W : access === "read" || access === "list" ? PERM.R : 0;
    const caps = this.permissionCaps(n.pid, found, name === "truncate" || name === "truncate64" ? PERM.W : need, OWNER_CALLS.has(name));
    const fixed = (p: string) => {
      const place = placeOf(p, this.mounts);
      return place.kind === "host" && !place.writable;
    };
    // (Files whose permissions made us look at the thread's ids are looked at every time.)
    const done: Stage = () => void (caps.checked || (fixed(path) && fixed(found.real) && this.recorded.add(key)));
    const stages: Stage[] = [recordPath(path, found, access), done, ...caps.stages];
    if (access === "exec") stages.push(...this.interpreters(n.pid, found, 0));
    return stages;
  }

  /**
   * A name created or removed in a directory (O_CREAT counts even when the file exists: the
   * next run may have to create it): the directory must be writable.
   */
  private nameInDir(tid: number, path: string, access: "create" | "delete"): Stage[] {
    const i = path.lastIndexOf("/");
    const dir = path.slice(0, i) || "/";
    const base = path.slice(i + 1);
    const parent = this.resolve(tid, dir, true);
    if (!parent || parent.kind !== "dir" || base === "" || base === "." || base === "..") return [];
    const name = parent.real === "/" ? `/${base}` : `${parent.real}/${base}`;
    return [...this.permissionCaps(tid, parent, PERM.W | PERM.X, false).stages, (r) => {
      const use = pathEntry(r, name, "other");
      if (!use) return;
      if (!use.access.includes(access)) use.access.push(access);
      if (dir !== parent.real) r.aliases[path] = name;
    }];
  }

  /**
   * Capabilities the access needed because of the file's permissions (dac.ts): dac_override
   * for `need` (rwx) beyond what the thread's ids allow, fowner for changing another's file.
   * The thread's ids are read only when the mode does not already allow everyone.
   */
  private permissionCaps(tid: number, f: Resolved, need: number, owner: boolean): { stages: Stage[]; checked: boolean } {
    const mode = f.mode & 0o777;
    const byMode = need === 0 || openToAll(mode, need);
    if (byMode && (!owner || f.uid === 0)) return { stages: [], checked: false };
    const creds = credsOf(tid);
    if (!creds) return { stages: [], checked: true };
    const caps = [byMode ? null : dacNeeded(mode, f.uid, f.gid, need, creds), owner ? fownerNeeded(f.uid, creds) : null];
    return { stages: caps.filter((c) => c !== null).map((c) => (r: Recording) => add(r.caps, c!)), checked: true };
  }

  /**
   * Every thread of the jail has the jail's root (unshare and setns are refused, pivot_root
   * too): one descriptor of it serves all, until a chroot is seen — then each thread's own.
   */
  private resolve(tid: number, path: string, follow: boolean, head = 4): Resolved | null {
    if (this.chrooted) {
      if (this.rootFd >= 0) closeSync(this.rootFd);
      this.rootFd = -1;
      return resolveInJail(tid, path, follow, head);
    }
    if (this.rootFd < 0) this.rootFd = openRoot(tid);
    return this.rootFd < 0 ? null : resolveInJail(tid, path, follow, head, this.rootFd);
  }

  private rootFd = -1;

  /** Let go of the jail's root (the session ends). */
  close(): void {
    if (this.rootFd >= 0) closeSync(this.rootFd);
    this.rootFd = -1;
  }

  /** The kernel loads a script's #! interpreter and an ELF's dynamic loader without a syscall. */
  private interpreters(tid: number, file: Resolved, depth: number): Stage[] {
    const interp = file.head ? interpreterOf(file.head) : null;
    if (!interp || depth > 4) return [];
    const found = this.resolve(tid, interp, true, 4096);
    if (!found) return [];
    return [recordPath(interp, found, "exec"), ...this.interpreters(tid, found, depth + 1)];
  }

  private socketCall(n: Notification, call: "bind" | "connect", fd: number, addrPtr: bigint, len: number): Stage[] {
    if (len <= 0) return [];
    const sa = parseSockaddr(readMem(n.pid, addrPtr, Math.min(len, 128)));
    if (!sa) return [];
    if (sa.family === "unix") {
      if (sa.abstract) return [(r) => add(call === "bind" ? r.listen : r.connect, `unix:@${sa.path}`)];
      const path = absolutePath(n.pid, null, sa.path);
      if (path === null) return [];
      if (call === "bind") return this.nameInDir(n.pid, path, "create");
      const found = this.resolve(n.pid, path, true);
      return found ? [recordPath(path, found, "read")] : [];
    }
    if (sa.family === "other") return [];
    const type = socketType(n.pid, fd);
    const proto = type === SOCK_STREAM ? "tcp" : type === SOCK_DGRAM ? "udp" : "raw";
    const ep = formatEndpoint(proto, sa as SockAddr & { family: "inet" | "inet6" });
    const stages: Stage[] = [(r) => add(call === "bind" ? r.listen : r.connect, ep)];
    if (call === "bind" && sa.port > 0 && sa.port < 1024) stages.push((r) => add(r.caps, "net_bind_service"));
    return stages;
  }
}

function recordPath(path: string, found: Resolved, access: Access): Stage {
  return (r) => {
    const use = pathEntry(r, found.real, found.kind);
    if (!use) return;
    if (!use.access.includes(access)) use.access.push(access);
    if (found.head && found.head.length >= 4 && found.head.readUInt32BE(0) === 0x7f454c46) use.elf = true;
    if (path !== found.real) r.aliases[path] = found.real;
  };
}

export function openAccess(flags: number, arm: boolean): Access {
  const directory = arm ? O.DIRECTORY_ARM : O.DIRECTORY_X86;
  if ((flags & O.TMPFILE & ~directory) !== 0) return "write";
  if (flags & O.PATH) return "read";
  if (flags & O.CREAT) return "create";
  if ((flags & O.ACCMODE) !== 0 || flags & O.TRUNC) return "write";
  return "read";
}
