// sys/cpus.ts: which masks keep the jail's init off the supervisor's CPU (pure logic).
import { describe, expect, test } from "bun:test";
import { parseCpuList, spreadMasks } from "../../sys/cpus.ts";

const mask = (...cpus: number[]) => {
  const m = new Uint8Array(8);
  for (const c of cpus) m[c >> 3]! |= 1 << (c & 7);
  return m;
};

describe("parseCpuList", () => {
  test("ranges and single CPUs, as the kernel writes them", () => {
    expect(parseCpuList("0-1\n")).toEqual([0, 1]);
    expect(parseCpuList("0,2-4,7")).toEqual([0, 2, 3, 4, 7]);
    expect(parseCpuList("5")).toEqual([5]);
  });
  test("anything else is refused", () => {
    for (const bad of ["", "a", "3-1", "0-", "1,,2"]) expect(parseCpuList(bad)).toBeNull();
  });
});

describe("spreadMasks", () => {
  test("every allowed CPU but this one, then every CPU (all bits, the mask's own length), and this one alone", () => {
    const s = spreadMasks(mask(0, 1, 2, 3), [0, 1, 2, 3], 2)!;
    expect(Array.from(s.away)).toEqual(Array.from(mask(0, 1, 3)));
    expect(Array.from(s.every)).toEqual(Array(8).fill(0xff));
    expect(Array.from(s.home)).toEqual(Array.from(mask(2)));
    // CPUs above 7: the right byte
    expect(Array.from(spreadMasks(mask(0, 9), [0, 9], 9)!.away)).toEqual(Array.from(mask(0)));
    expect(Array.from(spreadMasks(mask(0, 9), [0, 9], 9)!.home)).toEqual(Array.from(mask(9)));
  });
  test("nothing to spread: one CPU, a caller held to some CPUs, or a CPU it does not run on", () => {
    expect(spreadMasks(mask(0), [0], 0)).toBeNull();
    expect(spreadMasks(mask(0, 1), [0, 1, 2, 3], 0)).toBeNull(); // taskset -c 0,1 on four CPUs: keep it
    expect(spreadMasks(mask(0, 1), [0, 1], 5)).toBeNull();
    expect(spreadMasks(mask(0, 1), [0, 1], 1)).not.toBeNull(); // control
  });
});
