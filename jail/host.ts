// The real HostFacts for the plan builder.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { fdIsOpen, isTerminal } from "../sys/proc.ts";
import { hostIds } from "../sys/ids.ts";
import { landlockAbi } from "../sys/landlock.ts";
import type { HostFacts, PathKind } from "./plan.ts";
import type { ModeEntry } from "./etc-view.ts";

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFLNK = 0o120000, S_IFREG = 0o100000, S_IFCHR = 0o020000;

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
    // The types getdents reports (procfs and every local filesystem do); lstat only where not.
    listTypes(dir) {
      try {
        return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
          const mode = d.isDirectory() ? S_IFDIR : d.isSymbolicLink() ? S_IFLNK : d.isFile() ? S_IFREG : d.isCharacterDevice() ? S_IFCHR : null;
          if (mode !== null) return [{ name: d.name, mode }];
          try {
            return [{ name: d.name, mode: lstatSync(`${dir}/${d.name}`).mode & S_IFMT }];
          } catch {
            return []; // removed meanwhile
          }
        });
      } catch {
        return null;
      }
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
