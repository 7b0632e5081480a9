// Cgroup limits on fake cgroup filesystems: pure v2 (today's servers) and hybrid v1 + v2.
import { afterAll, describe, expect, test } from "bun:test";
import { CgroupReader, findCgroupMounts } from "../../inspect/cgroup.ts";
import { TreeSource } from "../../inspect/tree-source.ts";
import { FakeTree } from "./fakeproc.ts";

const V2_MOUNTINFO = "20 1 254:0 / / rw - ext4 /dev/vda rw\n30 20 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
const trees: FakeTree[] = [];
afterAll(() => trees.forEach((t) => t.remove()));

function reader(t: FakeTree, mountinfo: string) {
  trees.push(t);
  return new CgroupReader(new TreeSource(t.fs, 1000), findCgroupMounts(mountinfo));
}

describe("pure cgroup v2", () => {
  const t = new FakeTree()
    .file("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
    .file("/sys/fs/cgroup/system.slice/memory.max", "max\n")
    .file("/sys/fs/cgroup/system.slice/pids.max", "500\n")
    .file("/sys/fs/cgroup/system.slice/cpu.max", "max 100000\n")
    .file("/sys/fs/cgroup/system.slice/app.service/memory.max", "536870912\n")
    .file("/sys/fs/cgroup/system.slice/app.service/pids.max", "max\n")
    .file("/sys/fs/cgroup/system.slice/app.service/cpu.max", "150000 100000\n");
  const r = reader(t, V2_MOUNTINFO);

  test("the cgroup's own limit and an ancestor's limit are both found", () => {
    const info = r.info("0::/system.slice/app.service\n") as any;
    expect(info.memory).toEqual({ value: 536870912, where: "/sys/fs/cgroup/system.slice/app.service", version: 2 });
    expect(info.pids).toEqual({ value: 500, where: "/sys/fs/cgroup/system.slice", version: 2 });
    expect(info.cpu).toEqual({ value: 1.5, where: "/sys/fs/cgroup/system.slice/app.service", version: 2 });
  });
  test("root cgroup: controllers offered, no limits", () => {
    const info = r.info("0::/\n") as any;
    expect(info.memory).toEqual({ value: null, version: 2 });
  });
  test("a controller not enabled on the path is unknown, not 'unlimited'", () => {
    const t2 = new FakeTree().file("/sys/fs/cgroup/cgroup.controllers", "cpu\n").file("/sys/fs/cgroup/a/cpu.max", "max 100000\n");
    const info = reader(t2, V2_MOUNTINFO).info("0::/a\n") as any;
    expect(info.memory.unknown).toContain("no memory controller is enabled");
    expect(info.cpu).toEqual({ value: null, version: 2 });
  });
});

describe("hybrid: v1 controllers beside a controller-less v2", () => {
  const mi =
    "20 1 254:0 / / rw - ext4 /dev/vda rw\n" +
    "31 20 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
    "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n" +
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
  const t = new FakeTree()
    .file("/sys/fs/cgroup/unified/cgroup.controllers", "")
    .file("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
    .file("/sys/fs/cgroup/memory/job/memory.limit_in_bytes", "104857600\n")
    .file("/sys/fs/cgroup/pids/job/pids.max", "max\n")
    .file("/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n")
    .file("/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
  const r = reader(t, mi);
  test("limits come from the v1 hierarchies; the huge v1 default means no limit", () => {
    const info = r.info("5:memory:/job\n4:pids:/job\n3:cpu,cpuacct:/job\n0::/job\n") as any;
    expect(info.memory).toEqual({ value: 104857600, where: "/sys/fs/cgroup/memory/job", version: 1 });
    expect(info.pids).toEqual({ value: null, version: 1 });
    expect(info.cpu).toEqual({ value: null, version: 1 });
    const root = r.info("5:memory:/\n0::/\n") as any;
    expect(root.memory).toEqual({ value: null, version: 1 });
  });
  test("unreadable cgroup file is unknown with its reason", () => {
    t.file("/sys/fs/cgroup/pids/locked/pids.max.errno", "EACCES\n");
    const info = r.info("4:pids:/locked\n0::/\n") as any;
    expect(info.pids).toEqual({ unknown: "EACCES: run as root" });
  });
});
