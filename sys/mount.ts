// Mounts with the new mount API (open_tree, fsopen/fsmount, move_mount, mount_setattr) and
// path resolution that cannot be led out of the new root by symlinks (openat2 RESOLVE_IN_ROOT).
//
// Why the new API: a bind is a detached clone (an fd) until it is attached, so every source is
// resolved against the host view before the new root hides anything; mount_setattr changes just
// the flags asked for (no need to repeat the locked nosuid/nodev/noexec flags a classic
// MS_REMOUNT must carry in a user namespace); and targets are fds, never re-resolved paths.
// Linux 5.2–5.11 have all of it but mount_setattr (5.12): there a clone is attached first and
// then remounted with mount(2) (remountBind), with the flags its mounts already have
// (mountTreeAt, from the mount table) added to the new ones.
import { readFileSync, realpathSync, statSync } from "node:fs";
import { c, check, cstr, errno, ptr, syscall } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { mountTreeAt, parseMountinfo, type MountTree } from "./mountinfo.ts";
import { NR } from "./nr.ts";

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const O_CREAT = 0o100, O_EXCL = 0o200, O_WRONLY = 1;
const O_DIRECTORY = process.arch === "arm64" ? 0o40000 : 0o200000;
const O_NOFOLLOW = process.arch === "arm64" ? 0o100000 : 0o400000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4, MOVE_MOUNT_T_EMPTY_PATH = 0x40;
const RESOLVE_NO_MAGICLINKS = 0x2, RESOLVE_IN_ROOT = 0x10;
const FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;
const MS_REC = 0x4000, MS_PRIVATE = 1 << 18;
const MS_REMOUNT = 0x20, MS_BIND = 0x1000;
const MNT_DETACH = 2;

/** mount_setattr's attributes; for these four mount(2)'s MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC are the same bits. */
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
const ATTR_NAMES: [number, string][] = [[0x1, "MS_RDONLY"], [0x2, "MS_NOSUID"], [0x4, "MS_NODEV"], [0x8, "MS_NOEXEC"]];

function sysFail(name: string, path?: string, flags?: string): never {
  const e = errno();
  throw new SysError(name, errnoName(e), e, path, flags);
}

function num(r: bigint, name: string, path?: string): number {
  if (r < 0n) sysFail(name, path);
  return Number(r);
}

/** A detached copy of the mount tree at `path` (host view), as an fd. */
export function cloneTree(path: string, recursive = true): number {
  const flags = OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  return num(syscall(NR.open_tree, AT_FDCWD, ptr(cstr(path)), flags), "open_tree", path);
}

/** A detached copy of the mount subtree at the fd `fd` (e.g. from openInRoot). */
export function cloneTreeAt(fd: number, recursive = true): number {
  const flags = OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  return num(syscall(NR.open_tree, fd, ptr(cstr("")), flags), "open_tree", `fd ${fd}`);
}

/** A new, detached filesystem instance (tmpfs, proc, devpts, …) as a mount fd. */
export function newFs(type: string, options: Record<string, string> = {}, attrs = 0): number {
  const fs = num(syscall(NR.fsopen, ptr(cstr(type)), 1), "fsopen", type);
  try {
    for (const [k, v] of Object.entries(options))
      num(syscall(NR.fsconfig, fs, FSCONFIG_SET_STRING, ptr(cstr(k)), ptr(cstr(v)), 0), "fsconfig", `${type} ${k}=${v}`);
    num(syscall(NR.fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0), "fsconfig", `${type} create`);
    return num(syscall(NR.fsmount, fs, 1, attrs), "fsmount", type);
  } finally {
    c.close(fs);
  }
}

/** Set (and clear) mount attributes on the mount `fd` refers to, optionally recursively. */
export function setMountAttrs(fd: number, set: number, recursive: boolean, what: string, clear = 0): void {
  const attr = new BigUint64Array([BigInt(set), BigInt(clear), 0n, 0n]);
  num(syscall(NR.mount_setattr, fd, ptr(cstr("")), AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), ptr(attr), 32), "mount_setattr", what);
}

