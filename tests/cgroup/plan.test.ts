// cgroupPlanFromOptions: flags → numbers, and one-line errors that name the bad value and the fix.
import { describe, expect, test } from "bun:test";
import { cgroupPlanFromOptions, formatBytes, parseSize, withoutDefaults } from "../../sys/cgroup/plan.ts";
import { ioWeightToBlkio, weightToShares } from "../../sys/cgroup/limits.ts";
import { UsageError } from "../../sys/errors.ts";

describe("parseSize", () => {
  test.each([
    ["64m", 64 * 2 ** 20],
    ["1g", 2 ** 30],
    ["1.5G", 1.5 * 2 ** 30],
    ["512k", 512 * 1024],
    ["65536", 65536],
    ["64MiB", 64 * 2 ** 20],
    ["2t", 2 * 2 ** 40],
  ])("%s", (text, bytes) => expect(parseSize(text)).toBe(bytes));
  test.each(["12q", "", "m", "-5m", "1e9", "0x10"])("rejects %p", (text) => expect(parseSize(text)).toBeNull());
});

test("formatBytes", () => {
  expect(formatBytes(64 * 2 ** 20)).toBe("64 MiB");
  expect(formatBytes(1.5 * 2 ** 30)).toBe("1.5 GiB");
  expect(formatBytes(100)).toBe("100 bytes");
});

describe("cgroupPlanFromOptions", () => {
  test("no limit flag: no cgroup", () => {
    expect(cgroupPlanFromOptions({})).toBeNull();
    expect(cgroupPlanFromOptions({ verbose: true, timeout: "5s" })).toBeNull();
  });

  test("every flag parsed to numbers", () => {
    const plan = cgroupPlanFromOptions({
      memory: "64m", "memory-swap": "128m", cpus: "0.2", "cpu-weight": "200", cpuset: "0,2-3", pids: "32", "io-weight": "500", "cgroup-parent": "/jailx.slice",
    });
    expect(plan).toEqual({
      memoryBytes: 64 * 2 ** 20, memorySwapBytes: 128 * 2 ** 20, cpuQuotaUs: 20000, cpuPeriodUs: 100000, cpuWeight: 200,
      cpuset: "0,2-3", pidsMax: 32, ioWeight: 500, parent: "/jailx.slice", controllers: ["memory", "cpu", "cpuset", "pids", "io"],
    });
    // plain JSON data (printed by --dry-run)
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  test("defaults: --pids from the defaults is marked so; a flag or 'unlimited' overrides it; withoutDefaults drops it", () => {
    const d = cgroupPlanFromOptions({}, { pids: 2048 });
    expect(d).toEqual({ pidsMax: 2048, controllers: ["pids"], defaults: ["pids"] });
    expect(withoutDefaults(d!)).toBeNull();
    expect(cgroupPlanFromOptions({ pids: "unlimited" }, { pids: 2048 })).toBeNull();
    expect(cgroupPlanFromOptions({ pids: "99" }, { pids: 2048 })).toEqual({ pidsMax: 99, controllers: ["pids"] });
    const both = cgroupPlanFromOptions({ memory: "64m" }, { pids: 2048 })!;
    expect(both.defaults).toEqual(["pids"]);
    expect(withoutDefaults(both)).toEqual({ memoryBytes: 64 * 2 ** 20, controllers: ["memory"] });
    // a default alone with --cgroup-parent: nothing left but the parent
    expect(withoutDefaults(cgroupPlanFromOptions({ "cgroup-parent": "/x" }, { pids: 2048 })!)).toBeNull();
  });

  test("only the needed controllers", () => {
    expect(cgroupPlanFromOptions({ pids: "10" })!.controllers).toEqual(["pids"]);
    expect(cgroupPlanFromOptions({ "cpu-weight": "10" })!.controllers).toEqual(["cpu"]);
  });

  test("unlimited swap", () => {
    expect(cgroupPlanFromOptions({ memory: "1g", "memory-swap": "-1" })!.memorySwapBytes).toBe("max");
    expect(cgroupPlanFromOptions({ memory: "1g", "memory-swap": "max" })!.memorySwapBytes).toBe("max");
  });

  test.each([
    [{ memory: "12q" }, "--memory '12q': use a size like 64m or 1g"],
    [{ memory: "100k" }, "--memory '100k': at least 1m"],
    [{ "memory-swap": "1g" }, "give --memory too"],
    [{ memory: "1g", "memory-swap": "512m" }, "must be at least --memory (1g)"],
    [{ memory: "1g", "memory-swap": "lots" }, "--memory-swap 'lots'"],
    [{ cpus: "0" }, "--cpus '0': use a number of CPUs of at least 0.01"],
    [{ cpus: "half" }, "--cpus 'half'"],
    [{ cpus: "0.001" }, "--cpus '0.001'"],
    [{ "cpu-weight": "0" }, "--cpu-weight '0': use a whole number from 1 to 10000"],
    [{ "cpu-weight": "10001" }, "--cpu-weight '10001'"],
    [{ cpuset: "0-" }, "--cpuset '0-': use a CPU list like 0 or 0,2-3"],
    [{ pids: "-1" }, "--pids '-1': use a whole number from 1"],
    [{ pids: "1.5" }, "--pids '1.5'"],
    [{ "io-weight": "x" }, "--io-weight 'x'"],
    [{ "cgroup-parent": "/x" }, "--cgroup-parent '/x': it only applies with a limit flag"],
    [{ memory: ["1g", "2g"] }, "--memory: give it once"],
  ] as const)("%p → %s", (opts, message) => {
    expect(() => cgroupPlanFromOptions(opts as never)).toThrow(UsageError);
    expect(() => cgroupPlanFromOptions(opts as never)).toThrow(message);
  });
});

test("weight conversions keep the ends of the ranges", () => {
  expect(weightToShares(1)).toBe(2);
  expect(weightToShares(10000)).toBe(262144);
  expect(ioWeightToBlkio(1)).toBe(10);
  expect(ioWeightToBlkio(10000)).toBe(1000);
});
