// Where inspect reads from: the real /proc and cgroup filesystem, or a fake tree of the same
// shape (test fixtures). Every read returns the text or an Unknown with a reason; nothing throws.
//
// A fake tree is a directory `fs/` laid out like the real root (fs/proc/PID/status,
// fs/sys/fs/cgroup/...). Two things cannot be copied as files, so fixtures store them as text:
//   - fs/proc/PID/root.devino: "dev:ino" of what stat(/proc/PID/root) returned;
//   - NAME.errno next to a missing file: the errno the real read failed with (e.g. EACCES).
// ns/* are kept as (dangling) symlinks whose target is the kernel's "net:[4026531833]" text.
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { unknown, type DevIno, type Known } from "./snapshot.ts";

export class ProcSource {
  readonly proc: string;
  constructor(
    /** "" for the real system, else the fake tree's fs/ directory */
    readonly fsRoot = "",
    readonly readerUid = process.getuid?.() ?? 0,
  ) {
    this.proc = fsRoot + "/proc";
  }

  get fake(): boolean {
    return this.fsRoot !== "";
  }

  /** A host path as seen through this source (cgroup files, markers). */
  path(p: string): string {
    return this.fsRoot + p;
  }

  /** The pid /proc/self points to (the reader; in a fake tree, the one that captured it). */
  selfPid(): number {
    return Number(readlinkSync(`${this.proc}/self`));
  }

  read(pid: number | "self", name: string): Known<string> {
    return this.readPath(`${this.proc}/${pid}/${name}`);
  }

  readPath(path: string): Known<string> {
    try {
      return readFileSync(path, "latin1");
    } catch (e) {
      return this.failure(e, path);
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
    if (this.fake) {
      const t = this.read(pid, "root.devino");
      if (typeof t !== "string") return t;
      const [dev, ino] = t.trim().split(":").map(Number);
      return { dev: dev!, ino: ino! };
    }
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
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        if (this.fake && existsSync(path + ".errno")) return this.failure(e, path);
        return false;
      }
      return this.failure(e, path);
    }
  }

  private failure(e: unknown, path: string): Known<never> {
    let code = (e as NodeJS.ErrnoException).code ?? "EIO";
    if (this.fake && code === "ENOENT") {
      try {
        code = readFileSync(path + ".errno", "utf8").trim();
      } catch {}
    }
    return unknown(explain(code, this.readerUid));
  }
}

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