/** "MS_REMOUNT|MS_BIND|MS_RDONLY|…" for messages and op notes. */
export function remountFlagNames(attrs: number): string {
  return ["MS_REMOUNT", "MS_BIND", ...ATTR_NAMES.filter(([bit]) => attrs & bit).map(([, name]) => name)].join("|");
}

/** mount(2)'s remount of the mount an fd is the root of: through its /proc/self/fd link. */
export const REMOUNT_FLAGS = MS_REMOUNT | MS_BIND;

/**
 * Remount the attached mount whose root `fd` is (an open_tree clone after move_mount, or an
 * openInRoot of a mount point) with exactly the flags `attrs` (MOUNT_ATTR bits; atime flags are
 * left as they are). mount(2) takes only paths: /proc/self/fd/N leads to the fd's own mount and
 * dentry, never re-resolved through the tree, so a path swapped meanwhile cannot redirect it; a
 * dentry that is not the root of a mount fails with EINVAL.
 */
export function remountBind(fd: number, attrs: number, what: string): void {
  const r = c.mount(ptr(cstr("none")), ptr(cstr(`/proc/self/fd/${fd}`)), null, REMOUNT_FLAGS | attrs, null);
  if (r < 0) sysFail("mount", what, remountFlagNames(attrs));
}

/** mountTreeAt for a host path as it is now (symlinks resolved the way open_tree follows them). */
export function hostMountTree(path: string, recursive: boolean, mountinfo: string): MountTree {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // unreadable or gone: the clone of it fails with its own message
  }
  return mountTreeAt(real, mountinfo, recursive);
}

let ownTable: { pid: number; ns: number; text: string } | undefined;
/**
 * This process's mount table (/proc/self/mountinfo), read once while the process and its mount
 * namespace stay the same (a forked child or a setns reads it again): the supervisor needs it
 * for the cgroup layout, for finding the cgroup mounts again and for the jail's compile, and
 * the kernel takes ~1.5 ms to write out a table of 1,000 mounts. A process that mounts in its
 * own namespace (the Bun path's child) reads the file itself.
 */
export function ownMountinfo(): string {
  const pid = c.getpid();
  let ns = -1; // unknown (no nsfs link to stat): read every time
  try {
    ns = statSync("/proc/self/ns/mnt").ino;
  } catch {}
  if (ns < 0 || ownTable?.pid !== pid || ownTable.ns !== ns) ownTable = { pid, ns, text: readFileSync("/proc/self/mountinfo", "utf8") };
  return ownTable.text;
}

let setattr: boolean | undefined;
/**
 * Whether this kernel has mount_setattr (Linux 5.12+), probed once with arguments it rejects
 * before doing anything (EINVAL/EBADF; ENOSYS: missing). A kernel property: the supervisor's
 * answer is the jail's (a seccomp filter the supervisor runs under is inherited by the jail).
 */
export function hasMountSetattr(): boolean {
  if (setattr === undefined) setattr = !(syscall(NR.mount_setattr, -1, 0, 0, 0, 0) < 0n && errno() === 38 /* ENOSYS */);
  return setattr;
}

/** Attach the detached mount `fd` on top of the directory or file `targetFd`. */
export function attach(fd: number, targetFd: number, what: string): void {
  const empty = cstr("");
  num(syscall(NR.move_mount, fd, ptr(empty), targetFd, ptr(empty), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), "move_mount", what);
}

export function attachAtPath(fd: number, path: string): void {
  num(syscall(NR.move_mount, fd, ptr(cstr("")), AT_FDCWD, ptr(cstr(path)), MOVE_MOUNT_F_EMPTY_PATH), "move_mount", path);
}

/** openat2 beneath `rootFd`: symlinks are resolved as if rootFd were "/", never out of it. */
export function openInRoot(rootFd: number, path: string, flags = O_PATH | O_CLOEXEC): number {
  const how = new BigUint64Array([BigInt(flags), 0n, BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)]);
  const rel = path.replace(/^\/+/, "") || ".";
  return num(syscall(NR.openat2, rootFd, ptr(cstr(rel)), ptr(how), 24), "openat2", path);
}

