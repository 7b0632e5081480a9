// The seam between the cgroup logic and the kernel: every file, directory and signal operation
// the library performs goes through a CgroupSystem. The real one uses synchronous node:fs and
// sys/ffi.ts only, because it also runs in the single-threaded (possibly forked) cleanup guard.
// Unit tests pass a fake that imitates cgroupfs rules inside a temporary directory.
import * as fs from "node:fs";
import { errnoName } from "../errno.ts";
import { SysError } from "../errors.ts";
import { c, errno } from "../ffi.ts";
import { closePidfd, openPidfd, pidfdSignal } from "../pidfd.ts";

export interface CgroupSystem {
  /** File contents, or null when the file does not exist. */
  read(path: string): string | null;
  /** One write(2) of `text`; throws SysError("write", …, path). Never creates the file. */
  write(path: string, text: string): void;
  exists(path: string): boolean;
  mkdir(path: string): void;
  rmdir(path: string): void;
  /** Names of the sub-directories (child cgroups). */
  subdirs(path: string): string[];
  /** Whether `uid` may create cgroups in / write to `path` (owner or world write bit; root always). */
  writableBy(path: string, uid: number): boolean;
  /** SIGKILL `pid` if `stillMember()` holds for the process the pid names at that moment. */
  kill(pid: number, stillMember: () => boolean): void;
  alive(pid: number): boolean;
  /** /proc/PID/cgroup of a process (paths as this process sees them), or null when it is gone. */
  cgroupsOf(pid: number): string | null;
  /** Block the (only) thread for `ms`; retry loops use it between polls. */
  pause(ms: number): void;
}

const SIGKILL = 9;

/** node:fs error → SysError with the syscall, errno name and path. */
export function sysErrorFrom(e: unknown, syscallName: string, path: string, hint?: string): SysError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === "string" ? err.code : "EIO";
  const num = typeof err?.errno === "number" ? Math.abs(err.errno) : 0;
  return new SysError(syscallName, code, num, path, undefined, hint);
}

export class NodeCgroupSystem implements CgroupSystem {
  read(path: string): string | null {
    try {
      return fs.readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw sysErrorFrom(e, "read", path);
    }
  }

  write(path: string, text: string): void {
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_WRONLY);
    } catch (e) {
      throw sysErrorFrom(e, "open", path);
    }
    try {
      // cgroupfs parses each write(2) separately: one call per value.
      fs.writeSync(fd, text);
    } catch (e) {
      throw sysErrorFrom(e, "write", path);
    } finally {
      fs.closeSync(fd);
    }
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  mkdir(path: string): void {
    try {
      fs.mkdirSync(path);
    } catch (e) {
      throw sysErrorFrom(e, "mkdir", path);
    }
  }

  rmdir(path: string): void {
    try {
      fs.rmdirSync(path);
    } catch (e) {
      throw sysErrorFrom(e, "rmdir", path);
    }
  }

  subdirs(path: string): string[] {
    try {
      return fs.readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw sysErrorFrom(e, "readdir", path);
    }
  }

  writableBy(path: string, uid: number): boolean {
    if (uid === 0) return true;
    try {
      const st = fs.statSync(path);
      return (st.uid === uid && (st.mode & 0o200) !== 0) || (st.mode & 0o002) !== 0;
    } catch {
      return false;
    }
  }

  kill(pid: number, stillMember: () => boolean): void {
    // A pid read from cgroup.procs may exit and be reused before we signal it. A pidfd names one
    // process for good: open it first, then check membership, then signal through the pidfd.
    const fd = openPidfd(pid);
    if (typeof fd === "string") {
      if (fd !== "ENOSYS") return; // ESRCH: already gone.
      if (stillMember()) c.kill(pid, SIGKILL); // kernels before 5.3: small reuse window remains.
      return;
    }
    try {
      if (stillMember()) pidfdSignal(fd, SIGKILL);
    } finally {
      closePidfd(fd);
    }
  }

  alive(pid: number): boolean {
    if (c.kill(pid, 0) === 0) return true;
    return errnoName(errno()) === "EPERM"; // exists, owned by someone else
  }

  cgroupsOf(pid: number): string | null {
    return this.read(`/proc/${pid}/cgroup`);
  }

  pause(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  }
}

export const realSystem: CgroupSystem = new NodeCgroupSystem();
