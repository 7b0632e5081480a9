// The jail side: what runs in the cloned process (PID 1 of the new pid namespace) until the
// program is executed. Every kernel call goes through `Kernel` (jail/kernel.ts).
//
// Order, and why:
//  1. wait for "go": the supervisor writes the id maps first;
//  2. become root of the user namespace (ids must be mapped before files are created);
//  3. mounts: all sources are cloned while the host view is intact, the new root is built,
//     proc is mounted while the host's proc is still visible (required in a user namespace),
//     then pivot_root detaches the old root — meanwhile the supervisor moves us into the jail
//     cgroup (a migration waits for an RCU grace period: overlapping hides that wait);
//  4. wait for "placed", then unshare the cgroup namespace: after the cgroup move, so the jail
//     sees its own cgroup as /; nothing forks before this point, so no task escapes the limit;
//  5. hostname, loopback, rlimits;
//  6. the program's process: close fds, session, user, capabilities, no_new_privs, signals,
//     then seccomp — last, so that nothing jailx still does needs to be allowed — then execve.
import { writeSync } from "node:fs";
import { MOUNT_ATTR } from "../sys/mount.ts";
import { cloneHost, flagTree, madeNew, madeOver, remountBeneath, type Tree, type View } from "./mount-flags.ts";
import { covers } from "../sys/mountinfo.ts";
import { capNumber, maskOf } from "../sys/caps.ts";
import { SIG } from "../sys/proc.ts";
import type { PreparedExec } from "../sys/proc.ts";
import type { ExecReport } from "./exec-report.ts";
import type { Kernel } from "./kernel.ts";
import type { MountOp } from "./mounts.ts";
import type { Plan } from "./plan.ts";

const { RDONLY, NOSUID, NODEV, NOEXEC } = MOUNT_ATTR;
const ENOENT = 2;
const ENOTDIR = 20;

/** Where the new root is attached before pivot_root (our own mount namespace: hidden from the host). */
const STAGING = "/tmp";

export function becomeNamespaceRoot(plan: Plan, k: Kernel): void {
  if (!plan.idmap) return;
  const zeroMapped = plan.idmap.uid.some((r) => r.inside === 0) && plan.idmap.gid.some((r) => r.inside === 0);
  if (zeroMapped) k.switchIds(0, 0, [], !plan.idmap.denySetgroups);
  // A change of credentials clears the parent-death signal: set it again.
  k.setParentDeathSignal(SIG.KILL);
}

/** Mount points beneath a read-only bind (e.g. /etc) cannot be created: say what to do. */
function mountPoint(k: Kernel, rootFd: number, dst: string, kind: "dir" | "file"): number {
  return k.hinted("EROFS", `${dst} does not exist and lies under a read-only bind (such as /etc or /usr); bind over an existing path or choose another destination`,
    () => (kind === "dir" ? k.ensureDir(rootFd, dst) : k.ensureFile(rootFd, dst)));
}

const OVERLAY_UNSUPPORTED = ["ENODEV", "EINVAL", "EPERM", "EOPNOTSUPP"];

/**
 * `op.src` read-only without `op.hide`: an overlay of a small tmpfs holding whiteouts over the
 * host directory. Where overlayfs is unavailable, a read-only bind with masks on the hidden
 * paths instead (weaker: a mask is lost when the host replaces the file by rename).
 */