function splitPath(path: string): { dir: string; base: string } {
  const p = path.replace(/\/+$/, "");
  const i = p.lastIndexOf("/");
  return { dir: i <= 0 ? "/" : p.slice(0, i), base: p.slice(i + 1) };
}

/**
 * mkdir -p of `path` beneath `rootFd` (resolution confined to the root); returns an O_PATH fd.
 * A name directly beneath the root is made through rootFd itself.
 */
export function ensureDir(rootFd: number, path: string, mode = 0o755): number {
  const parts = path.split("/").filter(Boolean);
  let cur = "";
  for (const part of parts) {
    const parent = cur ? openInRoot(rootFd, cur, O_PATH | O_DIRECTORY | O_CLOEXEC) : rootFd;
    const r = c.mkdirat(parent, ptr(cstr(part)), mode);
    const e = r < 0 ? errno() : 0;
    if (parent !== rootFd) c.close(parent);
    if (r < 0 && e !== 17) throw new SysError("mkdir", errnoName(e), e, `${cur}/${part}`);
    cur += "/" + part;
  }
  return openInRoot(rootFd, cur || "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/** Create an empty file at `path` beneath `rootFd` (a mount point for a file bind). */
export function ensureFile(rootFd: number, path: string): number {
  const { dir, base } = splitPath(path);
  const parent = dir === "/" ? rootFd : ensureDir(rootFd, dir);
  const fd = c.openat(parent, ptr(cstr(base)), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644);
  const e = fd < 0 ? errno() : 0;
  if (parent !== rootFd) c.close(parent);
  if (fd >= 0) c.close(fd);
  else if (e !== 17) throw new SysError("open", errnoName(e), e, path, "O_CREAT");
  return openInRoot(rootFd, path);
}

export function symlinkAt(rootFd: number, target: string, path: string): void {
  const { dir, base } = splitPath(path);
  const parent = dir === "/" ? rootFd : ensureDir(rootFd, dir);
  const r = c.symlinkat(ptr(cstr(target)), parent, ptr(cstr(base)));
  const e = r < 0 ? errno() : 0;
  if (parent !== rootFd) c.close(parent);
  if (r < 0 && e !== 17) throw new SysError("symlink", errnoName(e), e, path);
}

/** Stop mount events from propagating back to the host (pivot_root requires it). */
export function makeRootPrivate(): void {
  if (c.mount(ptr(cstr("none")), ptr(cstr("/")), null, MS_REC | MS_PRIVATE, null) === 0) return;
  const e = errno();
  // In a plain chroot "/" is a directory, not a mount: its mount lies outside our root, so it
  // can be neither made private nor pivoted away from (and binding over it would propagate to
  // the host). Say so instead of a bare EINVAL.
  const hint = e === 22 && isMountRoot("/") === false
    ? "jailx runs in a chroot whose root is not a mount point, and a jail needs one (with private mounts above it); enter the chroot through a mount namespace of its own where it is one: unshare -m sh -c 'mount --bind DIR DIR && exec chroot DIR …'"
    : undefined;
  throw new SysError("mount", errnoName(e), e, "/", "MS_REC|MS_PRIVATE", hint);
}

const STATX_ATTR_MOUNT_ROOT = 0x2000n;

/** Whether `path` is the root of a mount (statx, Linux ≥ 5.8); null when the kernel cannot tell. */
export function isMountRoot(path: string): boolean | null {
  const buf = new BigUint64Array(32); // struct statx is 256 bytes
  if (syscall(NR.statx, AT_FDCWD, ptr(cstr(path)), 0, 0, ptr(buf)) < 0n) return null;
  // stx_attributes at byte 8, stx_attributes_mask at byte 56 (include/uapi/linux/stat.h)
  if ((buf[7]! & STATX_ATTR_MOUNT_ROOT) === 0n) return null;
  return (buf[1]! & STATX_ATTR_MOUNT_ROOT) !== 0n;
}

/** Make the mount `rootFd` the root: the old root is stacked under it, then detached. */
export function pivotInto(rootFd: number): void {
  check(c.fchdir(rootFd), "fchdir", { path: "new root" });
  const dot = cstr(".");
  if (syscall(NR.pivot_root, ptr(dot), ptr(dot)) < 0n) sysFail("pivot_root", "new root");
  check(c.umount2(ptr(dot), MNT_DETACH), "umount2", { path: "old root", flags: "MNT_DETACH" });
  check(c.chdir(ptr(cstr("/"))), "chdir", { path: "/" });
}

/**
 * Overlayfs whiteouts (0:0 character devices) at `paths`, relative to `dirFd`: in a lower layer
 * each hides that name of the layers below it. `dirFd` is the root of a filesystem only this
 * process has written to (a new tmpfs), so the paths are resolved as they are, parents made
 * once each; `what` names it in messages. Allowed without CAP_MKNOD (Linux ≥ 5.8).
 */
export function whiteoutsIn(dirFd: number, paths: readonly string[], what: string): void {
  for (const { path, dir } of whiteoutSteps(paths)) {
    const r = dir ? c.mkdirat(dirFd, ptr(cstr(path)), 0o755) : Number(syscall(NR.mknodat, dirFd, ptr(cstr(path)), 0o020000 /* S_IFCHR */, 0));
    const e = r < 0 ? errno() : 0;
    if (r < 0 && e !== 17) throw new SysError(dir ? "mkdir" : "mknod", errnoName(e), e, `${what}/${path}`, dir ? undefined : "whiteout 0:0");
  }
}

/** The directories and whiteouts `paths` need, in order, each directory once. */
export function whiteoutSteps(paths: readonly string[]): { path: string; dir: boolean }[] {
  const steps: { path: string; dir: boolean }[] = [];
  const made = new Set<string>();
  for (const p of paths) {
    const parts = p.split("/").filter(Boolean);
    if (parts.length === 0 || parts.some((x) => x === "." || x === "..")) throw new Error(`whiteout: bad path '${p}'`);
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!made.has(d)) steps.push({ path: d, dir: true }), made.add(d);
    }
    steps.push({ path: parts.join("/"), dir: false });
  }
  return steps;
}

