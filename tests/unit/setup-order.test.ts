// The order of the jail's setup steps, checked against a recording fake of the kernel seam.
// Each assertion is an ordering constraint documented in jail/child.ts.
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { describe, expect, test } from "bun:test";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan, type Plan } from "../../jail/plan.ts";
import { becomeProgram, setupNamespace } from "../../jail/child.ts";
import { realKernel, type Kernel } from "../../jail/kernel.ts";
import { SysError } from "../../sys/errors.ts";
import type { MountTree } from "../../sys/mountinfo.ts";
import { fakeHost, type FakeHostSpec } from "./fake-host.ts";

interface Call {
  op: string;
  args: unknown[];
  ret?: unknown;
}

interface RecordingOptions {
  missing?: string[];
  noOverlay?: boolean;
  noDir?: string[];
  noProgram?: boolean;
  /** a kernel without mount_setattr (Linux < 5.12) */
  noSetattr?: boolean;
  /** the host's mounts at a path (without mount_setattr); default: one mount, no flags */
  hostMounts?: (path: string, recursive: boolean) => MountTree;
  /** openInRoot of these paths fails with EACCES */
  closed?: string[];
}

function recordingKernel(opts: RecordingOptions = {}): { k: Kernel; calls: Call[]; ops: () => string[] } {
  const calls: Call[] = [];
  let nextFd = 10;
  const k = new Proxy({} as Kernel, {
    get: (_t, op: string) => (...args: unknown[]) => {
      // Branches that depend on the kernel's answer: taken as the real kernel takes them.
      if (op === "attempt" || op === "hinted") return (realKernel[op] as (...a: unknown[]) => unknown)(...args);
      const call: Call = { op, args };
      calls.push(call);
      if (op === "openInRoot" && opts.missing?.includes(args[1] as string))
        throw new SysError("openat2", "ENOENT", 2, args[1] as string);
      if (op === "openInRoot" && opts.closed?.includes(args[1] as string))
        throw new SysError("openat2", "EACCES", 13, args[1] as string);
      if (op === "mountSetattr") return !opts.noSetattr;
      if (op === "hostMounts") return opts.hostMounts?.(args[0] as string, args[1] as boolean) ?? { attrs: 0, subs: [] };
      if (op === "execPrepared") return 2; // ENOENT: keep searching PATH
      if (op === "pathExists") return !opts.noProgram;
      if (op === "prepareExec") return { path: args[0] };
      if (op === "submounts") return [];
      if (op === "chdir" && opts.noDir?.includes(args[0] as string)) throw new SysError("chdir", "ENOENT", 2, args[0] as string);
      if (op === "isDir") return (args[0] as string).endsWith(".d") || (args[0] as string).endsWith("/private");
      if (op === "newFs" && args[0] === "overlay" && opts.noOverlay) throw new SysError("fsopen", "ENODEV", 19, "overlay");
      return (call.ret = ["cloneTree", "cloneTreeAt", "newFs", "ensureDir", "ensureFile", "openInRoot"].includes(op) ? nextFd++ : undefined);
    },
  });
  return { k, calls, ops: () => calls.map((c) => c.op) };
}

const plan = (args: string[], host: FakeHostSpec = {}): Plan => buildPlan(parseRunArgs(args), fakeHost(host), seccompPlanFromOptions);
const idx = (ops: string[], op: string) => ops.indexOf(op);
const last = (ops: string[], op: string) => ops.lastIndexOf(op);

