// Layout detection from mountinfo text: pure parsing, fixtures copied from the machines' shapes.
import { expect, test } from "bun:test";
import { callerPathIn, detectCgroupLayout, dirOf, parseCgroupMounts, parseSelfCgroup } from "../../sys/cgroup/layout.ts";
import { FakeCgroupFs, HYBRID, PURE_V1, PURE_V2 } from "./fake-cgroupfs.ts";

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 60 0:32 /docker/abc /jail/sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory`;

test("mountinfo: v1 controllers from super options, named hierarchies, v2, other roots ignored", () => {
  const hs = parseCgroupMounts(HYBRID_MOUNTINFO, "/sys/fs/cgroup");
  expect(hs.map((h) => [h.version, h.mountPoint, h.controllers.join(","), h.name ?? ""])).toEqual([
    [1, "/sys/fs/cgroup/cpu", "cpu", ""],
    [1, "/sys/fs/cgroup/cpuacct", "cpuacct", ""],
    [1, "/sys/fs/cgroup/memory", "memory", ""],
    [1, "/sys/fs/cgroup/systemd", "", "systemd"],
    [2, "/sys/fs/cgroup/unified", "", ""],
  ]);
});

test("mountinfo: escaped mount points and a non-/ mount root", () => {
  const [h] = parseCgroupMounts("7 1 0:9 /a\\040b /cg\\040x rw - cgroup2 cgroup2 rw", "/");
  expect(h).toEqual({ version: 2, mountPoint: "/cg x", mountRoot: "/a b", controllers: [] });
  expect(dirOf(h!, "/a b/c")).toBe("/cg x/c");
  expect(dirOf(h!, "/a b")).toBe("/cg x");
  expect(dirOf(h!, "/other")).toBeNull();
});

test("/proc/self/cgroup lines match hierarchies", () => {
  const self = parseSelfCgroup("9:name=systemd:/\n4:memory:/process_api/x\n2:cpuacct,cpu:/a\n0::/\n");
  const hs = parseCgroupMounts(HYBRID_MOUNTINFO.replace("rw,cpu\n", "rw,cpu,cpuacct\n"), "/sys/fs/cgroup");
  expect(callerPathIn(hs.find((h) => h.controllers.includes("memory"))!, self)).toBe("/process_api/x");
  expect(callerPathIn(hs[0]!, self)).toBe("/a"); // cpu,cpuacct co-mounted
  expect(callerPathIn(hs.find((h) => h.name === "systemd")!, self)).toBe("/");
  expect(callerPathIn(hs.find((h) => h.version === 2)!, self)).toBe("/");
});

test.each([
  ["v2", PURE_V2],
  ["v1", PURE_V1],
  ["hybrid", HYBRID],
] as const)("detectCgroupLayout on a fake %s tree", (kind, layout) => {
  const fake = new FakeCgroupFs([...layout]);
  try {
    const got = detectCgroupLayout(fake.root, fake.mountinfo(), fake);
    expect(got.kind).toBe(kind);
    expect(got.hierarchies).toHaveLength(layout.length);
    const v2 = got.hierarchies.find((h) => h.version === 2);
    if (kind === "v2") expect(v2!.controllers).toEqual(["cpuset", "cpu", "io", "memory", "pids"]);
    if (kind === "hybrid") expect(v2!.controllers).toEqual([]);
  } finally {
    fake.dispose();
  }
});

test("the real machine", () => {
  const got = detectCgroupLayout();
  expect(["v2", "v1", "hybrid"]).toContain(got.kind);
  expect(got.hierarchies.length).toBeGreaterThan(0);
});
