// The real HostFacts for the plan builder.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { fdIsOpen, isTerminal, readDirUntil } from "../sys/proc.ts";
import { hostIds } from "../sys/ids.ts";
import { landlockAbi } from "../sys/landlock.ts";
import type { HostFacts, PathKind } from "./plan.ts";
import type { ModeEntry } from "./etc-view.ts";

const S_IFMT = 0o170000;

/** A name in /proc that is a process's directory. */
const isPid = (name: string): boolean => /^\d+$/.test(name);

/** `walker`: lists a tree elsewhere (jail/stage/walk.ts); undefined answers fall back to lstat. */
export function realHost(walker?: (root: string) => ((dir: string) => ModeEntry[] | null | undefined) | null): HostFacts {
  const { uid, gid } = hostIds();
  const host: HostFacts = {
    uid,
    gid,
    env: process.env,
    stat(path): PathKind | null {
      try {
        const s = statSync(path);
        return s.isDirectory() ? "dir" : s.isFile() ? "file" : "other";
      } catch {
        return existsSync(path) ? "other" : null;
      }
    },
    readlink(path) {
      try {
        return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : null;
      } catch {
        return null;
      }
    },
    readText(path) {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return null;
      }
    },
    walkModes(root) {
      const walked = walker?.(root);
      return walked ? (dir) => { const got = walked(dir); return got === undefined ? host.listModes(dir) : got; } : null;
    },
    // One lstat per entry: the cheapest of the in-process ways measured (scripts/bench-etc-walk.ts).
    listModes(dir) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return null;
      }
      const out = [];
      for (const name of names) {
        try {
          out.push({ name, mode: lstatSync(`${dir}/${name}`).mode });
        } catch {
          // removed meanwhile
        }
      }
      return out;
    },
    // procfs lists its own entries first and then one directory per process (fs/proc/root.c,
    // proc_root_readdir): the listing stops at the first process, so its cost does not grow with
    // the host's process count (read whole, 2,000 processes took 3-4 ms here). The types are
    // getdents's d_type (DT_x is S_IFx >> 12); lstat only where it says unknown.
    procEntries() {
      return (
        readDirUntil("/proc", isPid)?.flatMap(({ name, dtype }) => {
          if (dtype !== 0) return [{ name, mode: dtype << 12 }];
          try {
            return [{ name, mode: lstatSync(`/proc/${name}`).mode & S_IFMT }];
          } catch {
            return []; // removed meanwhile
          }
        }) ?? null
      );
    },
    // Bun's own event loop descriptors take the lowest free numbers (often 3 and 4): when the
    // caller did not pass such an fd, --pass-fd must not hand jailx's internals to the jail.
    fdOpen: (fd) => {
      if (!fdIsOpen(fd)) return false;
      try {
        return !/^anon_inode:\[(eventpoll|eventfd)\]$/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false;
      }
    },
    stdinIsTerminal: isTerminal(0),
    cwd: process.cwd(),
    landlockAbi: landlockAbi(),
  };
  return host;
}
