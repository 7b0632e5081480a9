// Live: real sandboxes started with Debian's tools, inspected by the real command, as root and
// as an unprivileged user. Each layer must come out exactly as the tool configured it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { findCgroupMounts } from "../../inspect/cgroup.ts";
import { parseCgroup } from "../../inspect/parse.ts";
import { NS_TYPES } from "../../inspect/snapshot.ts";
import { cgroupWithDeviceProgram, ownV2Dir } from "./bpf-device.ts";
import { ensureTestUser, have, inspect, inspectJson, jailxRunner, removeTestUser, startTarget, type Target } from "./live.ts";

let user: { uid: number; gid: number; created: boolean };
beforeAll(() => {
  user = ensureTestUser();
});
afterAll(() => {
  if (user?.created) removeTestUser();
});

/** Starts the target, runs `body`, always kills the target. */
async function withTarget(argv: string[], body: (t: Target) => void | Promise<void>): Promise<void> {
  const t = await startTarget(argv);
  try {
    await body(t);
  } finally {
    await t.stop();
  }
}

const separate = (r: any) => NS_TYPES.filter((t) => r.namespaces[t].state === "separate");
/** Namespaces an unprivileged reader decided differently from root (must be none). */
const agreesWithRoot = (unpriv: any, root: any) =>
  NS_TYPES.filter((t) => unpriv.namespaces[t].state !== "unknown" && unpriv.namespaces[t].state !== root.namespaces[t].state);

describe("bubblewrap --unshare-all --ro-bind / /", () => {
  const argv = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "cat"];
  test("as root: all namespaces but time, host root read-only, bwrap evidence", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid);
      expect(separate(r)).toEqual(["user", "pid", "mnt", "net", "uts", "ipc", "cgroup"]);
      expect(r.pidNamespaceDepth).toBe(2);
      expect(r.filesystem).toMatchObject({ rootSeparate: false, rootMethod: "stat dev:inode", rootReadOnly: true });
      expect(r.noNewPrivs).toBe(true);
      expect(r.capabilities.scope).toBe("own user namespace");
      expect(r.runtime.looksLike).toBe("bubblewrap");
      expect(r.runtime.evidence.some((e: any) => e.runtime === "docker")).toBe(false); // the host's stray /.dockerenv
      expect(r.pin).toEqual({ method: "pidfd", state: "alive" });
    }));
  test("as an unprivileged reader: what anyone can read proves user, pid, mnt and net separate; the rest unknown with the reason", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid, user);
      const proofs = { user: "uid_map", pid: "NSpid", mnt: "mount ids", net: "net/dev" } as Record<string, string>;
      for (const ns of NS_TYPES) {
        if (proofs[ns]) expect(r.namespaces[ns]).toMatchObject({ state: "separate", reference: "reader", proof: proofs[ns] });
        else expect(r.namespaces[ns]).toMatchObject({ state: "unknown", reason: "EACCES: run as root" });
      }
      expect(agreesWithRoot(r, inspectJson(t.pid))).toEqual([]);
      expect(r.runtime.looksLike).toBe("bubblewrap");
      // its mount namespace is known to be separate: the host's /proc and /dev bound in are flagged
      expect(r.filesystem.sensitiveMounts).toEqual(expect.arrayContaining(["host /proc at /proc"]));
      expect(r.filesystem).toMatchObject({ rootSeparate: false, rootMethod: "mountinfo / entry", rootReadOnly: true });
      expect(r.noNewPrivs).toBe(true);
      expect(r.userNamespace.uidMap).toEqual([{ inside: 0, outside: 0, count: 1 }]);
      expect(r.seccomp.mode).toBe("disabled");
    }));
});

test("--all --jailed as an unprivileged reader lists a root-run bwrap jail (NSpid, uid_map, mount ids)", () =>
  withTarget(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "cat"], (t) => {
    const rows = JSON.parse(inspect(["--all", "--json", "--jailed"], user).stdout).processes;
    expect(rows.find((p: any) => p.pid === t.pid)).toMatchObject({ jailed: true, ns: { pid: "separate", user: "separate", mnt: "separate" } });
  }));

