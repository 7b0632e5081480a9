// The seam between the jail's setup logic and the kernel. jail/child.ts calls only these
// operations, so the order of setup steps is unit-tested against a recording fake
// (tests/unit/setup-order.test.ts) and exercised for real by the integration tests.
import { readFileSync, statSync } from "node:fs";
import * as mount from "../sys/mount.ts";
import * as ns from "../sys/ns.ts";
import * as ids from "../sys/ids.ts";
import * as caps from "../sys/caps.ts";
import * as proc from "../sys/proc.ts";
import { setRlimit, RLIMITS } from "../sys/rlimit.ts";
import { loopbackUp } from "../sys/net.ts";
import { restrictScopes, SCOPE } from "../sys/landlock.ts";
import { c, check, cstr, ptr } from "../sys/ffi.ts";
import { installSeccompFilter } from "../sys/seccomp/install.ts";
import { installLearnFilter } from "./learn/attach.ts";
import { SysError } from "../sys/errors.ts";

/**
 * `fn`, and `then` with its result; where `fn` fails with one of `codes` ("*": any), `otherwise`.
 * A decision that depends on what the kernel says at run time: compiled for the stage, both
 * branches are emitted (jail/stage/compile-kernel.ts).
 */
function attempt<T, R>(codes: readonly string[], fn: () => T, then: (v: T) => R, otherwise: () => R): R {
  let v: T;
  try {
    v = fn();
  } catch (err) {
    if (err instanceof SysError && (codes.includes("*") || codes.includes(err.code))) return otherwise();
    throw err;
  }
  return then(v);
}

/** `fn`, where a failure with `code` carries `hint` (the fix, for the user). */
function hinted<T>(code: string, hint: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SysError && err.code === code && !err.hint)
      throw new SysError(err.syscall, err.code, err.errno, err.path, err.flags, hint);
    throw err;
  }
}

export const realKernel = {
  attempt,
  hinted,
  /** Where the program's process waits, with everything but the filter and execve done, until
   * the supervisor is ready to wait for it (compiled: the stage's hand-over, jail/stage/). */
  gate: () => {},
  // mounts
  cloneTree: mount.cloneTree,
  cloneTreeAt: mount.cloneTreeAt,
  newFs: mount.newFs,
  setMountAttrs: mount.setMountAttrs,
  /** false on Linux < 5.12: flags are then set by remount after attaching (jail/child.ts) */
  mountSetattr: mount.hasMountSetattr,
  /** the flags of the mounts a clone of the host path holds (mount table; in the host view) */
  hostMounts: (path: string, recursive: boolean) => mount.hostMountTree(path, recursive, readFileSync("/proc/self/mountinfo", "utf8")),
  remount: mount.remountBind,
  attach: mount.attach,
  attachAtPath: mount.attachAtPath,
  ensureDir: mount.ensureDir,
  ensureFile: mount.ensureFile,
  symlinkAt: mount.symlinkAt,
  openInRoot: mount.openInRoot,
  makeRootPrivate: mount.makeRootPrivate,
  whiteoutsIn: mount.whiteoutsIn,
  unmountAndRemove: mount.unmountAndRemove,
  submounts: (path: string) => mount.submountsOf(path, readFileSync("/proc/self/mountinfo", "utf8")),
  isDir: (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false,
  pivotInto: mount.pivotInto,
  close: mount.closeFd,
  // namespaces and identity
  unshare: ns.unshare,
  setHostname: ns.setHostname,
  loopbackUp,
  switchIds: ids.switchIds,
  // privileges
  dropBounding: caps.dropBounding,
  setKeepCaps: caps.setKeepCaps,
  setCapSets: caps.setCapSets,
  setAmbient: caps.setAmbient,
  setNoNewPrivs: caps.setNoNewPrivs,
  landlockScope: () => restrictScopes(SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL),
  installSeccomp: (prog: Buffer, log: boolean) => installSeccompFilter(prog, { log }),
  installLearnFilter,
  // process
  setRlimit: (name: string, soft: bigint, hard?: bigint) => setRlimit({ name, resource: RLIMITS[name]!, soft, hard }),
  setParentDeathSignal: proc.setParentDeathSignal,
  setDumpable: proc.setDumpable,
  setsid: () => check(c.setsid(), "setsid"),
  chdir: (path: string) => void check(c.chdir(ptr(cstr(path))), "chdir", { path }),
  closeFdsExcept: proc.closeFdsExcept,
  setCloexec: proc.setCloexec,
  resetSignalsForExec: proc.resetSignalsForExec,
  execve: proc.execve,
  pathExists: proc.pathExists,
  prepareExec: proc.prepareExec,
  execPrepared: proc.execPrepared,
  exitNow: proc.exitNow,
};

export type Kernel = typeof realKernel;