function hiddenView(v: View, op: MountOp & { op: "hide-bind" }): void {
  const { k, rootFd } = v;
  const layer = "/.jailx-hide";
  const wh = k.newFs("tmpfs", { mode: "0755", size: "64k" }, NOSUID | NODEV | NOEXEC);
  const mp = k.ensureDir(rootFd, layer);
  k.attach(wh, mp, layer);
  k.close(mp);
  const hidden = (rel: string) => op.hide.some((h) => rel === h || rel.startsWith(h + "/"));
  k.attempt([...OVERLAY_UNSUPPORTED], () => {
    // Through the new tmpfs's own descriptor: nothing is in it but what we make.
    k.whiteoutsIn(wh, op.hide, layer);
    return k.newFs("overlay", { lowerdir: `${STAGING}${layer}:${op.src}` }, RDONLY | NOSUID | NODEV);
  }, (overlay) => {
    k.unmountAndRemove(`${STAGING}${layer}`);
    overlayView(v, op, overlay, hidden);
  }, () => {
    k.unmountAndRemove(`${STAGING}${layer}`);
    applyMount(v, { op: "bind", src: op.src, dst: op.dst, readonly: true, kind: "dir" }, new Map(), cloneHost(k, v.setattr, op.src, true));
    for (const h of op.hide) {
      const kind = k.isDir(`${op.src}/${h}`) ? "dir" : "file";
      applyMount(v, { op: "mask", dst: `${op.dst}/${h}`, kind, optional: true }, new Map());
    }
  });
  // Once, where both ways meet (compiled, a descriptor closed on each way would be freed twice).
  k.close(wh);
}

function overlayView(v: View, op: MountOp & { op: "hide-bind" }, overlay: number, hidden: (rel: string) => boolean): void {
  const { k, rootFd } = v;
  const target = mountPoint(k, rootFd, op.dst, "dir");
  k.attach(overlay, target, op.dst);
  k.close(target);
  k.close(overlay);
  madeNew(v, op.dst, RDONLY | NOSUID | NODEV);
  // A layer is one filesystem: the host's mounts beneath src (e.g. a container runtime's
  // /etc/resolv.conf) are not in it. Bind them again, unless hidden.
  const rebound: string[] = [];
  for (const sub of k.submounts(op.src)) {
    const rel = sub.slice(op.src.length + 1);
    if (hidden(rel)) continue;
    rebound.push(rel);
    const src = cloneHost(k, v.setattr, sub, true);
    const t = k.openInRoot(rootFd, `${op.dst}/${rel}`);
    flagTree(v, src, RDONLY | NOSUID | NODEV, true, sub, `${op.dst}/${rel}`, () => k.attach(src.fd, t, `${op.dst}/${rel}`));
    k.close(t);
    k.close(src.fd);
  }
  // A whiteout cannot reach into a host mount bound again on top: mask those paths instead.
  for (const h of op.hide)
    if (rebound.some((r) => h.startsWith(r + "/")))
      applyMount(v, { op: "mask", dst: `${op.dst}/${h}`, kind: k.isDir(`${op.src}/${h}`) ? "dir" : "file", optional: true }, new Map());
}

/**
 * One mask of each kind, made before any mask is needed and attached out of the way in our own
 * mount namespace (over /dev/null and under the staged root at /tmp): every mask is a clone of
 * it (one open_tree instead of a new tmpfs or a lookup of /dev/null plus mount_setattr — a clone
 * keeps the read-only flags). /proc alone takes about 40 masks. Made unconditionally, so that
 * no mask depends on whether an earlier (optional) one existed. `attrs`: the flags a file mask has.
 */
type MaskTemplates = { file?: number; dir?: number; fileAttrs?: number };

const DIR_MASK = RDONLY | NOSUID | NODEV | NOEXEC;

