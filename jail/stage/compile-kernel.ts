// The kernel seam (jail/kernel.ts) compiled instead of called: each operation of jail/child.ts
// emits the system calls it stands for into the stage's op list, in the order the real kernel
// calls them, with the same error fields, so that a failure replayed by the stage reads exactly
// as the direct call's would. Descriptors are registers (tagged numbers). What only the host can
// answer (its mount table, which paths are directories, the Landlock ABI, the chroot check) is
// read now, in the supervisor, which sees the same host view as the child before it mounts.
import { statSync } from "node:fs";
import { ERRNO } from "../../sys/errno.ts";
import { submountsOf, whiteoutSteps, isMountRoot, hasMountSetattr, hostMountTree, ownMountinfo, remountFlagNames, REMOUNT_FLAGS } from "../../sys/mount.ts";
import { lastCap, capName } from "../../sys/caps.ts";
import { landlockAbi } from "../../sys/landlock.ts";
import { RLIMITS } from "../../sys/rlimit.ts";
import { sockFprog } from "../../sys/seccomp/install.ts";
import type { PreparedExec } from "../../sys/proc.ts";
import type { Kernel } from "../kernel.ts";
import { Asm, type Arg, type Reg } from "./asm.ts";
import { NRS } from "./nr.ts";

const AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000, AT_REMOVEDIR = 0x200;
const OPEN_TREE_CLONE = 1, O_CLOEXEC = 0o2000000, O_PATH = 0o10000000;
const O_CREAT = 0o100, O_EXCL = 0o200, O_WRONLY = 1;
const O_DIRECTORY = process.arch === "arm64" ? 0o40000 : 0o200000;
const O_NOFOLLOW = process.arch === "arm64" ? 0o100000 : 0o400000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4, MOVE_MOUNT_T_EMPTY_PATH = 0x40;
const RESOLVE_NO_MAGICLINKS = 0x2, RESOLVE_IN_ROOT = 0x10;
const FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6, FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1;
const MS_REC = 0x4000, MS_PRIVATE = 1 << 18, MNT_DETACH = 2;
const PR_SET_PDEATHSIG = 1, PR_SET_DUMPABLE = 4, PR_SET_KEEPCAPS = 8, PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_CLEAR_ALL = 4;
const SECCOMP_SET_MODE_FILTER = 1, SECCOMP_FILTER_FLAG_LOG = 2;
const SEEN_ENOENT = 2, EEXIST = 17, EBADF = 9, EINVAL = 22;

const SECCOMP_HINTS: Record<string, string> = {
  EACCES: "set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) first, or hold CAP_SYS_ADMIN",
  EINVAL: "the kernel refused the program (bad instruction or jump) or the flags",
  ENOMEM: "the filter is too long (the kernel's limit is 4096 instructions, 32768 in all)",
  EFAULT: "the program buffer was not readable",
};

/** 1n << n for every capability number. */
const BIT = Array.from({ length: 64 }, (_, n) => 1n << BigInt(n));

/** Descriptors handed out by the compiled kernel are registers, tagged so they cannot pass for fds. */
const TAG = 0x40000000;
const fdReg = (fd: number): Reg | null => (fd >= TAG ? { reg: fd - TAG } : null);

function splitPath(path: string): { dir: string; base: string } {
  const p = path.replace(/\/+$/, "");
  const i = p.lastIndexOf("/");
  return { dir: i <= 0 ? "/" : p.slice(0, i), base: p.slice(i + 1) };
}

/** One candidate of the program's PATH search: where its stat and execve errnos land. */
export interface ExecSlot {
  path: string;
  stat: Reg;
  exec: Reg;
}

export interface CompiledKernel extends Kernel {
  readonly asm: Asm;
  /** the PATH search, in order (becomeProgram's prepareExec calls) */
  readonly execSlots: ExecSlot[];
  /** a register fd (the kernel's own) or a real one, as an argument */
  arg(fd: number): Arg;
}

export interface CompileOptions {
  /** descriptors every closeFdsExcept keeps (e.g. the gate the program's process waits on) */
  pinned?: readonly number[];
  /** emitted for becomeProgram's gate() */
  gate?: (execSlots: readonly ExecSlot[]) => void;
  /** non-dumpable again right after the capability sets (the id switch before them resets the
   * flag): a process that joins a running jail holds host descriptors until its execve */
  nonDumpable?: boolean;
}

