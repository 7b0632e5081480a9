// Pure parts of the systemd placement (sys/cgroup/systemd.ts): which unit a cgroup path belongs
// to, and the limits as unit properties for StartTransientUnit. The real thing (busctl, systemd,
// delegation) is exercised in Debian guests by the VM lane (docs/TESTING.md).
import { describe, expect, test } from "bun:test";
import { cpuMask, scopeProperties, unitOf } from "../../sys/cgroup/systemd.ts";
import { cgroupPlanFromOptions } from "../../sys/cgroup/plan.ts";

describe("unitOf", () => {
  test("system units, innermost wins", () => {
    expect(unitOf("/system.slice/nginx.service")).toEqual({ name: "nginx.service", user: false });
    expect(unitOf("/system.slice/app.service/jailx-12-sup")).toEqual({ name: "app.service", user: false });
    expect(unitOf("/user.slice/user-0.slice/session-3.scope")).toEqual({ name: "session-3.scope", user: false });
  });
  test("units of a user manager", () => {
    expect(unitOf("/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope")).toEqual({ name: "run-u7.scope", user: true });
    // user@1000.service itself is PID 1's unit
    expect(unitOf("/user.slice/user-1000.slice/user@1000.service")).toEqual({ name: "user@1000.service", user: false });
  });
  test("no unit: the root, a slice", () => {
    expect(unitOf("/")).toBeNull();
    expect(unitOf("/system.slice")).toBeNull();
  });
});

test("cpuMask: a CPU list → little-endian bytes", () => {
  expect(cpuMask("0")).toEqual([1]);
  expect(cpuMask("0,2-3")).toEqual([0b1101]);
  expect(cpuMask("9")).toEqual([0, 2]);
});

test("scopeProperties: each limit as the systemd property with the same value jailx writes", () => {
  const plan = cgroupPlanFromOptions({ memory: "64m", "memory-swap": "96m", pids: "32", cpus: "0.5", "cpu-weight": "200", cpuset: "0-1", "io-weight": "300" })!;
  const props = Object.fromEntries(scopeProperties(plan, [11, 12], 10).map(([name, , ...v]) => [name, v]));
  expect(props.PIDs).toEqual(["2", "11", "12"]);
  expect(props.Delegate).toEqual(["true"]);
  expect(props.OOMPolicy).toEqual(["continue"]);
  expect(props.MemoryMax).toEqual([String(64 << 20)]);
  expect(props.MemorySwapMax).toEqual([String(32 << 20)]);
  expect(props.TasksMax).toEqual(["32"]);
  expect(props.CPUQuotaPerSecUSec).toEqual(["500000"]);
  expect(props.CPUWeight).toEqual(["200"]);
  expect(props.IOWeight).toEqual(["300"]);
  expect(props.AllowedCPUs).toEqual(["1", "3"]);
  // no flag, no property
  const only = scopeProperties(cgroupPlanFromOptions({ pids: "5" })!, [1], 2).map(([n]) => n);
  expect(only).not.toContain("MemoryMax");
  expect(only).toContain("TasksMax");
});