function applyMount(v: View, op: MountOp, sources: Map<MountOp, Tree>, source?: Tree, templates?: MaskTemplates): void {
  const { k, rootFd } = v;
  switch (op.op) {
    case "hide-bind":
      return hiddenView(v, op);
    case "bind": {
      const src = source ?? sources.get(op)!;
      const target = mountPoint(k, rootFd, op.dst, op.kind);
      flagTree(v, src, NOSUID | (op.dev ? 0 : NODEV) | (op.readonly ? RDONLY : 0), op.kind === "dir", op.dst, op.dst, () => k.attach(src.fd, target, op.dst));
      k.close(target);
      k.close(src.fd);
      return;
    }
    case "symlink":
      k.symlinkAt(rootFd, op.target, op.dst);
      return;
    case "tmpfs":
    case "proc":
    case "devpts": {
      const attrs = op.op === "tmpfs" ? NOSUID | NODEV | (op.readonly ? RDONLY : 0) : op.op === "proc" ? NOSUID | NODEV | NOEXEC : NOSUID | NOEXEC;
      const fd =
        op.op === "tmpfs" ? k.newFs("tmpfs", { mode: op.mode, ...(op.size ? { size: op.size } : {}) }, attrs)
        : op.op === "proc" ? k.newFs("proc", {}, attrs)
        : k.newFs("devpts", { ptmxmode: "0666", mode: "0620" }, attrs);
      const target = mountPoint(k, rootFd, op.dst, "dir");
      k.attach(fd, target, op.dst);
      k.close(target);
      k.close(fd);
      madeNew(v, op.dst, attrs);
      return;
    }
    case "mask":
    case "readonly": {
      const present = (target: number) => {
        const mask = op.op === "mask" ? op : null;
        const template = mask ? templates?.[mask.kind] : undefined;
        let fd: number;
        if (template !== undefined) {
          // a clone of a template keeps its flags
          fd = k.cloneTreeAt(template, false);
          k.attach(fd, target, op.dst);
          madeNew(v, op.dst, mask!.kind === "dir" ? DIR_MASK : templates!.fileAttrs!);
        } else if (mask?.kind === "dir") {
          // (without a template: the masks of the fallback for a hidden view)
          fd = k.newFs("tmpfs", { mode: "0755", size: "4k" }, DIR_MASK);
          k.attach(fd, target, op.dst);
          madeNew(v, op.dst, DIR_MASK);
        } else if (mask) {
          const t = cloneHost(k, v.setattr, "/dev/null", false);
          flagTree(v, t, RDONLY | NOSUID, true, op.dst, op.dst, () => k.attach(t.fd, target, op.dst));
          fd = t.fd;
        } else {
          // read-only in place: a clone of what is there; without mount_setattr its mounts keep
          // the flags jailx gave them (`made`)
          const i = v.setattr ? -1 : madeOver(v, op.dst);
          const below = v.made.filter(([p], j) => p !== op.dst && covers(op.dst, p) && madeOver(v, p) === j);
          const t: Tree = { fd: k.cloneTreeAt(target, true), host: v.setattr ? null : { attrs: i < 0 ? 0 : v.made[i]![1], subs: [] } };
          flagTree(v, t, RDONLY | NOSUID | NODEV, true, op.dst, op.dst, () => k.attach(t.fd, target, op.dst));
          remountBeneath(v, below.map(([p, a]) => ({ path: p, attrs: a | RDONLY | NOSUID | NODEV })));
          fd = t.fd;
        }
        k.close(target);
        k.close(fd);
      };
      if (!op.optional) return present(k.openInRoot(rootFd, op.dst));
      // A path this host lacks needs no mask.
      return k.attempt(["ENOENT"], () => k.openInRoot(rootFd, op.dst), present, () => {});
    }
  }
}