describe("unshare (util-linux)", () => {
  test("as root: exactly net, uts and ipc separate", () =>
    withTarget(["unshare", "--net", "--uts", "--ipc", "cat"], (t) => {
      const r = inspectJson(t.pid);
      expect(separate(r)).toEqual(["net", "uts", "ipc"]);
      expect(r.credentials.identity).toBe("host-root");
      expect(r.filesystem.rootSeparate).toBe(false);
    }));
  test("rootless user namespace: root only inside, = the user's uid outside; same-uid reader sees it too", () =>
    withTarget(["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "unshare", "--user", "--map-root-user", "cat"], (t) => {
      for (const reader of [undefined, user]) {
        const r = inspectJson(t.pid, reader);
        expect(separate(r)).toEqual(["user"]);
        expect(r.credentials).toMatchObject({ identity: "userns-root", insideUid: 0 });
        expect(r.credentials.uid).toEqual([user.uid, user.uid, user.uid, user.uid]);
        expect(r.userNamespace.rootOutside).toBe(user.uid);
        expect(r.capabilities.scope).toBe("own user namespace");
      }
    }));
});

describe("a user namespace read by another unprivileged user (issue 13)", () => {
  // nobody's own user namespace, root inside: uid_map "0 65534 1"; the reader is the test user
  const argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "--user", "--map-root-user", "cat"];
  test("identity and inside uid come from uid_map; not 'host process'; text agrees with JSON", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid, user);
      expect(r.userNamespace.uidMap).toEqual([{ inside: 0, outside: 65534, count: 1 }]);
      expect(r.credentials).toMatchObject({ identity: "userns-root", insideUid: 0, hostUid: 65534 });
      expect(r.namespaces.user).toMatchObject({ state: "separate", proof: "uid_map" });
      expect(r.runtime.looksLike).not.toContain("host process");
      expect(r.score.results.find((c: any) => c.id === "creds.root")).toMatchObject({ status: "partial", text: "runs as root only inside its own user namespace" });
      const text = inspect([String(t.pid)], user).stdout;
      expect(text).not.toContain("runs as root on the host");
      // its mount namespace is the host's (mount ids): no "sensitive mounts" of the host's own /proc, /sys, /dev
      expect(r.namespaces.mnt).toMatchObject({ state: "shared", proof: "mount ids" });
      expect(r.filesystem.sensitiveMounts).toEqual([]);
    }));
  test("--all --jailed as that reader lists it (uid_map proves the namespace)", () =>
    withTarget(argv, (t) => {
      const rows = JSON.parse(inspect(["--all", "--json", "--jailed"], user).stdout).processes;
      expect(rows.find((p: any) => p.pid === t.pid)).toMatchObject({ jailed: true, ns: { user: "separate" } });
    }));
});

describe("setpriv (util-linux)", () => {
  const argv = ["setpriv", `--reuid=${0}`, "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "cat"];
  test("as root: no_new_privs and an empty bounding set, still host root", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid);
      expect(r.noNewPrivs).toBe(true);
      expect(r.capabilities.bounding).toEqual([]);
      expect(r.credentials.identity).toBe("host-root");
      expect(separate(r)).toEqual([]);
      expect(r.score.results.find((c: any) => c.id === "caps.bounding").status).toBe("good");
    }));
  test("an unprivileged target read by the same user: namespaces readable and shared", () => {
    const u = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--no-new-privs", "cat"];
    return withTarget(u, (t) => {
      const r = inspectJson(t.pid, user);
      expect(r.credentials.identity).toBe("user");
      expect(r.capabilities.effective).toEqual([]);
      for (const ns of NS_TYPES) expect(r.namespaces[ns].state).toBe("shared");
      expect(r.noNewPrivs).toBe(true);
    });
  });
});