/** Detach the mount at `path` and remove its (empty) mount point directory. */
export function unmountAndRemove(path: string): void {
  check(c.umount2(ptr(cstr(path)), MNT_DETACH), "umount2", { path, flags: "MNT_DETACH" });
  if (syscall(NR.unlinkat, AT_FDCWD, ptr(cstr(path)), 0x200 /* AT_REMOVEDIR */) < 0n) sysFail("rmdir", path);
}

/** Mount points strictly beneath `path` in this mount namespace, parents first. */
export function submountsOf(path: string, mountinfo: string): string[] {
  const prefix = path.endsWith("/") ? path : path + "/";
  const points = parseMountinfo(mountinfo)
    .map((m) => m.mountPoint)
    .filter((p) => p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => a.split("/").length - b.split("/").length);
}

export function closeFd(fd: number): void {
  c.close(fd);
}

/**
 * The new mount API calls a jail cannot be built without (Linux 5.2+), probed with arguments the
 * kernel rejects before doing anything (EBADF/EINVAL/EFAULT): ENOSYS means the call does not
 * exist. Returns the missing calls. (mount_setattr, 5.12+, is not among them: without it the
 * flags are set with mount(2) remounts; see hasMountSetattr.)
 */
export function missingMountApi(): string[] {
  const missing: string[] = [];
  for (const name of ["open_tree", "move_mount", "fsopen"] as const) {
    const r = syscall(NR[name], -1, 0, 0, 0, 0);
    if (r < 0n && errno() === 38 /* ENOSYS */) missing.push(name);
  }
  return missing;
}
