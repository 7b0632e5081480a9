// A fake host for the plan builder: a small filesystem as a table, fixed ids and env.
import type { HostFacts, PathKind } from "../../jail/plan.ts";

export interface FakeHostSpec {
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
  paths?: Record<string, PathKind>;
  links?: Record<string, string>;
  files?: Record<string, string>;
  openFds?: number[];
  cwd?: string;
  tty?: boolean;
  /** st_mode of paths (default: 0o40755 for directories, 0o100644 for the rest) */
  modes?: Record<string, number>;
  landlockAbi?: number;
}

export const PASSWD = "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n";
export const GROUP = "root:x:0:\nwww-data:x:33:\nstaff:x:50:\n";

export function fakeHost(spec: FakeHostSpec = {}): HostFacts {
  const paths: Record<string, PathKind> = {
    "/usr": "dir", "/etc": "dir", "/tmp": "dir", "/dev/null": "other", "/dev/zero": "other",
    "/dev/full": "other", "/dev/random": "other", "/dev/urandom": "other", "/dev/tty": "other",
    "/etc/shadow": "file", "/etc/gshadow": "file", "/etc/sudoers": "file", "/etc/sudoers.d": "dir",
    "/etc/ssl/private": "dir", "/data": "dir", "/data/file": "file",
    ...spec.paths,
  };
  const links: Record<string, string> = { "/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64", ...spec.links };
  const files: Record<string, string> = { "/etc/passwd": PASSWD, "/etc/group": GROUP, ...spec.files };
  const host: HostFacts = {
    uid: spec.uid ?? 0,
    gid: spec.gid ?? 0,
    env: spec.env ?? { PATH: "/usr/bin:/bin", HOME: "/root", BUN_JSC_useConcurrentJIT: "0", MIMALLOC_PURGE_DELAY: "-1", TERM: "xterm" },
    stat: (p) => (p in links ? "dir" : (paths[p] ?? null)),
    readlink: (p) => links[p] ?? null,
    readText: (p) => files[p] ?? null,
    listModes: (dir) => {
      if (paths[dir] !== "dir") return null;
      return Object.keys(paths)
        .filter((p) => p.startsWith(dir + "/") && !p.slice(dir.length + 1).includes("/"))
        .map((p) => ({ name: p.slice(dir.length + 1), mode: spec.modes?.[p] ?? (paths[p] === "dir" ? 0o40755 : 0o100644) }));
    },
    procEntries: () => host.listModes("/proc")?.flatMap((e) => (/^\d+$/.test(e.name) ? [] : [{ name: e.name, mode: e.mode & 0o170000 }])) ?? null,
    fdOpen: (fd) => (spec.openFds ?? []).includes(fd),
    cwd: spec.cwd ?? "/home/alice/src",
    stdinIsTerminal: spec.tty ?? true,
    ...(spec.landlockAbi === undefined ? {} : { landlockAbi: spec.landlockAbi }),
  };
  return host;
}