export function compileKernel(asm: Asm, opts: CompileOptions = {}): CompiledKernel {
  const free: Reg[] = [];
  const isFree = new Set<number>();
  const reg = (): Reg => {
    const r = free.pop();
    if (!r) return asm.reg();
    isFree.delete(r.reg);
    return r;
  };
  // The host's mount table: the jail mounts in a namespace of its own, the supervisor in none.
  const hostTable = ownMountinfo;
  const fd = (r: Reg) => TAG + r.reg;
  const arg = (n: number): Arg => fdReg(n) ?? n;
  const release = (n: number) => {
    const r = fdReg(n);
    if (!r) return;
    // Freed twice, a register would be handed to two live descriptors at once.
    if (isFree.has(r.reg)) throw new Error(`stage: descriptor r${r.reg} closed twice`);
    isFree.add(r.reg);
    free.push(r);
  };
  const sys = asm.syscall.bind(asm);

  function close(n: number): void {
    sys(NRS.close, [arg(n)], { syscall: "close" });
    release(n);
  }

  // One struct open_how per set of flags (the kernel only reads it).
  const hows = new Map<number, bigint>();
  function openInRoot(rootFd: number, path: string, flags = O_PATH | O_CLOEXEC): number {
    let how = hows.get(flags);
    if (how === undefined) hows.set(flags, (how = asm.buf(new BigUint64Array([BigInt(flags), 0n, BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)]))));
    const rel = path.replace(/^\/+/, "") || ".";
    const r = reg();
    sys(NRS.openat2, [arg(rootFd), asm.str(rel), how, 24], { syscall: "openat2", path, dst: r });
    return fd(r);
  }

  // A name directly beneath the root is made through rootFd itself (a lookup of "/" in the root
  // is the root): no descriptor to open and close.
  function ensureDir(rootFd: number, path: string, mode = 0o755): number {
    let cur = "";
    for (const part of path.split("/").filter(Boolean)) {
      const parent = cur ? openInRoot(rootFd, cur, O_PATH | O_DIRECTORY | O_CLOEXEC) : rootFd;
      sys(NRS.mkdirat, [arg(parent), asm.str(part), mode], { syscall: "mkdir", path: `${cur}/${part}`, ok: [EEXIST] });
      if (parent !== rootFd) close(parent);
      cur += "/" + part;
    }
    return openInRoot(rootFd, cur || "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  function newFs(type: string, options: Record<string, string> = {}, attrs = 0): number {
    const ctx = reg();
    sys(NRS.fsopen, [asm.str(type), FSOPEN_CLOEXEC], { syscall: "fsopen", path: type, dst: ctx });
    for (const [key, v] of Object.entries(options))
      sys(NRS.fsconfig, [ctx, FSCONFIG_SET_STRING, asm.str(key), asm.str(v), 0], { syscall: "fsconfig", path: `${type} ${key}=${v}` });
    sys(NRS.fsconfig, [ctx, FSCONFIG_CMD_CREATE, 0, 0, 0], { syscall: "fsconfig", path: `${type} create` });
    const m = reg();
    sys(NRS.fsmount, [ctx, FSMOUNT_CLOEXEC, attrs], { syscall: "fsmount", path: type, dst: m });
    close(fd(ctx));
    return fd(m);
  }

  function cloneTree(path: string, recursive = true): number {
    const r = reg();
    sys(NRS.open_tree, [AT_FDCWD, asm.str(path), OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0)], { syscall: "open_tree", path, dst: r });
    return fd(r);
  }

  // One struct mount_attr per (set, clear) pair, and one empty path (the kernel only reads them).
  const attrs = new Map<string, bigint>();
  const empty = asm.str("");
  function mountAttrs(m: number, set: number, recursive: boolean, what: string, clear = 0): void {
    const key = `${set}:${clear}`;
    let attr = attrs.get(key);
    if (attr === undefined) attrs.set(key, (attr = asm.buf(new BigUint64Array([BigInt(set), BigInt(clear), 0n, 0n]))));
    sys(NRS.mount_setattr, [arg(m), empty, AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), attr, 32], { syscall: "mount_setattr", path: what });
  }

  /** An op that makes something at `path` beneath `rootFd`, where EEXIST is fine. */
  function makeAt(rootFd: number, path: string, make: (parent: Arg, base: bigint) => void): void {
    const { dir, base } = splitPath(path);
    const parent = dir === "/" ? rootFd : ensureDir(rootFd, dir);
    make(arg(parent), asm.str(base));
    if (parent !== rootFd) close(parent);
  }

  const execSlots: ExecSlot[] = [];
  const prctl = (option: number, a: number, flags: string, ok?: number[]) =>
    sys(NRS.prctl, [option, a, 0, 0, 0], { syscall: "prctl", flags, ...(ok ? { ok } : {}) });

  const k: CompiledKernel = {
    asm,
    execSlots,
    arg,
    attempt<T, R>(codes: readonly string[], fn: () => T, then: (v: T) => R, otherwise: () => R): R {
      const elseL = asm.label();
      const endL = asm.label();
      const errnos = codes.includes("*") ? [-1] : codes.map((c) => ERRNO[c]!);
      const v = asm.tolerating(errnos, elseL, fn);
      const r = then(v);
      asm.jump(endL);
      const jumped = asm.length;
      asm.bind(elseL);
      otherwise();
      // Nothing to do otherwise (an optional mask): no jump over nothing.
      if (asm.length === jumped) asm.dropLastJump();
      asm.bind(endL);
      return r;
    },
    hinted: <T>(code: string, hint: string, fn: () => T): T => asm.hinting(code, hint, fn),
    gate: () => opts.gate?.(execSlots),
    cloneTree,
    cloneTreeAt(at: number, recursive = true): number {
      const r = reg();
      sys(NRS.open_tree, [arg(at), empty, OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0)], { syscall: "open_tree", path: "fd", dst: r });
      return fd(r);
    },
    newFs,
    setMountAttrs: mountAttrs,
    // The kernel's, and the host's mount table: the same here, before the clone's mounts change.
    mountSetattr: hasMountSetattr,
    hostMounts: (path: string, recursive: boolean) => hostMountTree(path, recursive, hostTable()),
    remount(m: number, attrs: number, what: string): void {
      // "/proc/self/fd/" and the descriptor's number, written by the stage when it is a register
      const path = Buffer.alloc(40);
      const r = fdReg(m);
      path.write(`/proc/self/fd/${r ? "" : m}`);
      const at = asm.buf(path);
      if (r) asm.itoa(at + 14n, r);
      sys(NRS.mount, [asm.str("none"), at, 0, REMOUNT_FLAGS | attrs, 0], { syscall: "mount", path: what, flags: remountFlagNames(attrs) });
    },
    attach(m: number, target: number, what: string): void {
      sys(NRS.move_mount, [arg(m), empty, arg(target), empty, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH], { syscall: "move_mount", path: what });
    },
    attachAtPath(m: number, path: string): void {
      sys(NRS.move_mount, [arg(m), empty, AT_FDCWD, asm.str(path), MOVE_MOUNT_F_EMPTY_PATH], { syscall: "move_mount", path });
    },
    ensureDir,
    ensureFile(rootFd: number, path: string): number {
      makeAt(rootFd, path, (parent, base) => {
        // The descriptor is closed at once; -1 first, so that EEXIST leaves nothing to close.
        const f = reg();
        asm.set(f, -1);
        sys(NRS.openat, [parent, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644], { syscall: "open", path, flags: "O_CREAT", dst: f, ok: [EEXIST] });
        sys(NRS.close, [f], { syscall: "close", ok: [EBADF] });
        free.push(f);
      });
      return openInRoot(rootFd, path);
    },
    symlinkAt(rootFd: number, target: string, path: string): void {
      makeAt(rootFd, path, (parent, base) => sys(NRS.symlinkat, [asm.str(target), parent, base], { syscall: "symlink", path, ok: [EEXIST] }));
    },
    openInRoot,
    makeRootPrivate(): void {
      // In a plain chroot "/" is no mount: the same one-line explanation as the direct call.
      const hints = isMountRoot("/") === false
        ? { EINVAL: "jailx runs in a chroot whose root is not a mount point, and a jail needs one (with private mounts above it); enter the chroot through a mount namespace of its own where it is one: unshare -m sh -c 'mount --bind DIR DIR && exec chroot DIR …'" }
        : undefined;
      sys(NRS.mount, [asm.str("none"), asm.str("/"), 0, MS_REC | MS_PRIVATE, 0], { syscall: "mount", path: "/", flags: "MS_REC|MS_PRIVATE", ...(hints ? { hints } : {}) });
    },
    whiteoutsIn(dirFd: number, paths: readonly string[], what: string): void {
      for (const { path, dir } of whiteoutSteps(paths)) {
        if (dir) sys(NRS.mkdirat, [arg(dirFd), asm.str(path), 0o755], { syscall: "mkdir", path: `${what}/${path}`, ok: [EEXIST] });
        else sys(NRS.mknodat, [arg(dirFd), asm.str(path), 0o020000, 0], { syscall: "mknod", path: `${what}/${path}`, flags: "whiteout 0:0", ok: [EEXIST] });
      }
    },
    unmountAndRemove(path: string): void {
      sys(NRS.umount2, [asm.str(path), MNT_DETACH], { syscall: "umount2", path, flags: "MNT_DETACH" });
      sys(NRS.unlinkat, [AT_FDCWD, asm.str(path), AT_REMOVEDIR], { syscall: "rmdir", path });
    },
    submounts: (path: string) => submountsOf(path, hostTable()),
    isDir: (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false,
    pivotInto(rootFd: number): void {
      const dot = asm.str(".");
      sys(NRS.fchdir, [arg(rootFd)], { syscall: "fchdir", path: "new root" });
      sys(NRS.pivot_root, [dot, dot], { syscall: "pivot_root", path: "new root" });
      sys(NRS.umount2, [dot, MNT_DETACH], { syscall: "umount2", path: "old root", flags: "MNT_DETACH" });
      sys(NRS.chdir, [asm.str("/")], { syscall: "chdir", path: "/" });
    },
    close,
    unshare: (flags: number) => sys(NRS.unshare, [flags], { syscall: "unshare", flags: `0x${flags.toString(16)}` }),
    setHostname(name: string): void {
      sys(NRS.sethostname, [asm.str(name), Buffer.byteLength(name)], { syscall: "sethostname", path: name });
    },
    loopbackUp(): void {
      // A new network namespace's lo has only IFF_LOOPBACK: set it up and running (the kernel
      // keeps the flags SIOCSIFFLAGS cannot change).
      const s = reg();
      sys(NRS.socket, [2 /* AF_INET */, 2 | O_CLOEXEC /* SOCK_DGRAM|SOCK_CLOEXEC */, 0], { syscall: "socket", flags: "AF_INET", dst: s });
      const ifr = Buffer.alloc(40);
      ifr.write("lo", 0, "latin1");
      ifr.writeInt16LE(0x1 | 0x8 | 0x40, 16);
      sys(NRS.ioctl, [s, 0x8914 /* SIOCSIFFLAGS */, asm.buf(ifr)], { syscall: "ioctl", path: "lo", flags: "SIOCSIFFLAGS" });
      close(fd(s));
    },
    switchIds(uid: number, gid: number, groups: readonly number[], setgroupsAllowed: boolean): void {
      if (setgroupsAllowed) {
        const list = new Uint32Array(groups.length || 1);
        groups.forEach((g, i) => (list[i] = g));
        sys(NRS.setgroups, [groups.length, asm.buf(list)], { syscall: "setgroups" });
      }
      sys(NRS.setresgid, [gid, gid, gid], { syscall: "setresgid", flags: String(gid) });
      sys(NRS.setresuid, [uid, uid, uid], { syscall: "setresuid", flags: String(uid) });
    },
    dropBounding(keep: bigint): void {
      const last = lastCap();
      for (let n = 0; n <= last; n++)
        if (!(keep & BIT[n]!)) prctl(PR_CAPBSET_DROP, n, `PR_CAPBSET_DROP ${capName(n)}`, [EINVAL]);
    },
    setKeepCaps: (on: boolean) => prctl(PR_SET_KEEPCAPS, on ? 1 : 0, "PR_SET_KEEPCAPS"),
    setCapSets(permitted: bigint, effective: bigint, inheritable: bigint): void {
      const lo = (m: bigint) => Number(m & 0xffffffffn);
      const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
      const header = new Uint32Array([0x20080522, 0]);
      const data = new Uint32Array([lo(effective), lo(permitted), lo(inheritable), hi(effective), hi(permitted), hi(inheritable)]);
      sys(NRS.capset, [asm.buf(header), asm.buf(data)], { syscall: "capset" });
      if (opts.nonDumpable) prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    },
    setAmbient(caps: bigint): void {
      sys(NRS.prctl, [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0], { syscall: "prctl", flags: "PR_CAP_AMBIENT_CLEAR_ALL" });
      for (let n = 0; n < 64; n++)
        if (caps & BIT[n]!)
          sys(NRS.prctl, [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0], { syscall: "prctl", flags: `PR_CAP_AMBIENT_RAISE ${capName(n)}` });
    },
    setNoNewPrivs: () => prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS"),
    landlockScope(): boolean {
      // The ABI is the kernel's: the same here as in the jail.
      if (landlockAbi() < 6) return false;
      const attr = new BigUint64Array([0n, 0n, 3n /* ABSTRACT_UNIX_SOCKET | SIGNAL */]);
      const r = reg();
      sys(NRS.landlock_create_ruleset, [asm.buf(attr), 24, 0], { syscall: "landlock_create_ruleset", flags: "scoped=3", dst: r });
      sys(NRS.landlock_restrict_self, [r, 0], { syscall: "landlock_restrict_self" });
      close(fd(r));
      return true;
    },
    installSeccomp(prog: Buffer, log: boolean): void {
      const fprog = sockFprog(prog);
      asm.keep.push(prog);
      sys(NRS.seccomp, [SECCOMP_SET_MODE_FILTER, log ? SECCOMP_FILTER_FLAG_LOG : 0, asm.buf(fprog)], {
        syscall: "seccomp", flags: `SECCOMP_SET_MODE_FILTER${log ? "|SECCOMP_FILTER_FLAG_LOG" : ""}, ${prog.length / 8} instructions`, hints: SECCOMP_HINTS,
      });
    },
    installLearnFilter(): never {
      throw new Error("stage: jailx learn runs the program through the Bun supervisor");
    },
    setRlimit(name: string, soft: bigint, hard?: bigint): void {
      if (hard === undefined) throw new Error("stage: a limit needs both values");
      const val = new BigUint64Array([soft, hard]);
      sys(NRS.prlimit64, [0, RLIMITS[name]!, asm.buf(val), 0], { syscall: "prlimit", flags: `${name}=${soft}:${hard}`, hints: { EPERM: "raising a hard limit needs CAP_SYS_RESOURCE" } });
    },
    setParentDeathSignal: (sig: number) => prctl(PR_SET_PDEATHSIG, sig, "PR_SET_PDEATHSIG"),
    setDumpable: (on: boolean) => prctl(PR_SET_DUMPABLE, on ? 1 : 0, "PR_SET_DUMPABLE"),
    setsid: () => (sys(NRS.setsid, [], { syscall: "setsid" }), 0),
    chdir: (path: string) => void sys(NRS.chdir, [asm.str(path)], { syscall: "chdir", path }),
    closeFdsExcept(keep: readonly number[]): void {
      const sorted = [...new Set([...keep, ...(opts.pinned ?? [])].filter((f) => f >= 3))].sort((a, b) => a - b);
      let from = 3;
      for (const n of sorted) {
        if (n > from) sys(NRS.close_range, [from, n - 1, 0], { syscall: "close_range" });
        from = n + 1;
      }
      sys(NRS.close_range, [from, 0x7fffffff, 0], { syscall: "close_range" });
    },
    setCloexec: (n: number, on: boolean) => sys(NRS.fcntl, [arg(n), 2 /* F_SETFD */, on ? 1 : 0], { syscall: "fcntl", flags: `fd ${n}` }),
    resetSignalsForExec(): void {
      // Default actions first, then unblocked: the process may share the supervisor's memory
      // (CLONE_VM), where none of Bun's handlers may run.
      const act = asm.buf(new BigUint64Array(4));
      for (let s = 1; s <= 64; s++)
        if (s !== 9 && s !== 19) sys(NRS.rt_sigaction, [s, act, 0, 8], { syscall: "rt_sigaction", ok: [EINVAL] });
      sys(NRS.rt_sigprocmask, [2 /* SIG_SETMASK */, asm.buf(new BigUint64Array(1)), 0, 8], { syscall: "rt_sigprocmask" });
    },
    // The PATH search of becomeProgram: each candidate is looked up (stat, before the filter) and
    // tried (execve, after it); the errnos land in registers the supervisor reads back.
    pathExists(path: string): boolean {
      const r = reg();
      sys(NRS.newfstatat, [AT_FDCWD, asm.str(path), asm.buf(Buffer.alloc(256)), 0], { syscall: "stat", path, dst: r, errdst: r, ok: [-1] });
      execSlots.push({ path, stat: r, exec: asm.reg() });
      return true;
    },
    prepareExec(path: string, argv: readonly string[], env: readonly string[]): PreparedExec {
      const slot = execSlots.find((s) => s.path === path)!;
      return { path, keep: [slot], p: Number(asm.str(path)), a: Number(asm.strArray(argv)), e: Number(asm.strArray(env)) };
    },
    execPrepared(x: PreparedExec): number {
      const slot = x.keep[0] as ExecSlot;
      sys(NRS.execve, [BigInt(x.p), BigInt(x.a), BigInt(x.e)], { syscall: "execve", path: x.path, errdst: slot.exec, ok: [-1] });
      return SEEN_ENOENT; // go on to the next candidate, as after ENOENT
    },
    execve(): number {
      throw new Error("stage: use prepareExec/execPrepared");
    },
    exitNow(code: number): never {
      sys(NRS.exit_group, [code], { syscall: "exit_group" });
      return undefined as never;
    },
  };
  return k;
}