// a peer tool that may be missing: skipped visibly, with the reason in the name
const firejail = have("firejail");
describe.skipIf(!firejail)(`firejail${firejail ? "" : " (skipped: firejail is not installed)"}`, () => {
  const argv = ["firejail", "--noprofile", "--quiet", "--seccomp", "--caps.drop=all", "--nonewprivs", "--net=none", "--private-dev", "--read-only=/", "cat"];
  test("as root: seccomp filters, no capabilities, net/pid/mnt namespaces, container=firejail", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid);
      expect(r.seccomp.mode).toBe("filter");
      expect(r.seccomp.filters).toBeGreaterThan(0);
      expect(r.capabilities.bounding).toEqual([]);
      expect(r.noNewPrivs).toBe(true);
      expect(separate(r)).toEqual(expect.arrayContaining(["pid", "mnt", "net"]));
      expect(r.filesystem.rootReadOnly).toBe(true);
      expect(r.runtime.evidence).toContainEqual({ runtime: "firejail", source: "environ", detail: "container=firejail" });
      // decoded by sys/seccomp: firejail's default filter refuses mount on x86_64
      expect(r.seccomp.summary).toHaveLength(r.seccomp.filters);
      const x86 = r.seccomp.summary.flatMap((f: any) => f.abis.filter((a: any) => a.abi === "x86_64"));
      const denied = x86.flatMap((a: any) => Object.entries(a.exceptions).filter(([act]) => act !== "allow").flatMap(([, n]) => n as string[]));
      expect(denied).toContain("mount");
      // the stacked filters are judged: assessed (good or bad), not unknown
      for (const id of ["seccomp.risky", "seccomp.abi"]) expect(r.score.results.find((c: any) => c.id === id).status).not.toBe("unknown");
    }));
  test("as an unprivileged reader: environ is refused, seccomp still visible in status", () =>
    withTarget(argv, (t) => {
      const r = inspectJson(t.pid, user);
      expect(r.seccomp.mode).toBe("filter");
      expect(r.seccomp.summary).toEqual({ unknown: "EPERM: reading filter contents needs root (PTRACE_SECCOMP_GET_FILTER)" });
      expect(r.score.results.find((c: any) => c.id === "seccomp.risky").status).toBe("unknown");
      expect(r.runtime.evidence.some((e: any) => e.source === "environ")).toBe(false);
      expect(r.runtime.evidence.some((e: any) => e.source === "parent chain")).toBe(true);
    }));
});

const jailx = jailxRunner();
describe("jailx run", () => {
  test("default jail as root: every namespace it promises, no_new_privs, seccomp, its own root", () =>
    withTarget([...jailx, "run", "--", "/bin/cat"], (t) => {
      const r = inspectJson(t.pid);
      expect(r.noNewPrivs).toBe(true);
      expect(r.seccomp.mode).toBe("filter");
      expect(separate(r)).toEqual(expect.arrayContaining(["pid", "mnt", "uts", "ipc", "cgroup"]));
      expect(r.filesystem.rootSeparate).toBe(true);
      for (const cap of ["sys_admin", "sys_module", "sys_ptrace", "net_admin", "dac_read_search"]) expect(r.capabilities.bounding).not.toContain(cap);
      expect(r.filesystem.sensitiveMounts).toEqual([]); // single /dev nodes bound in are not "host /dev"
      expect(r.runtime.looksLike).toContain("jailx");
      // jailx's default policy: no risky syscall through, i386/x32 closed
      expect(r.score.results.find((c: any) => c.id === "seccomp.risky")).toMatchObject({ status: "good" });
      expect(r.score.results.find((c: any) => c.id === "seccomp.abi")).toMatchObject({ status: "good" });
    }));
  test("as an unprivileged reader: pid and mnt proven separate by NSpid and mount ids, no state contradicting root's", () =>
    withTarget([...jailx, "run", "--", "/bin/cat"], (t) => {
      const r = inspectJson(t.pid, user);
      expect(r.namespaces.pid).toMatchObject({ state: "separate", proof: "NSpid" });
      expect(r.namespaces.mnt).toMatchObject({ state: "separate", proof: "mount ids" });
      expect(agreesWithRoot(r, inspectJson(t.pid))).toEqual([]);
      expect(r.noNewPrivs).toBe(true);
      expect(r.seccomp.mode).toBe("filter");
      expect(r.filesystem).toMatchObject({ rootSeparate: true, rootMethod: "mountinfo / entry", rootReadOnly: true });
    }));
  test("--net none: the net namespace is separate too", () =>
    withTarget([...jailx, "run", "--net", "none", "--", "/bin/cat"], (t) => {
      expect(inspectJson(t.pid).namespaces.net.state).toBe("separate");
    }));
});

