// The plan builder: every validation rule and default, against a fake host (pure logic).
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { describe, expect, test } from "bun:test";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan, parseDuration } from "../../jail/plan.ts";
import { DEFAULT_CAPS } from "../../sys/caps.ts";
import { UsageError } from "../../sys/errors.ts";
import { fakeHost, type FakeHostSpec } from "./fake-host.ts";

const plan = (args: string[], host: FakeHostSpec = {}) => buildPlan(parseRunArgs(args), fakeHost(host), seccompPlanFromOptions);
const fails = (args: string[], msg: RegExp, host: FakeHostSpec = {}) => {
  expect(() => plan(args, host)).toThrow(UsageError);
  expect(() => plan(args, host)).toThrow(msg);
};

describe("defaults", () => {
  const p = plan(["--", "/bin/true"]);
  test("root gets every namespace but user and net", () => {
    expect(p.namespaces).toEqual({ user: false, pid: true, mount: true, uts: true, ipc: true, cgroup: true, net: false });
    expect(p.idmap).toBeNull();
    expect(p.rootless).toBe(false);
  });
  test("OCI default capabilities, no_new_privs, hostname", () => {
    expect(p.caps.keep).toEqual([...DEFAULT_CAPS].sort());
    expect(p.caps.ambient).toEqual([]);
    expect(p.noNewPrivs).toBe(true);
    expect(p.hostname).toBe("jailx");
  });
  test("environment: Bun's variables stripped, container=jailx", () => {
    expect(p.env.container).toBe("jailx");
    expect(p.env.TERM).toBe("xterm");
    expect(Object.keys(p.env).filter((k) => k.startsWith("BUN_") || k.startsWith("MIMALLOC_"))).toEqual([]);
  });
  test("system paths: directories bound read-only, symlinks recreated, secrets masked", () => {
    expect(p.mounts).toContainEqual({ op: "bind", src: "/usr", dst: "/usr", readonly: true, kind: "dir" });
    expect(p.mounts).toContainEqual({ op: "symlink", target: "usr/bin", dst: "/bin" });
    expect(p.mounts).toContainEqual({ op: "hide-bind", src: "/etc", dst: "/etc", hide: ["shadow", "gshadow", "sudoers", "sudoers.d", "ssl/private"] });
    expect(p.mounts).toContainEqual({ op: "readonly", dst: "/proc/sys", optional: true });
    expect(p.mounts.findIndex((m) => m.op === "proc")).toBeLessThan(p.mounts.findIndex((m) => m.dst === "/proc/kcore"));
  });
  test("/etc comes last of the system view, its walk started before anything else is listed", () => {
    // The hide list is read while the jail is compiled: /proc, /dev, /tmp and /run are compiled
    // (and mounted) while the walk of /etc (jail/stage/walk.ts) may still be running.
    const calls: string[] = [];
    const host = fakeHost();
    const walking = { ...host, walkModes: (root: string) => (calls.push(`walk ${root}`), (d: string) => host.listModes(d)), procEntries: () => (calls.push("list /proc"), host.procEntries()) };
    const q = buildPlan(parseRunArgs(["--bind", "/data:/etc/app", "--", "true"]), walking, seccompPlanFromOptions);
    expect(calls).toEqual(["list /proc"]); // a bind beneath /etc: no walk (the host's own lister)
    calls.length = 0;
    const r = buildPlan(parseRunArgs(["--", "true"]), walking, seccompPlanFromOptions);
    expect(calls).toEqual(["walk /etc", "list /proc"]);
    for (const m of [r, q]) {
      const etc = m.mounts.findIndex((x) => x.op === "hide-bind");
      expect(m.mounts.slice(0, etc).map((x) => x.dst)).toContain("/run");
      expect(m.mounts.slice(etc + 1).every((x) => x.op === "bind" && x.dst.startsWith("/etc/"))).toBe(true);
    }
  });
  test("seccomp default policy is on", () => {
    expect(p.seccomp).not.toBeNull();
    expect(p.cgroup).toEqual({ controllers: ["pids"], pidsMax: 2048, defaults: ["pids"] });
  });
});

