// Namespaces: clone flags, and the few calls that act on the current namespace.
import { c, check, cstr, ptr } from "./ffi.ts";

export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  NEWTIME: 0x00000080,
} as const;

export type NamespaceName = "user" | "pid" | "mount" | "uts" | "ipc" | "net" | "cgroup";

export const NS_FLAG: Readonly<Record<NamespaceName, number>> = {
  user: CLONE.NEWUSER, pid: CLONE.NEWPID, mount: CLONE.NEWNS, uts: CLONE.NEWUTS,
  ipc: CLONE.NEWIPC, net: CLONE.NEWNET, cgroup: CLONE.NEWCGROUP,
};

export function unshare(flags: number): void {
  check(c.unshare(flags), "unshare", { flags: `0x${flags.toString(16)}` });
}

export function setHostname(name: string): void {
  const b = cstr(name);
  check(c.sethostname(ptr(b), b.length - 1), "sethostname", { path: name });
}

/** Make the directory `fd` (an O_PATH descriptor of another process's root) our root and cwd. */
export function enterRootFd(fd: number): void {
  check(c.fchdir(fd), "fchdir", { path: "the jail's root" });
  check(c.chroot(ptr(cstr("."))), "chroot", { path: "the jail's root" });
}