// Resources: limits set on cgroups the test creates beneath its own (v1 hierarchies, as on the
// development VM; pure v2 is covered by the fake-cgroupfs unit tests), plus rlimits and oom_score_adj.
const mounts = findCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));
const v1Limits = mounts.v1.has("memory") && mounts.v1.has("pids");
describe.skipIf(!v1Limits)(`cgroup limits, rlimits, oom_score_adj${v1Limits ? "" : " (skipped: no v1 memory and pids hierarchies here; pure v2 is covered by cgroup.test.ts)"}`, () => {
  const own = parseCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  const dirFor = (ctrl: string) => {
    const e = own.find((x) => x.controllers.split(",").includes(ctrl))!;
    return `${mounts.v1.get(ctrl)!.mountPoint}${e.path === "/" ? "" : e.path}/jailx-inspect-test-${process.pid}`;
  };
  const mem = dirFor("memory");
  const pids = dirFor("pids");
  beforeAll(() => {
    mkdirSync(mem);
    mkdirSync(pids);
    writeFileSync(`${mem}/memory.limit_in_bytes`, "134217728");
    writeFileSync(`${pids}/pids.max`, "32");
  });
  afterAll(() => {
    // the target has been killed by then; an empty cgroup directory is removed with rmdir
    for (const d of [mem, pids]) rmdirSync(d);
  });
  test("memory and pids limits found where they are set; rlimit and oom_score_adj as given", () =>
    withTarget(
      ["sh", "-c", `echo $$ > ${mem}/cgroup.procs && echo $$ > ${pids}/cgroup.procs && exec prlimit --nofile=64:128 choom -n 321 -- cat`],
      (t) => {
        for (const reader of [undefined, user]) {
          const r = inspectJson(t.pid, reader);
          expect(r.resources.cgroup.memory).toEqual({ value: 134217728, where: mem, version: 1 });
          expect(r.resources.cgroup.pids).toEqual({ value: 32, where: pids, version: 1 });
          expect(r.resources.rlimits["open files"]).toEqual({ soft: "64", hard: "128" });
          expect(r.resources.oomScoreAdj).toBe(321);
          expect(r.score.results.find((c: any) => c.id === "cgroup.memory").status).toBe("good");
        }
      },
    ));
});

describe("unshare --time --cgroup", () => {
  test("time and cgroup namespaces separate, nothing else", () =>
    withTarget(["unshare", "--time", "--cgroup", "cat"], (t) => {
      expect(separate(inspectJson(t.pid))).toEqual(["cgroup", "time"]);
    }));
});

// cgroup v2 device access is a BPF program: inspect asks the kernel which are in force (as root)
const v2dir = ownV2Dir();
describe.skipIf(!v2dir)(`devices: a BPF device program on a v2 cgroup${v2dir ? "" : " (skipped: no cgroup v2 hierarchy here)"}`, () => {
  test("root finds the program (not 'allows everything'); an unprivileged reader is told why it cannot know", async () => {
    const dir = cgroupWithDeviceProgram(`jailx-inspect-bpf-${process.pid}`);
    try {
      await withTarget(["sh", "-c", `echo $$ > ${dir}/cgroup.procs && exec cat`], (t) => {
        const asRoot = inspectJson(t.pid).resources.cgroup.devices;
        expect(asRoot).toMatchObject({ allowAll: false, bpfPrograms: 1 });
        expect(inspectJson(t.pid, user).resources.cgroup.devices).toHaveProperty("unknown", expect.stringContaining("EPERM"));
        // control: a process outside that cgroup has no program in force
        expect(inspectJson(process.pid).resources.cgroup.devices.bpfPrograms).toBe(0);
      });
    } finally {
      rmdirSync(dir);
    }
  });
});
