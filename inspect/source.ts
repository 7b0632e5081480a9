// Where inspect reads from. Every read returns the text or an Unknown with a reason; nothing
// throws. ProcSource is the real /proc and cgroup filesystem; TreeSource (tree-source.ts) is a
// captured or hand-built tree of the same shape for tests. The difference between the two lives
// only here, at the boundary: gathering runs the same code for both.
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statSync } from "node:fs";
import { cgroupDevicePrograms } from "../sys/bpf.ts";
import { closePidfd, openPidfd, pidfdAlive } from "../sys/pidfd.ts";
import { unknown, type DevIno, type DeviceNode, type Known } from "./snapshot.ts";

export class ProcSource {
  readonly proc: string;
  constructor(
    /** a prefix for every path: "" for the real system, a tree's fs/ directory for TreeSource */
    readonly fsRoot = "",
    readonly readerUid = process.getuid?.() ?? 0,
  ) {
    this.proc = fsRoot + "/proc";
  }

  /** A host path as seen through this source (cgroup files, markers). */
  path(p: string): string {
    return this.fsRoot + p;
  }

  /** The reader's pid (/proc/self). */
  selfPid(): number {
    return process.pid;
  }

  /**
   * Holds the process while it is read: a pidfd, or the errno name when none can be had (ESRCH
   * no such process, EINVAL a thread id, ENOSYS no pidfds: then start times are compared).
   */
  pin(pid: number): number | string {
    return openPidfd(pid);
  }
  pinnedAlive(fd: number): boolean {
    return pidfdAlive(fd);
  }
  unpin(fd: number): void {
    closePidfd(fd);
  }

  read(pid: number | "self", name: string): Known<string> {
    return this.readPath(`${this.proc}/${pid}/${name}`);
  }

  readPath(path: string): Known<string> {
    const n = this.readInto(path);
    return typeof n === "number" ? this.buf.toString("latin1", 0, n) : n;
  }

  /**
   * The value of `name=` in /proc/PID/environ, or null. Searched in the bytes: environments are
   * kilobytes, and --all would otherwise make one string of each only to look for one variable.
   */
  envVar(pid: number, name: string): Known<string | null> {
    const n = this.readInto(`${this.proc}/${pid}/environ`);
    if (typeof n !== "number") return n;
    const key = name + "=";
    let at = this.buf.subarray(0, n).indexOf("\0" + key, 0, "latin1");
    if (at >= 0) at += 1;
    else if (n >= key.length && this.buf.toString("latin1", 0, key.length) === key) at = 0;
    else return null;
    const end = this.buf.indexOf(0, at);
    return this.buf.toString("latin1", at + key.length, end < 0 || end > n ? n : end);
  }

  // One buffer for every read: --all reads thousands of small /proc files; reading into it and
  // stopping at a short read saves the EOF read(2) per file and an allocation per read.
  private buf = Buffer.allocUnsafe(1 << 16);

  /** Reads a whole file into this.buf (grown as needed); the byte count, or an Unknown. */
  private readInto(path: string): number | Unknown {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      return this.failure(e, path);
    }
    try {
      let n = 0;
      for (;;) {
        if (n === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger);
          this.buf = bigger;
        }
        const r = readSync(fd, this.buf, n, this.buf.length - n, null);
        n += r;
        // /proc files fill the whole request unless they end: a short read is the end
        if (r === 0 || n < this.buf.length) return n;
      }
    } catch (e) {
      return this.failure(e, path);
    } finally {
      closeSync(fd);
    }
  }

  readlink(pid: number, name: string): Known<string> {
    const path = `${this.proc}/${pid}/${name}`;
    try {
      return readlinkSync(path);
    } catch (e) {
      return this.failure(e, path);
    }
  }

  /** dev:ino of the directory /proc/PID/root leads to (never readlink: it says "/" in containers). */
  statRoot(pid: number | "self"): Known<DevIno> {
    return this.statDevIno(`${this.proc}/${pid}/root`);
  }

  statDevIno(path: string): Known<DevIno> {
    try {
      const s = statSync(path);
      return { dev: s.dev, ino: s.ino };
    } catch (e) {
      return this.failure(e, path);
    }
  }

  /** Whether a path exists; an Unknown when the lookup itself was refused. */
  exists(path: string): Known<boolean> {
    try {
      statSync(path);
      return true;
    } catch (e) {
      const f = this.failure(e, path);
      return f.unknown.startsWith("ENOENT") || f.unknown.startsWith("ENOTDIR") ? false : f;
    }
  }

  /**
   * The block and character device nodes in the process's /dev (its root, through
   * /proc/PID/root: needs ptrace access) and one level of sub-directories (/dev/mapper, …).
   */
  deviceNodes(pid: number): Known<DeviceNode[]> {
    const dev = `${this.proc}/${pid}/root/dev`;
    const out: DeviceNode[] = [];
    const scan = (dir: string, rel: string, depth: number): Known<true> => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (e) {
        return this.failure(e, dir);
      }
      for (const n of names) {
        let st;
        try {
          st = lstatSync(`${dir}/${n}`);
        } catch {
          continue; // removed meanwhile
        }
        const type = st.isBlockDevice() ? "block" : st.isCharacterDevice() ? "char" : undefined;
        if (type) out.push({ path: `/dev${rel}/${n}`, type, major: Math.floor(st.rdev / 256) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
        else if (depth > 0 && st.isDirectory() && n !== "pts" && n !== "shm" && n !== "mqueue" && n !== "hugepages") scan(`${dir}/${n}`, `${rel}/${n}`, depth - 1);
      }
      return true;
    };
    const r = scan(dev, "", 1);
    return r === true ? out : r;
  }

  /** BPF device programs in force on a v2 cgroup directory (a host path), or the errno name. */
  devicePrograms(dir: string): number | string {
    return cgroupDevicePrograms(this.path(dir));
  }

  protected failure(e: unknown, _path: string): Unknown {
    return unknown(explain((e as NodeJS.ErrnoException).code ?? "EIO", this.readerUid));
  }
}

type Unknown = { readonly unknown: string };

/** The reason shown to the user: the errno and what to do about it. */
export function explain(code: string, readerUid: number): string {
  switch (code) {
    case "EACCES":
    case "EPERM":
      // root is refused when the target holds capabilities root lacks (PID 1 here: CAP_SYS_RESOURCE)
      return readerUid === 0 ? `${code}: refused even to root (ptrace access check)` : `${code}: run as root`;
    case "ENOENT":
    case "ESRCH":
      return `${code}: not present (process exited, or the kernel does not provide it)`;
    case "EINVAL":
      return `${code}: not provided by this kernel`;
    default:
      return code;
  }
}