describe("resource defaults, each removable by its flag", () => {
  const tmpfs = (p: ReturnType<typeof plan>) => p.mounts.flatMap((m) => (m.op === "tmpfs" ? [`${m.dst}=${m.size ?? "unsized"}`] : []));
  test("a default pids limit of 2048, marked as a default; --pids unlimited removes it (no cgroup)", () => {
    expect(plan(["--pids", "unlimited", "--", "true"]).cgroup).toBeNull();
    expect(plan(["--pids", "64", "--", "true"]).cgroup).toEqual({ controllers: ["pids"], pidsMax: 64 });
    expect(plan(["--pids", "unlimited", "--memory", "64m", "--", "true"]).cgroup).toEqual({ controllers: ["memory"], memoryBytes: 64 * 2 ** 20 });
  });
  test("/tmp, /run, /dev/shm and --tmpfs without size= are 10% of RAM; --tmpfs-size changes or removes it", () => {
    expect(tmpfs(plan(["--tmpfs", "/a", "--tmpfs", "/b:size=1m", "--", "true"]))).toEqual(["/dev=1m", "/dev/shm=10%", "/tmp=10%", "/run=10%", "/a=10%", "/b=1m"]);
    expect(tmpfs(plan(["--tmpfs-size", "512M", "--", "true"]))).toEqual(["/dev=1m", "/dev/shm=512m", "/tmp=512m", "/run=512m"]);
    expect(tmpfs(plan(["--tmpfs-size", "unlimited", "--tmpfs", "/a", "--", "true"]))).toEqual(["/dev=1m", "/dev/shm=unsized", "/tmp=unsized", "/run=unsized", "/a=unsized"]);
  });
  test.each(["0", "0%", "150%", "lots", "-1m", "1t"])("--tmpfs-size %p is refused with the fix", (v) => {
    fails(["--tmpfs-size", v, "--", "true"], /--tmpfs-size '.*': use a size like 512m or 2g, a percentage of RAM like 25%, or unlimited/);
  });
  test("--tmpfs DST:size=0 (unlimited to the kernel) is refused", () => {
    fails(["--tmpfs", "/a:size=0", "--", "true"], /only size=N/);
  });
  test("--rlimit with one value sets soft and hard", () => {
    expect(plan(["--rlimit", "nofile=64", "--", "true"]).rlimits).toEqual([{ name: "nofile", soft: "64", hard: "64" }]);
  });
});

