// How each mount of the jail's view gets its flags (read-only, nosuid, nodev, noexec). With
// mount_setattr (Linux 5.12+) a clone gets them while detached, then is attached. Without it
// (5.2–5.11) a clone is attached first, then each of its mounts is remounted with mount(2); a
// remount sets exactly the flags it is given, so each carries the flags that mount already has
// (in a user namespace they are locked: dropping one is EPERM) plus the new ones — the same
// result as mount_setattr's "add these". docs/SECURITY.md says what that path leaves open.
import { covers, type MountTree } from "../sys/mountinfo.ts";
import type { Kernel } from "./kernel.ts";

/** The view being built: the new root, and how flags are set on this kernel. */
export interface View {
  k: Kernel;
  rootFd: number;
  setattr: boolean;
  /** without mount_setattr: the flags of each mount jailx made, by jail path, in order */
  made: [string, number][];
}

/** A clone of a host path; without mount_setattr also its mounts' flags, read in the host view. */
export interface Tree {
  fd: number;
  host: MountTree | null;
}

export function cloneHost(k: Kernel, setattr: boolean, path: string, recursive: boolean): Tree {
  return { fd: k.cloneTree(path, recursive), host: setattr ? null : k.hostMounts(path, recursive) };
}

const beneath = (dst: string, rel: string) => (dst === "/" ? `/${rel}` : `${dst}/${rel}`);

/** Index in `made` of the mount a path in the jail lies on (the last one made over it). */
export function madeOver(v: View, path: string): number {
  return v.made.findLastIndex(([dst]) => covers(dst, path));
}

/**
 * Give the tree `t` the flags `set` and attach it (`attach`). `dst`: where it lands in the jail
 * (its submounts are there, beneath it), or null (a template out of the way: no submounts).
 */
export function flagTree(v: View, t: Tree, set: number, recursive: boolean, what: string, dst: string | null, attach: () => void): void {
  const { k } = v;
  if (v.setattr) {
    k.setMountAttrs(t.fd, set, recursive, what);
    attach();
    return;
  }
  const host = t.host!;
  attach();
  // The clone's own fd names its top mount, wherever it was attached.
  k.remount(t.fd, set | host.attrs, what);
  if (dst === null) return;
  v.made.push([dst, set | host.attrs]);
  remountBeneath(v, host.subs.map((s) => ({ path: beneath(dst, s.rel), attrs: set | s.attrs })));
}

/**
 * Remount the mounts at these jail paths (found from the new root, never out of it). A path
 * that does not lead to the root of a mount fails the remount (EINVAL): the jail is refused
 * rather than left with a mount that keeps its host flags. EACCES: a directory on the way is
 * closed to the jail's root too (its owner is not mapped), so nothing in the jail reaches it.
 */
export function remountBeneath(v: View, subs: readonly { path: string; attrs: number }[]): void {
  const { k } = v;
  for (const s of subs) {
    v.made.push([s.path, s.attrs]);
    k.attempt(["EACCES"], () => k.openInRoot(v.rootFd, s.path), (fd) => {
      k.remount(fd, s.attrs, s.path);
      k.close(fd);
    }, () => {});
  }
}

/** A filesystem jailx made (fsmount gave it its flags): noted for later remounts beneath it. */
export function madeNew(v: View, dst: string, attrs: number): void {
  if (!v.setattr) v.made.push([dst, attrs]);
}