describe("namespace setup", () => {
  test("mount propagation is made private before anything is mounted; pivot_root comes after every mount", () => {
    const { k, ops } = recordingKernel();
    setupNamespace(plan(["--", "true"]), k, () => {});
    const o = ops();
    expect(idx(o, "makeRootPrivate")).toBe(0); // the first step without a user namespace
    expect(idx(o, "makeRootPrivate")).toBeLessThan(idx(o, "cloneTree"));
    expect(last(o, "attach")).toBeLessThan(idx(o, "pivotInto"));
    expect(idx(o, "pivotInto")).toBeLessThan(idx(o, "setHostname"));
  });

  test("every bind source is cloned before the new root is staged (host paths are still visible)", () => {
    const { k, calls } = recordingKernel();
    setupNamespace(plan(["--bind", "/tmp:/scratch", "--", "true"]), k, () => {});
    const staged = calls.findIndex((c) => c.op === "attachAtPath");
    const binds = calls.filter((c) => c.op === "cloneTree" && c.args[0] !== "/dev/null");
    expect(binds.map((c) => c.args[0])).toEqual(["/usr", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/tmp"].filter((p) => p !== "/dev/null"));
    for (const b of binds) expect(calls.indexOf(b)).toBeLessThan(staged);
  });

  test("proc is mounted before its entries are masked; the root is made read-only last", () => {
    const { k, calls } = recordingKernel();
    setupNamespace(plan(["--", "true"]), k, () => {});
    const procAt = calls.findIndex((c) => c.op === "newFs" && c.args[0] === "proc");
    const kcore = calls.findIndex((c) => c.op === "openInRoot" && c.args[1] === "/proc/kcore");
    expect(procAt).toBeGreaterThan(0);
    expect(kcore).toBeGreaterThan(procAt);
    const attrs = calls.filter((c) => c.op === "setMountAttrs");
    expect(attrs.at(-1)!.args.slice(1, 4)).toEqual([1 /* RDONLY */, false, "/"]);
  });

  test("/etc: an overlay with a whiteout per secret; the whiteout layer is unmounted again", () => {
    const { k, calls } = recordingKernel();
    setupNamespace(plan(["--", "true"]), k, () => {});
    const made = calls.filter((c) => c.op === "whiteoutsIn");
    expect(made).toHaveLength(1);
    // in the new tmpfs (newFs' descriptor), before it is closed
    const tmpfs = calls.find((c) => c.op === "newFs" && c.args[0] === "tmpfs" && (c.args[1] as { size?: string }).size === "64k")!;
    expect(made[0]!.args[0]).toBe(tmpfs.ret);
    expect(made[0]!.args[1]).toContain("shadow");
    expect(made[0]!.args[1]).toContain("ssl/private");
    expect(made[0]!.args[2]).toBe("/.jailx-hide");
    const closed = calls.findIndex((c) => c.op === "close" && c.args[0] === tmpfs.ret);
    expect(closed).toBeGreaterThan(calls.indexOf(made[0]!));
    const overlay = calls.findIndex((c) => c.op === "newFs" && c.args[0] === "overlay");
    expect((calls[overlay]!.args[1] as { lowerdir: string }).lowerdir).toBe("/tmp/.jailx-hide:/etc");
    expect(calls.findIndex((c) => c.op === "unmountAndRemove")).toBeGreaterThan(overlay);
  });

  test("/etc without overlayfs: a read-only bind with a mask on every secret", () => {
    const { k, calls } = recordingKernel({ noOverlay: true });
    setupNamespace(plan(["--", "true"]), k, () => {});
    expect(calls.some((c) => c.op === "cloneTree" && c.args[0] === "/etc")).toBe(true);
    const masked = calls.filter((c) => c.op === "openInRoot").map((c) => c.args[1]);
    for (const p of ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssl/private"]) expect(masked).toContain(p);
    // a directory is masked with an empty read-only tmpfs, a file with /dev/null
    const after = (p: string) => calls.slice(calls.findIndex((c) => c.op === "openInRoot" && c.args[1] === p) + 1)[0]!;
    expect([after("/etc/ssl/private").op, after("/etc/ssl/private").args[0]]).toEqual(["newFs", "tmpfs"]);
    expect([after("/etc/shadow").op, ...after("/etc/shadow").args]).toEqual(["cloneTree", "/dev/null", false]);
    expect(calls.some((c) => c.op === "unmountAndRemove")).toBe(true);
  });

  test("optional masks of missing paths are skipped, not fatal", () => {
    const { k, calls } = recordingKernel({ missing: ["/proc/acpi", "/proc/sched_debug"] });
    setupNamespace(plan(["--", "true"]), k, () => {});
    expect(calls.filter((c) => c.op === "openInRoot" && c.args[1] === "/proc/acpi")).toHaveLength(1);
  });

  test("every mask is a clone of its kind's template, made before the root is staged (not by an optional mask), and the templates are closed before pivot_root", () => {
    const { k, calls } = recordingKernel({ missing: ["/proc/acpi", "/proc/kcore"] });
    setupNamespace(plan(["--", "true"]), k, () => {});
    const firstAttach = calls.findIndex((c) => c.op === "attach");
    const staged = calls.findLastIndex((c, i) => c.op === "attachAtPath" && i < firstAttach);
    const after = calls.slice(0, staged);
    // One /dev/null clone and one tmpfs for all of /proc's masks, attached out of the way; the masks clone those.
    const parked = after.filter((c) => c.op === "attachAtPath");
    expect(parked.map((c) => c.args[1])).toEqual(["/dev/null", "/tmp"]);
    const templates = parked.map((c) => c.args[0]);
    const clones = calls.filter((c) => c.op === "cloneTreeAt" && templates.includes(c.args[0]));
    expect(clones.length).toBeGreaterThan(5);
    const pivot = calls.findIndex((c) => c.op === "pivotInto");
    for (const t of templates) {
      const closed = calls.findIndex((c) => c.op === "close" && c.args[0] === t);
      expect(closed).toBeGreaterThan(calls.lastIndexOf(clones.at(-1)!));
      expect(closed).toBeLessThan(pivot);
    }
  });

  test("user-ns root before mounts; the cgroup namespace after the supervisor says 'placed', which comes after the filesystem", () => {
    const { k, ops, calls } = recordingKernel();
    setupNamespace(plan(["--", "true"], { uid: 1000, gid: 1000 }), k, () => void calls.push({ op: "placed", args: [] }));
    const o = ops();
    expect(o.slice(0, 3)).toEqual(["switchIds", "setParentDeathSignal", "makeRootPrivate"]);
    expect(idx(o, "pivotInto")).toBeLessThan(idx(o, "placed"));
    expect(idx(o, "placed")).toBe(idx(o, "unshare") - 1);
    expect(idx(o, "unshare")).toBeLessThan(idx(o, "setHostname"));
  });

  test("--share cgroup: no cgroup namespace; --net none: loopback up; rlimits applied", () => {
    const { k, ops, calls } = recordingKernel();
    setupNamespace(plan(["--share", "cgroup", "--net", "none", "--rlimit", "nofile=64:128", "--", "true"]), k, () => {});
    expect(ops()).not.toContain("unshare");
    expect(ops()).toContain("loopbackUp");
    expect(calls.find((c) => c.op === "setRlimit")!.args).toEqual(["nofile", 64n, 128n]);
  });
});

describe("the program's process", () => {
  test("fds, session, bounding set, ids, caps, no_new_privs, signals, then seccomp, then execve", () => {
    const { k, ops } = recordingKernel();
    const p = plan(["--new-session", "--user", "1000", "--cap-add", "net_bind_service", "--", "prog"]);
    const fail = becomeProgram(p, k, 7, Buffer.alloc(8));
    const o = ops();
    const order = ["closeFdsExcept", "setsid", "dropBounding", "setKeepCaps", "switchIds", "setCapSets", "setAmbient", "setNoNewPrivs", "chdir", "landlockScope", "resetSignalsForExec", "pathExists", "prepareExec", "installSeccomp", "execPrepared"];
    expect(order.map((op) => idx(o, op))).toEqual([...order.map((op) => idx(o, op))].sort((a, b) => a - b));
    expect(order.every((op) => o.includes(op))).toBe(true);
    // PATH search: every directory was looked up and prepared before the filter, and after the
    // filter nothing but execve happens (an allow-list may refuse anything else).
    expect(o.filter((x) => x === "prepareExec").length).toBe(p.env.PATH!.split(":").length);
    expect(o.slice(idx(o, "installSeccomp") + 1).every((x) => x === "execPrepared")).toBe(true);
    expect(o.filter((x) => x === "execPrepared").length).toBe(p.env.PATH!.split(":").length);
    expect(fail).toEqual({ errno: 2, path: p.env.PATH!.split(":")[0] + "/prog" });
  });

  test("a name found nowhere is reported before the filter is installed", () => {
    const { k, ops } = recordingKernel({ noProgram: true });
    const fail = becomeProgram(plan(["--", "prog"]), k, 7, Buffer.alloc(8));
    expect(ops()).not.toContain("installSeccomp");
    expect(ops()).not.toContain("execPrepared");
    expect(fail).toEqual({ errno: 2, path: "prog" });
  });

  test("working directory: --chdir, else the caller's directory when the jail binds it, else /", () => {
    const dirs = (args: string[], noDir: string[] = []) => {
      const { k, calls } = recordingKernel({ noDir });
      becomeProgram(plan(args, { cwd: "/srv/app", paths: { "/srv/app": "dir" } }), k, 7, null);
      return calls.filter((c) => c.op === "chdir").map((c) => c.args[0]);
    };
    expect(dirs(["--chdir", "/data", "--", "/bin/prog"])).toEqual(["/data"]);
    expect(dirs(["--ro-bind", "/srv/app", "--", "/bin/prog"])).toEqual(["/srv/app"]);
    // Bound but out of reach (e.g. for --user): /.
    expect(dirs(["--ro-bind", "/srv/app", "--", "/bin/prog"], ["/srv/app"])).toEqual(["/srv/app", "/"]);
    // Not bound: straight to /, even if a directory of that name exists in the jail.
    expect(dirs(["--", "/bin/prog"])).toEqual(["/"]);
    const { k } = recordingKernel({ noDir: ["/data"] });
    expect(() => becomeProgram(plan(["--chdir", "/data", "--", "/bin/prog"]), k, 7, null)).toThrow("chdir");
  });

  test("no seccomp call with --seccomp none; no no_new_privs with --allow-new-privs", () => {
    const { k, ops } = recordingKernel();
    becomeProgram(plan(["--seccomp", "none", "--allow-new-privs", "--", "/bin/prog"]), k, 7, null);
    expect(ops()).not.toContain("installSeccomp");
    expect(ops()).not.toContain("setNoNewPrivs");
  });

  test("--pass-fd keeps the descriptor and clears its close-on-exec flag", () => {
    const { k, calls } = recordingKernel();
    becomeProgram(plan(["--pass-fd", "5", "--", "/bin/prog"], { openFds: [5] }), k, 7, null);
    expect(calls.find((c) => c.op === "closeFdsExcept")!.args[0]).toEqual([5, 7]);
    expect(calls.find((c) => c.op === "setCloexec")!.args).toEqual([5, false]);
  });
});

describe("without mount_setattr (Linux < 5.12): attach, then remount with mount(2)", () => {
  const RDONLY = 1, NOSUID = 2, NODEV = 4, NOEXEC = 8;
  // /data holds two host mounts: a noexec one, and one whose directory is closed to the jail.
  const hostMounts = (path: string, recursive: boolean) =>
    path === "/data" && recursive ? { attrs: NOEXEC, subs: [{ rel: "a", attrs: NOEXEC | NODEV }, { rel: "closed/b", attrs: 0 }] }
    : path === "/dev/null" ? { attrs: NOSUID | NOEXEC, subs: [] }
    : { attrs: 0, subs: [] };
  const setup = (args: string[], o: { rootfs?: boolean } = {}) => {
    const r = recordingKernel({ noSetattr: true, hostMounts, closed: ["/srv/closed/b"] });
    const p = plan([...args, "--", "true"], { paths: { "/data": "dir", "/rootfs": "dir" } });
    setupNamespace(o.rootfs ? { ...p, rootfs: "/rootfs" } : p, r.k, () => {});
    return r;
  };
  const remounts = (calls: Call[]) => calls.filter((c) => c.op === "remount").map((c) => [c.args[2], c.args[1]]);

  test("no mount_setattr at all; each clone is attached first, then remounted through its own fd with its host flags added", () => {
    const { calls, ops } = setup(["--ro-bind", "/data:/srv", "--bind", "/data:/rw"]);
    expect(ops()).not.toContain("setMountAttrs");
    const clone = calls.find((c) => c.op === "cloneTree" && c.args[0] === "/data")!;
    const attach = calls.findIndex((c) => c.op === "attach" && c.args[0] === clone.ret && c.args[2] === "/srv");
    const remount = calls.findIndex((c) => c.op === "remount" && c.args[0] === clone.ret);
    expect(attach).toBeGreaterThan(0);
    expect(remount).toBe(attach + 1);
    expect(calls[remount]!.args.slice(1)).toEqual([RDONLY | NOSUID | NODEV | NOEXEC, "/srv"]);
    // --bind: writable, still nosuid/nodev, the host's noexec kept
    expect(remounts(calls)).toContainEqual(["/rw", NOSUID | NODEV | NOEXEC]);
  });

  test("the host flags are read while the host view is intact (before the new root is staged over /tmp)", () => {
    const { calls } = setup(["--ro-bind", "/data:/srv"]);
    const firstAttach = calls.findIndex((c) => c.op === "attach");
    const staged = calls.findLastIndex((c, i) => c.op === "attachAtPath" && c.args[1] === "/tmp" && i < firstAttach);
    const read = calls.findIndex((c) => c.op === "hostMounts" && c.args[0] === "/data");
    expect(read).toBeGreaterThan(-1);
    expect(read).toBeLessThan(staged);
  });

  test("submounts known from the host's table are remounted at their path in the jail (found from the new root), with their own flags; a closed directory is skipped", () => {
    const { calls } = setup(["--ro-bind", "/data:/srv"]);
    expect(remounts(calls)).toContainEqual(["/srv/a", RDONLY | NOSUID | NODEV | NOEXEC]);
    const open = calls.find((c) => c.op === "openInRoot" && c.args[1] === "/srv/a")!;
    expect(calls.find((c) => c.op === "remount" && c.args[2] === "/srv/a")!.args[0]).toBe(open.ret);
    // EACCES: nothing in the jail reaches it, so no remount (and no failure)
    expect(calls.some((c) => c.op === "openInRoot" && c.args[1] === "/srv/closed/b")).toBe(true);
    expect(remounts(calls).map(([p]) => p)).not.toContain("/srv/closed/b");
  });

  test("the mask template, /proc/sys read-only with proc's own flags, and the root read-only last, before pivot_root", () => {
    const { calls } = setup([]);
    const r = remounts(calls);
    expect(r[0]).toEqual(["/dev/null (masks)", RDONLY | NOSUID | NOEXEC]);
    expect(r).toContainEqual(["/proc/sys", RDONLY | NOSUID | NODEV | NOEXEC]);
    expect(r.at(-1)).toEqual(["/", RDONLY | NOSUID | NODEV]);
    const last = calls.findLastIndex((c) => c.op === "remount");
    expect(calls[last + 1]!.op).toBe("pivotInto");
    // the template was attached over /dev/null before it was remounted
    const tpl = calls.findIndex((c) => c.op === "attachAtPath" && c.args[1] === "/dev/null");
    expect(calls[tpl + 1]!.op).toBe("remount");
  });

  test("--rootfs: attached at the staging point, then remounted (nosuid, nodev, its own flags) with its submounts; read-only at the end", () => {
    const { calls } = setup([], { rootfs: true });
    const root = calls.find((c) => c.op === "cloneTree" && c.args[0] === "/rootfs")!;
    const staged = calls.findIndex((c) => c.op === "attachAtPath" && c.args[0] === root.ret);
    expect(calls[staged + 1]!.op).toBe("remount");
    expect(calls[staged + 1]!.args).toEqual([root.ret, NOSUID | NODEV, "/rootfs"]);
    expect(remounts(calls).at(-1)).toEqual(["/", RDONLY | NOSUID | NODEV]);
  });

  test("with mount_setattr nothing is remounted and the host's table is not read", () => {
    const { k, ops } = recordingKernel();
    setupNamespace(plan(["--ro-bind", "/data:/srv", "--", "true"], { paths: { "/data": "dir" } }), k, () => {});
    expect(ops()).not.toContain("remount");
    expect(ops()).not.toContain("hostMounts");
    expect(ops()).toContain("setMountAttrs");
  });
});
