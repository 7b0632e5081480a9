// JailCgroup against fake cgroupfs trees (pure v2, v1, hybrid): placement, the no-internal-
// processes rule, missing controllers, rootless delegation, kill and removal logic.
import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { cleanupStaleJailCgroups, dropDefaults, JailCgroup, type CgroupPlan } from "../../sys/cgroup/index.ts";
import { cgroupPlanFromOptions } from "../../sys/cgroup/plan.ts";
import { UsageError } from "../../sys/errors.ts";
import { FakeCgroupFs, HYBRID, PURE_V1, PURE_V2, type FakeHierarchy, type FakeOptions } from "./fake-cgroupfs.ts";

const fakes: FakeCgroupFs[] = [];
afterEach(() => fakes.splice(0).forEach((f) => f.dispose()));

function fake(layout: FakeHierarchy[], opts?: FakeOptions): FakeCgroupFs {
  const f = new FakeCgroupFs(layout.map((h) => ({ ...h })), opts);
  fakes.push(f);
  return f;
}

const plan = (o: Record<string, string>): CgroupPlan => cgroupPlanFromOptions(o)!;

function create(f: FakeCgroupFs, p: CgroupPlan, self: Record<string, string> = {}, uid = 0, name = "jailx-1-abc") {
  return JailCgroup.create(p, name, { root: f.root, mountinfoText: f.mountinfo(), selfCgroupText: f.selfCgroup(self), uid, system: f });
}

/** Every jailx-* directory left anywhere in the fake tree. */
function leftovers(f: FakeCgroupFs): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith("jailx-")) out.push(`${d}/${e.name}`);
      walk(`${d}/${e.name}`);
    }
  };
  walk(f.root);
  return out;
}

function hintOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) return e.hint;
  }
  return undefined;
}

function expectUsage(fn: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UsageError);
  for (const p of parts) expect((caught as Error).message).toContain(p);
}

describe("default limits (createAllowingDefaults)", () => {
  const withDefaults = (o: Record<string, string>) => cgroupPlanFromOptions(o, { pids: 2048 })!;
  const createD = (f: FakeCgroupFs, p: CgroupPlan, self: Record<string, string>, notes: string[], uid = 0) =>
    JailCgroup.createAllowingDefaults(p, "jailx-1-abc", { root: f.root, mountinfoText: f.mountinfo(), selfCgroupText: f.selfCgroup(self), uid, system: f }, (l) => notes.push(l));

  test("v2, the caller's cgroup holds processes: the default pids limit is dropped with one note, no cgroup, nothing left", () => {
    const f = fake(PURE_V2);
    f.write(`${f.root}/cgroup.subtree_control`, "+memory +pids");
    f.makeCgroup("", "/svc", [100]);
    const notes: string[] = [];
    expect(createD(f, withDefaults({}), { "": "/svc" }, notes)).toBeNull();
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("the default --pids 2048 is not applied (cannot enable the pids controller");
    expect(leftovers(f)).toEqual([]);
  });

  test("the same with an explicit limit, or an explicit --pids, or --cgroup-parent: still an error", () => {
    const f = fake(PURE_V2);
    f.write(`${f.root}/cgroup.subtree_control`, "+memory +pids");
    f.makeCgroup("", "/svc", [100]);
    const notes: string[] = [];
    expectUsage(() => createD(f, withDefaults({ memory: "64m" }), { "": "/svc" }, notes), "--memory: cannot enable the memory controller");
    expectUsage(() => createD(f, withDefaults({ pids: "100" }), { "": "/svc" }, notes), "--pids: cannot enable the pids controller");
    expectUsage(() => createD(f, withDefaults({ "cgroup-parent": "." }), { "": "/svc" }, notes), "cannot enable the pids controller");
    expect(leftovers(f)).toEqual([]);
  });

  test("where it can be applied it is (control), with no note", () => {
    const f = fake(PURE_V2);
    const notes: string[] = [];
    const j = createD(f, withDefaults({}), {}, notes)!;
    expect(f.file(`${j.paths()[0]}/pids.max`).trim()).toBe("2048");
    expect(notes).toEqual([]);
    j.remove();
  });

  // The rule the supervisor applies to every placement (a systemd scope or delegation too).
  test("dropDefaults: only a default, only for a host error, and a parent jailx chose itself does not count as asked for", () => {
    const notes: string[] = [];
    const hostErr = new UsageError("--pids: systemd refused a transient scope for the jail: Access denied");
    expect(dropDefaults(withDefaults({}), hostErr, (l) => notes.push(l))).toBeNull();
    expect(notes).toEqual(["the default --pids 2048 is not applied (systemd refused a transient scope for the jail: Access denied); --pids unlimited removes it"]);
    expect(dropDefaults(withDefaults({ memory: "64m" }), hostErr, () => {})).toEqual({ controllers: ["memory"], memoryBytes: 64 * 2 ** 20 });
    // a parent jailx set itself (the systemd delegation protocol) vs one the user gave
    expect(dropDefaults({ ...withDefaults({}), parent: "/system.slice/a.service" }, hostErr, () => {}, false)).toBeNull();
    expect(() => dropDefaults(withDefaults({ "cgroup-parent": "/x" }), hostErr, () => {})).toThrow(hostErr);
    expect(() => dropDefaults(withDefaults({ pids: "100" }), hostErr, () => {})).toThrow(hostErr);
    const bug = new TypeError("x is undefined");
    expect(() => dropDefaults(withDefaults({}), bug, () => {})).toThrow(bug);
  });
});

