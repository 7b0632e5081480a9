// Reading what a stopped thread of the jail passed to a syscall: strings and structs from its
// memory (/proc/TID/mem), its working directory and descriptors (/proc/TID/cwd, fd/N), and
// paths resolved the way the jail sees them (openat2 RESOLVE_IN_ROOT beneath /proc/TID/root).
//
// All of it is hostile input: reads are bounded, nothing is followed on the host (symlinks are
// resolved only inside the jail's root, magic links not at all), and the caller checks that the
// notification is still pending after reading (the thread may have died and its id been reused).
// Between our read and the syscall the program may change its memory (another thread): that
// TOCTOU is harmless for learning — the jail is the default jail meanwhile, and enforcement
// never trusts what was recorded, it only allows less.
import { closeSync, fstatSync, openSync, readSync, readlinkSync } from "node:fs";
import { openInRoot } from "../../sys/mount.ts";
import { errno, ptr, syscall } from "../../sys/ffi.ts";
import { NR } from "../../sys/nr.ts";

const O_RDONLY = 0, O_CLOEXEC = 0o2000000, O_PATH = 0o10000000, O_NOFOLLOW = process.arch === "arm64" ? 0o100000 : 0o400000;
const O_DIRECTORY = process.arch === "arm64" ? 0o40000 : 0o200000;
const PATH_MAX = 4096;

/**
 * Up to `len` bytes of the thread's memory at `addr`, fewer where a mapping ends; null when
 * nothing is readable. One process_vm_readv with an iovec per page (a transfer stops at the
 * first iovec it cannot complete); /proc/TID/mem where the kernel lacks it.
 */
export function readMem(tid: number, addr: bigint, len: number): Buffer | null {
  if (addr === 0n || len <= 0) return null;
  const buf = Buffer.alloc(Math.min(len, PATH_MAX));
  const got = crossMemory ? readVm(tid, addr, buf) : readProcMem(tid, addr, buf);
  return got <= 0 ? null : buf.subarray(0, got);
}

let crossMemory = true;
const local = new BigUint64Array(2);
const remote = new BigUint64Array(6);

function readVm(tid: number, addr: bigint, buf: Buffer): number {
  local[0] = BigInt(ptr(buf));
  local[1] = BigInt(buf.length);
  let n = 0;
  for (let off = 0; off < buf.length && n < 3; n++) {
    const at = addr + BigInt(off);
    const len = Math.min(buf.length - off, 4096 - Number(at % 4096n));
    remote[n * 2] = at;
    remote[n * 2 + 1] = BigInt(len);
    off += len;
  }
  const r = Number(syscall(NR.process_vm_readv, tid, ptr(local), 1, ptr(remote), n, 0));
  if (r < 0 && errno() === 38 /* ENOSYS */) {
    crossMemory = false;
    return readProcMem(tid, addr, buf);
  }
  return r;
}

function readProcMem(tid: number, addr: bigint, buf: Buffer): number {
  let fd: number;
  try {
    fd = openSync(`/proc/${tid}/mem`, O_RDONLY | O_CLOEXEC);
  } catch {
    return -1;
  }
  let got = 0;
  try {
    // Page by page: a read that starts in a mapped page and runs into an unmapped one fails.
    while (got < buf.length) {
      const pos = addr + BigInt(got);
      const want = Math.min(buf.length - got, 4096 - Number(pos % 4096n));
      const n = readSync(fd, buf, got, want, pos);
      if (n <= 0) break;
      got += n;
    }
  } catch {
    /* the rest is unmapped */
  } finally {
    closeSync(fd);
  }
  return got;
}

/** A NUL-terminated string of at most PATH_MAX bytes (a longer one is refused by the kernel anyway). */
export function readString(tid: number, addr: bigint): string | null {
  const b = readMem(tid, addr, PATH_MAX);
  if (!b) return null;
  const nul = b.indexOf(0);
  return nul < 0 ? null : b.subarray(0, nul).toString("utf8");
}

/** A /proc link of the thread (cwd, fd/N, root) as a path inside the jail, or null. */
export function procLink(tid: number, what: string): string | null {
  try {
    const p = readlinkSync(`/proc/${tid}/${what}`);
    return p.startsWith("/") && !p.endsWith(" (deleted)") ? p : null;
  } catch {
    return null;
  }
}

/** Textual normalisation: `.`, `..` and repeated slashes (no symlinks followed). */
export function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * The absolute path a path argument names: relative ones against the thread's working
 * directory (AT_FDCWD) or the directory descriptor.
 */
export function absolutePath(tid: number, dirfd: number | null, path: string): string | null {
  if (path.startsWith("/")) return normalize(path);
  const AT_FDCWD = -100;
  const base = dirfd === null || dirfd === AT_FDCWD ? procLink(tid, "cwd") : procLink(tid, `fd/${dirfd}`);
  if (base === null) return null;
  return normalize(path === "" ? base : `${base}/${path}`);
}

export type NodeKind = "file" | "dir" | "other";

export interface Resolved {
  /** the path with every symlink resolved inside the jail's root */
  real: string;
  kind: NodeKind;
  /** the file starts with these bytes (regular files only; `headBytes` of them) */
  head?: Buffer;
  uid: number;
  gid: number;
  mode: number;
}

/**
 * Resolve `path` as the thread sees it: beneath its root, symlinks confined to that root, no
 * magic links; null when it does not exist there. `follow` false: the last component is not
 * followed (lstat, unlink, rename…).
 */
export function resolveInJail(tid: number, path: string, follow: boolean, headBytes = 4, jailRoot?: number): Resolved | null {
  const root = jailRoot ?? openRoot(tid);
  if (root < 0) return null;
  let fd = -1;
  try {
    fd = openInRoot(root, path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    const real = readlinkSync(`/proc/self/fd/${fd}`);
    if (!real.startsWith("/")) return null;
    const st = fstatSync(fd);
    const kind: NodeKind = st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
    const r: Resolved = { real, kind, uid: st.uid, gid: st.gid, mode: st.mode };
    if (kind === "file") r.head = readHead(fd, headBytes);
    return r;
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeSync(fd);
    if (jailRoot === undefined) closeSync(root);
  }
}

/** An O_PATH descriptor of the thread's root directory (as the jail sees "/"), or -1. */
export function openRoot(tid: number): number {
  try {
    return openSync(`/proc/${tid}/root`, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } catch {
    return -1;
  }
}

/** The first bytes of a regular file we hold an O_PATH descriptor of (reopened read-only). */
function readHead(pathFd: number, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/self/fd/${pathFd}`, O_RDONLY | O_CLOEXEC);
  } catch {
    return undefined;
  }
  try {
    const b = Buffer.alloc(Math.min(size, 8192));
    const n = readSync(fd, b, 0, b.length, 0);
    return b.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