describe("/proc allow-list", () => {
  const host: FakeHostSpec = {
    paths: {
      "/proc": "dir", "/proc/1": "dir", "/proc/4242": "dir", "/proc/meminfo": "file", "/proc/sys": "dir", "/proc/fs": "dir",
      "/proc/program_cpu": "file", "/proc/slabinfo": "file", "/proc/driver": "dir", "/proc/some_new_file": "file", "/proc/tty": "dir",
      "/proc/self": "other", "/proc/mounts": "other", "/proc/some_new_link": "other",
    },
    modes: { "/proc/self": 0o120777, "/proc/mounts": 0o120777, "/proc/some_new_link": 0o120777 },
  };
  const masks = (p: ReturnType<typeof plan>) => p.mounts.filter((m) => m.op === "mask" && m.dst.startsWith("/proc/"));
  test("every top-level entry the host lists that is not on the list is masked, by its kind", () => {
    const m = masks(plan(["--", "true"], host));
    expect(m).toContainEqual({ op: "mask", dst: "/proc/program_cpu", kind: "file", optional: true });
    expect(m).toContainEqual({ op: "mask", dst: "/proc/slabinfo", kind: "file", optional: true });
    expect(m).toContainEqual({ op: "mask", dst: "/proc/some_new_file", kind: "file", optional: true });
    expect(m).toContainEqual({ op: "mask", dst: "/proc/driver", kind: "dir", optional: true });
    expect(m).toContainEqual({ op: "mask", dst: "/proc/fs", kind: "dir", optional: true });
    expect(m).toContainEqual({ op: "mask", dst: "/proc/tty/driver", kind: "dir", optional: true });
    const dsts = m.map((x) => x.dst);
    for (const kept of ["/proc/meminfo", "/proc/sys", "/proc/tty", "/proc/1", "/proc/4242", "/proc/self", "/proc/mounts", "/proc/some_new_link"]) expect(dsts).not.toContain(kept);
  });
  test("masked entries are not remounted read-only too; /proc/sys stays read-only", () => {
    const p = plan(["--", "true"], host);
    const ro = p.mounts.filter((m) => m.op === "readonly").map((m) => m.dst);
    expect(ro).toContain("/proc/sys");
    expect(ro).not.toContain("/proc/fs");
  });
  test("the OCI masks stay even when the host's /proc lists nothing (subset=pid)", () => {
    const dsts = masks(plan(["--", "true"], { paths: { "/proc": "dir" } })).map((x) => x.dst);
    for (const p of ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kpageflags"]) expect(dsts).toContain(p);
  });
});

describe("rootless", () => {
  test("own uid maps to root, setgroups denied", () => {
    const p = plan(["--", "true"], { uid: 1000, gid: 1000 });
    expect(p.namespaces.user).toBe(true);
    expect(p.idmap).toEqual({
      uid: [{ inside: 0, outside: 1000, count: 1 }], gid: [{ inside: 0, outside: 1000, count: 1 }],
      denySetgroups: true, writer: "supervisor",
    });
  });
  test("--rootless-map self keeps the uid", () => {
    const p = plan(["--rootless-map", "self", "--user", "1000", "--", "true"], { uid: 1000, gid: 1000 });
    expect(p.idmap!.uid).toEqual([{ inside: 1000, outside: 1000, count: 1 }]);
    expect(p.user.uid).toBe(1000);
  });
  test("--rootless-map sub uses /etc/subuid through newuidmap", () => {
    const p = plan(["--rootless-map", "sub", "--", "true"], { uid: 1000, gid: 1000, files: { "/etc/subuid": "alice:100000:65536\n", "/etc/subgid": "alice:100000:65536\n" } });
    expect(p.idmap!.writer).toBe("newuidmap");
    expect(p.idmap!.uid[1]).toEqual({ inside: 1, outside: 100000, count: 65536 });
  });
  test("--rootless-map sub without a range says how to add one", () =>
    fails(["--rootless-map", "sub", "--", "true"], /usermod --add-subuids/, { uid: 1000, gid: 1000 }));
  test("an unmapped --user is refused", () => fails(["--user", "33", "--", "true"], /not mapped/, { uid: 1000, gid: 1000 }));
  test("--no-userns is impossible for non-root", () => fails(["--no-userns", "--", "true"], /user namespace/, { uid: 1000 }));
});

describe("root with --userns", () => {
  test("maps 65536 ids from /etc/subuid's root range", () => {
    const p = plan(["--userns", "--", "true"], { files: { "/etc/subuid": "root:200000:65536\n" } });
    expect(p.idmap!.uid).toEqual([{ inside: 0, outside: 200000, count: 65536 }]);
    expect(p.idmap!.denySetgroups).toBe(false);
  });
  test("--userns-map overrides", () => {
    expect(plan(["--userns", "--userns-map", "300000:1000", "--", "true"]).idmap!.uid).toEqual([{ inside: 0, outside: 300000, count: 1000 }]);
  });
  test("--userns-map needs --userns", () => fails(["--userns-map", "1:2", "--", "true"], /needs --userns/));
});

describe("validation: one clear message per mistake", () => {
  const cases: [string[], RegExp][] = [
    [[], /no program given/],
    [["--bind", "/nope", "--", "true"], /'\/nope' does not exist/],
    [["--bind", "data", "--", "true"], /relative; use an absolute path/],
    [["--ro-bind", "/data:rel", "--", "true"], /relative/],
    [["--tmpfs", "/x:mode=1", "--", "true"], /only size=N/],
    [["--chdir", "tmp", "--", "true"], /absolute path/],
    [["--user", "nobody-here", "--", "true"], /no such user/],
    [["--user", "alice:nogroup", "--", "true"], /no such group/],
    [["--hostname", "x", "--share", "uts", "--", "true"], /needs the jail's own uts namespace/],
    [["--hostname", "bad name", "--", "true"], /hostname 'bad name'/],
    [["--share", "pid", "--", "true"], /only uts, ipc, cgroup can be shared/],
    [["--net", "bridge", "--", "true"], /use --net host or --net none/],
    [["--cap-add", "CAP_FLY", "--", "true"], /unknown capability 'CAP_FLY'/],
    [["--rlimit", "nofile", "--", "true"], /NAME=SOFT\[:HARD\]/],
    [["--rlimit", "nofile=10:5", "--", "true"], /soft limit is above the hard/],
    [["--rlimit", "bogus=1", "--", "true"], /NAME one of/],
    [["--pass-fd", "9", "--", "true"], /descriptor 9 is not open/],
    [["--timeout", "soon", "--", "true"], /duration like/],
    [["--rootfs", "/data/file", "--", "true"], /not a directory/],
    [["--bind", "/data:/", "--", "true"], /--rootfs/],
  ];
  for (const [args, msg] of cases) test(args.join(" ") || "(nothing)", () => fails(args, msg));
});

describe("options", () => {
  test("user by name: uid, gid, home; groups cleared", () => {
    expect(plan(["--user", "www-data", "--", "true"]).user).toEqual({ uid: 33, gid: 33, groups: [], home: "/var/www" });
    expect(plan(["--user", "alice:staff", "--", "true"]).user).toMatchObject({ uid: 1000, gid: 50 });
    expect(plan(["--user", "4242", "--", "true"]).user).toMatchObject({ uid: 4242, gid: 4242 });
  });
  test("capabilities: drop, drop ALL, add; non-root --cap-add becomes ambient", () => {
    expect(plan(["--cap-drop", "CHOWN", "--", "true"]).caps.keep).not.toContain("chown");
    expect(plan(["--cap-drop", "ALL", "--", "true"]).caps.keep).toEqual([]);
    expect(plan(["--cap-drop", "ALL", "--cap-add", "net_admin", "--", "true"]).caps.keep).toEqual(["net_admin"]);
    expect(plan(["--user", "1000", "--cap-add", "NET_BIND_SERVICE", "--", "true"]).caps.ambient).toEqual(["net_bind_service"]);
  });
  test("environment flags", () => {
    const p = plan(["--clearenv", "--setenv", "A=1", "--setenv", "B=x=y", "--unsetenv", "A", "--", "true"]);
    expect(p.env).toEqual({ PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", container: "jailx", B: "x=y" });
  });
  test("binds sorted parents first, keeping order otherwise", () => {
    const p = plan(["--bind", "/data/file:/srv/a/b", "--ro-bind", "/data:/srv", "--tmpfs", "/srv/a:size=1m", "--", "true"]);
    const user = p.mounts.slice(p.mounts.findIndex((m) => m.op === "hide-bind") + 1);
    expect(user.map((m) => m.dst)).toEqual(["/srv", "/srv/a", "/srv/a/b"]);
    expect(user[1]).toEqual({ op: "tmpfs", dst: "/srv/a", mode: "1777", size: "1m" });
  });
  test("--symlink TARGET:PATH", () => {
    expect(plan(["--symlink", "usr/lib:/lib", "--", "true"]).mounts.at(-1)).toEqual({ op: "symlink", target: "usr/lib", dst: "/lib" });
    expect(() => plan(["--symlink", "usr/lib", "--", "true"])).toThrow("use TARGET:PATH");
  });
  test("--rootfs replaces the system binds", () => {
    const p = plan(["--rootfs", "/data", "--", "true"]);
    expect(p.rootfs).toBe("/data");
    expect(p.mounts.find((m) => m.dst === "/usr")).toBeUndefined();
  });
  test("--net none, --share, rlimits, timeout, pass-fd", () => {
    const p = plan(["--net", "none", "--share", "ipc", "--rlimit", "nofile=64", "--rlimit", "core=0:inf", "--timeout", "1.5s", "--pass-fd", "5", "--", "true"], { openFds: [5] });
    expect(p.namespaces.net).toBe(true);
    expect(p.namespaces.ipc).toBe(false);
    expect(p.rlimits).toEqual([{ name: "nofile", soft: "64", hard: "64" }, { name: "core", soft: "0", hard: "18446744073709551615" }]);
    expect(p.timeoutMs).toBe(1500);
    expect(p.passFds).toEqual([5]);
  });
  test("a kernel without Landlock scoping (ABI < 6): off, one note with the shared host network; --landlock is an error", () => {
    for (const abi of [0, 2, 5]) {
      const p = plan(["--", "true"], { landlockAbi: abi });
      expect(p.landlock).toBe(false);
      expect(p.notes).toHaveLength(1);
      expect(p.notes[0]).toContain("no Landlock scoping");
      expect(p.notes[0]).toContain("--net none");
      expect(plan(["--net", "none", "--", "true"], { landlockAbi: abi }).notes).toEqual([]);
      expect(plan(["--no-landlock", "--", "true"], { landlockAbi: abi }).notes).toEqual([]);
      expect(() => plan(["--landlock", "--", "true"], { landlockAbi: abi })).toThrow(/--landlock: no Landlock scoping here .*ABI 6/);
    }
    // control: with ABI 6 the same flags give scoping and no note
    expect(plan(["--landlock", "--", "true"], { landlockAbi: 6 }).landlock).toBe(true);
    expect(plan(["--", "true"], { landlockAbi: 6 }).notes).toEqual([]);
  });

  test("Landlock scoping is on unless --no-landlock (and needs no_new_privs)", () => {
    expect(plan(["--", "true"]).landlock).toBe(true);
    expect(plan(["--no-landlock", "--", "true"]).landlock).toBe(false);
    expect(plan(["--allow-new-privs", "--seccomp", "none", "--", "true"]).landlock).toBe(false);
  });
  test("a new session by default only without a terminal on stdin", () => {
    expect(plan(["--", "true"], { tty: true }).newSession).toBe(false);
    expect(plan(["--", "true"], { tty: false }).newSession).toBe(true);
    expect(plan(["--new-session", "--", "true"], { tty: true }).newSession).toBe(true);
    expect(plan(["--no-new-session", "--", "true"], { tty: false }).newSession).toBe(false);
  });
  test("durations", () => {
    expect(parseDuration("t", "250ms")).toBe(250);
    expect(parseDuration("t", "2")).toBe(2000);
    expect(parseDuration("t", "5m")).toBe(300_000);
    expect(() => parseDuration("t", "0")).toThrow(UsageError);
  });
});