describe("pure v2", () => {
  test("in the root cgroup: enables only the requested controllers, writes limits, kills, removes", () => {
    const f = fake(PURE_V2);
    const j = create(f, plan({ memory: "64m", pids: "32", cpus: "0.5" }));
    const dir = `${f.root}/jailx-1-abc`;
    expect(j.paths()).toEqual([dir]);
    expect(f.file(`${f.root}/cgroup.subtree_control`).trim().split(" ").sort()).toEqual(["cpu", "memory", "pids"]);
    expect(f.file(`${dir}/memory.max`).trim()).toBe(String(64 * 2 ** 20));
    expect(f.file(`${dir}/pids.max`).trim()).toBe("32");
    expect(f.file(`${dir}/cpu.max`).trim()).toBe("50000 100000");

    f.alivePids.add(500);
    j.addProcess(500);
    expect(f.file(`${dir}/cgroup.procs`)).toBe("500\n");
    expect(j.procsFiles()).toEqual([`${dir}/cgroup.procs`]);
    j.killAll();
    expect(f.killed).toEqual([500]);
    expect(f.log).toContain(`write ${dir}/cgroup.kill 1`);
    j.remove();
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("no-internal-processes: the caller's cgroup holds jailx itself → clear error, nothing moved, nothing left", () => {
    const f = fake(PURE_V2);
    f.write(`${f.root}/cgroup.subtree_control`, "+memory");
    const svc = f.makeCgroup("", "/svc", [100]);
    expectUsage(() => create(f, plan({ memory: "64m" }), { "": "/svc" }), "--memory: cannot enable the memory controller", "holds 1 process", "never moves a process", "--cgroup-parent");
    expect(f.file(`${svc}/cgroup.procs`)).toBe("100\n");
    expect(f.file(`${svc}/cgroup.subtree_control`).trim()).toBe("");
    expect(leftovers(f)).toEqual([]);
  });

  test("without limits needing controllers the caller's busy cgroup is fine (v2 helper for kill)", () => {
    const f = fake([{ version: 2, dir: "", controllers: ["memory"] }, { version: 1, dir: "pids", controllers: ["pids"] }]);
    f.makeCgroup("", "/svc", [100]);
    const j = create(f, plan({ pids: "8" }), { "": "/svc" });
    expect(j.paths()).toEqual([`${f.root}/pids/jailx-1-abc`, `${f.root}/svc/jailx-1-abc`]);
    expect(f.file(`${f.root}/svc/cgroup.subtree_control`).trim()).toBe("");
  });

  test("DelegateSubgroup pattern: jailx in svc/supervisor, --cgroup-parent .. → jail beside it, supervisor untouched", () => {
    const f = fake(PURE_V2);
    f.write(`${f.root}/cgroup.subtree_control`, "+memory +pids");
    const sup = f.makeCgroup("", "/svc/supervisor", [100]);
    const j = create(f, plan({ memory: "1g", pids: "10", "cgroup-parent": ".." }), { "": "/svc/supervisor" });
    expect(j.paths()).toEqual([`${f.root}/svc/jailx-1-abc`]);
    expect(f.file(`${f.root}/svc/cgroup.subtree_control`).trim()).toBe("memory pids");
    expect(f.file(`${sup}/cgroup.procs`)).toBe("100\n");
    expect(f.file(`${f.root}/svc/jailx-1-abc/pids.max`).trim()).toBe("10");
  });

  test("explicit --cgroup-parent that does not exist is created and gets controllers along the way", () => {
    const f = fake(PURE_V2);
    const j = create(f, plan({ pids: "5", "cgroup-parent": "/jailx.slice/batch" }));
    expect(j.paths()).toEqual([`${f.root}/jailx.slice/batch/jailx-1-abc`]);
    expect(f.file(`${f.root}/cgroup.subtree_control`).trim()).toBe("pids");
    expect(f.file(`${f.root}/jailx.slice/cgroup.subtree_control`).trim()).toBe("pids");
    expect(f.file(`${f.root}/jailx.slice/batch/jailx-1-abc/pids.max`).trim()).toBe("5");
    j.remove();
    expect(fs.existsSync(`${f.root}/jailx.slice/batch`)).toBe(true); // parents persist, like slices
  });

  test("--cgroup-parent climbing above the root is refused", () => {
    const f = fake(PURE_V2);
    expectUsage(() => create(f, plan({ pids: "5", "cgroup-parent": "../../x" }), { "": "/svc" }), "--cgroup-parent '../../x'", "climbs above");
  });

  test("controller not delegated by the parent of the caller's cgroup", () => {
    const f = fake(PURE_V2);
    f.makeCgroup("", "/a/b");
    expectUsage(() => create(f, plan({ pids: "5" }), { "": "/a/b" }), "--pids: the pids controller is not available in cgroup", "/a/b", "Delegate=yes");
    expect(leftovers(f)).toEqual([]);
  });

  test("controller missing on the system", () => {
    const f = fake([{ version: 2, dir: "", controllers: ["memory", "cpu"] }]);
    expectUsage(() => create(f, plan({ pids: "5" })), "--pids: the pids controller is not available on this system", "cgroup v2 at");
  });

  test("swap: memory.swap.max gets swap alone; missing swap controller is an error and cleans up", () => {
    const f = fake(PURE_V2);
    const j = create(f, plan({ memory: "64m", "memory-swap": "192m" }));
    expect(f.file(`${j.paths()[0]}/memory.swap.max`).trim()).toBe(String(128 * 2 ** 20));
    const g = fake(PURE_V2, { swapAccounting: false });
    expectUsage(() => create(g, plan({ memory: "64m", "memory-swap": "192m" })), "--memory-swap: cannot apply the limit", "swapaccount=1");
    expect(leftovers(g)).toEqual([]);
  });

  test("io weight: io.weight, else io.bfq.weight (converted), else an error", () => {
    const f = fake(PURE_V2);
    expect(f.file(`${create(f, plan({ "io-weight": "300" })).paths()[0]}/io.weight`).trim()).toBe("default 300");
    const g = fake(PURE_V2, { ioFile: "io.bfq.weight" });
    expect(g.file(`${create(g, plan({ "io-weight": "10000" })).paths()[0]}/io.bfq.weight`).trim()).toBe("1000");
    const h = fake(PURE_V2, { ioFile: null });
    expectUsage(() => create(h, plan({ "io-weight": "300" })), "--io-weight: cannot apply the limit", "bfq");
    expect(leftovers(h)).toEqual([]);
  });

  test("no cgroup.kill (kernel < 5.14): freeze, kill each pid, thaw", () => {
    const f = fake(PURE_V2, { cgroupKill: false });
    const j = create(f, plan({ pids: "5" }));
    const dir = j.paths()[0]!;
    for (const pid of [7, 8]) (f.alivePids.add(pid), j.addProcess(pid));
    const sub = f.makeCgroup("", "/jailx-1-abc/inner", [9]); // the jail made a sub-cgroup
    f.makeCgroup("", "/other", [99]); // not the jail's: never signalled
    j.killAll();
    expect(f.killed.sort()).toEqual([7, 8, 9]);
    expect(f.alivePids.has(99)).toBe(true);
    expect(f.log).toContain(`write ${dir}/cgroup.freeze 1`);
    expect(f.log).toContain(`write ${dir}/cgroup.freeze 0`);
    j.remove();
    expect(fs.existsSync(sub)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("OOM: memory.events oom_kill", () => {
    const f = fake(PURE_V2);
    const j = create(f, plan({ memory: "64m" }));
    expect(j.oomKilled()).toBe(false);
    fs.writeFileSync(`${j.paths()[0]}/memory.events`, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    expect(j.oomKilled()).toBe(true);
    expect(j.describeOom()).toBe("killed: out of memory, limit 64 MiB");
  });
});

describe("v1", () => {
  test("limits in each controller's hierarchy; cpuset.mems copied; freezer joined; named hierarchy skipped", () => {
    const f = fake(PURE_V1);
    f.makeCgroup("memory", "/svc");
    const j = create(f, plan({ memory: "64m", "memory-swap": "128m", cpus: "0.2", "cpu-weight": "100", cpuset: "1-2", pids: "32", "io-weight": "100" }), { memory: "/svc" });
    const r = f.root;
    expect(j.paths().sort()).toEqual(
      [`${r}/blkio/jailx-1-abc`, `${r}/cpu,cpuacct/jailx-1-abc`, `${r}/cpuset/jailx-1-abc`, `${r}/freezer/jailx-1-abc`, `${r}/memory/svc/jailx-1-abc`, `${r}/pids/jailx-1-abc`].sort(),
    );
    const read = (p: string) => f.file(`${r}/${p}`).trim();
    expect(read("memory/svc/jailx-1-abc/memory.limit_in_bytes")).toBe(String(64 * 2 ** 20));
    expect(read("memory/svc/jailx-1-abc/memory.memsw.limit_in_bytes")).toBe(String(128 * 2 ** 20));
    expect(read("cpu,cpuacct/jailx-1-abc/cpu.cfs_quota_us")).toBe("20000");
    expect(read("cpu,cpuacct/jailx-1-abc/cpu.cfs_period_us")).toBe("100000");
    expect(read("cpu,cpuacct/jailx-1-abc/cpu.shares")).toBe("2597");
    expect(read("cpuset/jailx-1-abc/cpuset.cpus")).toBe("1-2");
    expect(read("cpuset/jailx-1-abc/cpuset.mems")).toBe("0");
    expect(read("pids/jailx-1-abc/pids.max")).toBe("32");
    expect(read("blkio/jailx-1-abc/blkio.bfq.weight")).toBe("20");

    f.alivePids.add(42);
    j.addProcess(42); // would be ENOSPC in cpuset without mems
    for (const file of j.procsFiles()) expect(f.file(file)).toBe("42\n");
    j.killAll();
    expect(f.killed).toEqual([42]);
    expect(f.log).toContain(`write ${r}/freezer/jailx-1-abc/freezer.state FROZEN`);
    expect(f.log).toContain(`write ${r}/freezer/jailx-1-abc/freezer.state THAWED`);
    j.remove();
    expect(leftovers(f)).toEqual([]);
  });

  test("memsw missing → error naming the flag and swapaccount; nothing left", () => {
    const f = fake(PURE_V1, { swapAccounting: false });
    expectUsage(() => create(f, plan({ memory: "64m", "memory-swap": "1g", pids: "3" })), "--memory-swap: cannot apply the limit", "swapaccount=1");
    expect(leftovers(f)).toEqual([]);
  });

  test("no blkio weight file → error", () => {
    const f = fake(PURE_V1, { ioFile: null });
    expectUsage(() => create(f, plan({ "io-weight": "100" })), "--io-weight", "blkio.weight or blkio.bfq.weight");
  });

  test("pids hierarchy not mounted → error", () => {
    const f = fake(PURE_V1.filter((h) => h.dir !== "pids"));
    expectUsage(() => create(f, plan({ pids: "3" })), "--pids: the pids controller is not available on this system");
  });

  test("a new --cgroup-parent in cpuset gets cpus and mems from above", () => {
    const f = fake(PURE_V1);
    const j = create(f, plan({ cpuset: "3", "cgroup-parent": "/batch" }));
    expect(f.file(`${f.root}/cpuset/batch/cpuset.cpus`).trim()).toBe("0-3");
    expect(f.file(`${f.root}/cpuset/batch/jailx-1-abc/cpuset.cpus`).trim()).toBe("3");
    f.alivePids.add(5);
    j.addProcess(5);
  });

  test("OOM: oom_kill in memory.oom_control", () => {
    const f = fake(PURE_V1);
    const j = create(f, plan({ memory: "1g" }));
    const dir = j.paths().find((p) => p.includes("/memory/"))!;
    expect(j.oomKilled()).toBe(false);
    fs.writeFileSync(`${dir}/memory.oom_control`, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    expect(j.oomKilled()).toBe(true);
    expect(j.describeOom()).toBe("killed: out of memory, limit 1 GiB");
  });
});

describe("hybrid (this machine's shape)", () => {
  test("v1 limits plus a controller-less v2 directory used for cgroup.kill; cpuacct joins --cpus", () => {
    const f = fake(HYBRID);
    const j = create(f, plan({ pids: "16", cpus: "1" }));
    const names = j.paths().map((p) => p.slice(f.root.length + 1));
    expect(names.sort()).toEqual(["cpu/jailx-1-abc", "cpuacct/jailx-1-abc", "freezer/jailx-1-abc", "pids/jailx-1-abc", "unified/jailx-1-abc"]);
    for (const pid of [11, 12]) (f.alivePids.add(pid), j.addProcess(pid));
    j.killAll();
    expect(f.log).toContain(`write ${f.root}/unified/jailx-1-abc/cgroup.kill 1`);
    expect(f.killed.sort()).toEqual([11, 12]);
    j.remove();
    expect(leftovers(f)).toEqual([]);
  });

  test("state() / attach(): another process can kill and remove", () => {
    const f = fake(HYBRID);
    const j = create(f, plan({ memory: "64m" }));
    f.alivePids.add(3);
    j.addProcess(3);
    const again = JailCgroup.attach(JSON.parse(JSON.stringify(j.state())), f);
    again.killAll();
    again.remove();
    expect(leftovers(f)).toEqual([]);
  });

  test("a name collision is an error and leaves the existing cgroup alone", () => {
    const f = fake(HYBRID);
    create(f, plan({ pids: "4" }));
    expect(() => create(f, plan({ pids: "4" }))).toThrow("EEXIST");
    expect(fs.existsSync(`${f.root}/pids/jailx-1-abc`)).toBe(true);
  });

  test("bad names are refused", () => {
    const f = fake(HYBRID);
    expect(() => create(f, plan({ pids: "4" }), {}, 0, "../x")).toThrow("cgroup name");
  });
});

describe("rootless", () => {
  // The recipe names systemd options only on a systemd host (delegateV2 probes it); --cgroup-parent always.
  test("v2 without delegation → UsageError naming how to get a delegated cgroup", () => {
    const f = fake(PURE_V2);
    f.makeCgroup("", "/user.slice/session.scope", [100]);
    expectUsage(() => create(f, plan({ memory: "64m" }), { "": "/user.slice/session.scope" }, 1000), "--memory: cgroup /user.slice/session.scope (v2) is not delegated to uid 1000");
    expect(hintOf(() => create(f, plan({ memory: "64m" }), { "": "/user.slice/session.scope" }, 1000))).toContain("systemd-run -p Delegate=yes");
    expect(leftovers(f)).toEqual([]);
  });

  test("v2 with a delegated subtree (owned by the user) works", () => {
    const f = fake(PURE_V2);
    f.write(`${f.root}/cgroup.subtree_control`, "+memory +pids");
    const svc = f.makeCgroup("", "/user.slice/run.service");
    f.makeCgroup("", "/user.slice/run.service/supervisor", [100]);
    for (const p of [svc, `${svc}/cgroup.procs`, `${svc}/cgroup.subtree_control`]) fs.chownSync(p, 1000, 1000);
    const j = create(f, plan({ memory: "64m", "cgroup-parent": ".." }), { "": "/user.slice/run.service/supervisor" }, 1000);
    expect(j.paths()).toEqual([`${svc}/jailx-1-abc`]);
    expect(f.file(`${svc}/jailx-1-abc/memory.max`).trim()).toBe(String(64 * 2 ** 20));
  });

  test("v1 without delegation → UsageError; helper hierarchies that are not writable are skipped, not fatal", () => {
    const f = fake(HYBRID);
    expectUsage(() => create(f, plan({ pids: "4" }), {}, 1000), "--pids: cgroup / (v1 pids) is not delegated to uid 1000");
    expect(hintOf(() => create(f, plan({ pids: "4" }), {}, 1000))).toContain("v1 has no safe delegation");
    const pidsDir = f.makeCgroup("pids", "/mine");
    for (const p of [pidsDir, `${pidsDir}/cgroup.procs`]) fs.chownSync(p, 1000, 1000);
    const j = create(f, plan({ pids: "4" }), { pids: "/mine" }, 1000);
    expect(j.paths()).toEqual([`${pidsDir}/jailx-1-abc`]);
  });
});

describe("cleanupStaleJailCgroups", () => {
  test("removes jail cgroups whose supervisor is gone and that are empty; keeps live and populated ones", () => {
    const f = fake(HYBRID);
    f.makeCgroup("pids", "/jailx-111-aaa/inner");
    f.makeCgroup("unified", "/jailx-111-aaa");
    f.makeCgroup("pids", "/jailx-222-bbb"); // supervisor alive
    f.alivePids.add(222);
    f.makeCgroup("pids", "/jailx-333-ccc", [444]); // supervisor gone, a process remains
    f.makeCgroup("pids", "/other-999");
    f.makeCgroup("memory", "/svc/jailx-555-ddd");
    const removed = cleanupStaleJailCgroups({ root: f.root, mountinfoText: f.mountinfo(), selfCgroupText: f.selfCgroup({ memory: "/svc" }), system: f });
    expect(removed.map((p) => p.slice(f.root.length + 1)).sort()).toEqual(["memory/svc/jailx-555-ddd", "pids/jailx-111-aaa", "unified/jailx-111-aaa"]);
    expect(fs.existsSync(`${f.root}/pids/jailx-222-bbb`)).toBe(true);
    expect(fs.existsSync(`${f.root}/pids/jailx-333-ccc`)).toBe(true);
    expect(fs.existsSync(`${f.root}/pids/other-999`)).toBe(true);
  });
});

test("rootless: a new --cgroup-parent below a delegated cgroup is allowed", () => {
  const f = fake(PURE_V2);
  f.write(`${f.root}/cgroup.subtree_control`, "+pids");
  const svc = f.makeCgroup("", "/u");
  for (const p of [svc, `${svc}/cgroup.procs`, `${svc}/cgroup.subtree_control`]) fs.chownSync(p, 1000, 1000);
  const j = create(f, plan({ pids: "4", "cgroup-parent": "/u/batch" }), {}, 1000);
  expect(j.paths()).toEqual([`${svc}/batch/jailx-1-abc`]);
});