/** Build the jail's filesystem and pivot into it. */
export function buildFilesystem(plan: Plan, k: Kernel, rootfs: string | null): void {
  k.makeRootPrivate();
  const setattr = k.mountSetattr();
  // Resolve every bind source against the host view now: once the new root is staged over
  // /tmp, host paths below it would be hidden.
  const sources = new Map<MountOp, Tree>();
  for (const op of plan.mounts) if (op.op === "bind") sources.set(op, cloneHost(k, setattr, op.src, op.kind === "dir"));
  const root: Tree = rootfs ? cloneHost(k, setattr, rootfs, true) : { fd: k.newFs("tmpfs", { mode: "0755" }, NOSUID | NODEV), host: { attrs: NOSUID | NODEV, subs: [] } };
  const v: View = { k, rootFd: root.fd, setattr, made: [] };
  // With mount_setattr the root gets its flags before anything is attached; without, once attached at STAGING.
  if (rootfs && setattr) k.setMountAttrs(root.fd, NOSUID | NODEV, true, rootfs);
  const templates: MaskTemplates = {};
  const kinds = new Set(plan.mounts.flatMap((op) => (op.op === "mask" ? [op.kind] : [])));
  if (kinds.has("file")) {
    const t = cloneHost(k, setattr, "/dev/null", false);
    flagTree(v, t, RDONLY | NOSUID, true, "/dev/null (masks)", null, () => k.attachAtPath(t.fd, "/dev/null"));
    templates.file = t.fd;
    templates.fileAttrs = RDONLY | NOSUID | (t.host?.attrs ?? 0);
  }
  if (kinds.has("dir")) {
    templates.dir = k.newFs("tmpfs", { mode: "0755", size: "4k" }, DIR_MASK);
    k.attachAtPath(templates.dir, STAGING);
  }
  if (rootfs && !setattr) flagTree(v, root, NOSUID | NODEV, true, rootfs, "/", () => k.attachAtPath(root.fd, STAGING));
  else {
    k.attachAtPath(root.fd, STAGING);
    madeNew(v, "/", NOSUID | NODEV);
  }
  for (const op of plan.mounts) applyMount(v, op, sources, undefined, templates);
  for (const fd of [templates.file, templates.dir]) if (fd !== undefined) k.close(fd);
  // The root itself is read-only; /tmp, /run, /dev/shm and --bind/--tmpfs stay writable.
  if (setattr) k.setMountAttrs(root.fd, RDONLY, false, "/");
  else k.remount(root.fd, RDONLY | NOSUID | NODEV | root.host!.attrs, "/");
  k.pivotInto(root.fd);
  k.close(root.fd);
}

/**
 * Steps in the jail's first process (PID 1), after "go". `placed` returns once the supervisor
 * has moved this process into the jail cgroup (it exits the process if the supervisor is gone).
 */
export function setupNamespace(plan: Plan, k: Kernel, placed: () => void): void {
  becomeNamespaceRoot(plan, k);
  buildFilesystem(plan, k, plan.rootfs);
  placed();
  if (plan.namespaces.cgroup) k.unshare(0x02000000 /* CLONE_NEWCGROUP */);
  if (plan.hostname !== null) k.setHostname(plan.hostname);
  if (plan.net === "none") k.loopbackUp();
  for (const r of plan.rlimits) k.setRlimit(r.name, BigInt(r.soft), BigInt(r.hard));
}

/** Give up everything the program must not have. Shared by the program and by jailx's init. */
export function dropPrivileges(plan: Plan, k: Kernel, keepCaps: readonly string[], ambient: readonly string[]): void {
  const keep = maskOf(keepCaps.map(capNumber));
  const amb = maskOf(ambient.map(capNumber));
  // The bounding set first: dropping needs CAP_SETPCAP, which the user switch may take away.
  k.dropBounding(keep);
  if (amb !== 0n) k.setKeepCaps(true);
  k.switchIds(plan.user.uid, plan.user.gid, plan.user.groups, !plan.idmap?.denySetgroups);
  if (amb !== 0n) k.setKeepCaps(false);
  // Root keeps the set in permitted and effective; a non-root user keeps only what --cap-add
  // named, as inheritable + ambient so that it survives execve.
  const permitted = plan.user.uid === 0 ? keep : amb;
  k.setCapSets(permitted, permitted, amb);
  k.setAmbient(amb);
  if (plan.noNewPrivs) k.setNoNewPrivs();
}

/** With --verbose, the jail side logs its steps too, on the supervisor's clock (same origin). */
export function traceStep(plan: Plan, what: string): void {
  if (plan.verbose) writeSync(2, `jailx: ${performance.now().toFixed(1)} ms: ${what}\n`);
}

export type ExecFailure = { errno: number; path: string };

/**
 * What execve will try (execvp semantics: for a bare name, every PATH directory where the name
 * leads somewhere; ENOENT/ENOTDIR ones are skipped here, as execvp would skip them), with the
 * C argument buffers built now: after the seccomp filter nothing may allocate.
 */
export function execTargets(plan: Plan, k: Kernel): PreparedExec[] {
  const [prog, ...args] = plan.command as [string, ...string[]];
  const env = Object.entries(plan.env).map(([key, v]) => `${key}=${v}`);
  if (prog.includes("/")) return k.pathExists(prog) ? [k.prepareExec(prog, [prog, ...args], env)] : [];
  return (plan.env.PATH ?? "")
    .split(":")
    .filter(Boolean)
    .map((dir) => `${dir}/${prog}`)
    .filter((path) => k.pathExists(path))
    .map((path) => k.prepareExec(path, [prog, ...args], env));
}

/**
 * Runs after the seccomp filter: execve of each target, nothing else (no allocation, so no
 * allocator madvise/munmap; no message). On failure: with a report, stores and exit_group
 * (126/127); without one (unit tests), the failure is returned.
 */
export function execTargetsNow(targets: readonly PreparedExec[], k: Kernel, report?: ExecReport): ExecFailure {
  let pick = -1;
  let err = ENOENT;
  for (let i = 0; i < targets.length; i++) {
    const e = k.execPrepared(targets[i]!);
    if (pick < 0 && e !== ENOENT && e !== ENOTDIR) {
      pick = i;
      err = e;
    }
  }
  // Every target existed and gave ENOENT: their interpreter is missing (reported for the first).
  if (pick < 0) pick = 0;
  if (report) {
    report.fail(err, pick);
    k.exitNow(err === ENOENT ? 127 : 126);
  }
  return { errno: err, path: targets[pick]!.path };
}

/** Everything in the program's process from fds to execve. */
export function becomeProgram(plan: Plan, k: Kernel, sock: number, seccomp: Buffer | null, learn?: Buffer, report?: ExecReport): ExecFailure {
  // Only 0, 1, 2, --pass-fd and our message socket (close-on-exec) survive.
  k.closeFdsExcept([...plan.passFds, sock]);
  for (const fd of plan.passFds) if (fd > 2) k.setCloexec(fd, false);
  if (plan.newSession) k.setsid();
  dropPrivileges(plan, k, plan.caps.keep, plan.caps.ambient);
  if (plan.chdir !== null) k.chdir(plan.chdir);
  else if (!plan.cwdInJail) k.chdir("/");
  else {
    // Like bwrap: stay in the caller's directory when the jail has it (e.g. --bind $PWD),
    // else start at / (it can still be out of reach, e.g. for --user).
    k.attempt(["*"], () => k.chdir(plan.hostCwd), () => {}, () => k.chdir("/"));
  }
  if (plan.asPid1) k.setParentDeathSignal(SIG.KILL);
  // Landlock after no_new_privs (it requires it); where the kernel lacks scoping (< 6.12) the
  // program runs without it — say so with --verbose.
  if (plan.landlock && !k.landlockScope()) traceStep(plan, "program: no Landlock scoping on this kernel");
  k.resetSignalsForExec();
  // Looked up as the program's user, in its directory: where it leads nowhere, say so now,
  // while jailx may still send a message.
  const targets = execTargets(plan, k);
  if (targets.length === 0) return { errno: ENOENT, path: plan.command[0]! };
  report?.setTargets(targets.map((t) => t.path));
  traceStep(plan, "program: execve");
  k.gate();
  // From here to execve jailx makes no other system call (docs/ARCHITECTURE.md, step 16).
  if (seccomp) k.installSeccomp(seccomp, plan.seccomp?.log ?? false);
  // jailx learn: after the jail's own filter, so that filter still refuses what it refuses.
  if (learn) k.installLearnFilter(learn, sock);
  return execTargetsNow(targets, k, report);
}
