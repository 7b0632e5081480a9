// The output of `jailx __stage-selftest` (cmd/stage-selftest.ts), checked the same way for the
// native binary (tests/run/stage.test.ts) and the foreign ones (tests/run/foreign-cpu.test.ts).
import { expect } from "bun:test";

export const SELFTEST_NAME = "__stage-selftest: the stage clones, ITOAs the child's pid into a pipe, exits 7, reports an untolerated failure, and spawns a child on its own stack";

export function expectSelftest(r: { code: number; stdout: string; stderr: string }, machine: string, userns = false): void {
  expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  expect(r.stdout.includes(" (user namespace): ")).toBe(userns);
  const m = r.stdout.match(/^stage selftest (\S+)(?: \(user namespace\))?: child (\d+) wrote "(\d+)" and exited (\d+); failing child exited (\d+), report op (\d+) errno (\d+); spawned child exited (\d+) and stored (\d+): ok$/m);
  expect(m, r.stdout).not.toBeNull();
  const [, arch, pid, wrote, code, failCode, index, errno, spawnCode, stored] = m!;
  // The child's own getpid, ITOA'd by the stage, must be the pid the clone returned.
  expect({ arch, wrote, code, failCode, index, errno, spawnCode }).toEqual({ arch: machine, wrote: pid!, code: "7", failCode: "9", index: "1", errno: "9", spawnCode: "5" });
  // Natively the spawned child shares our memory (CLONE_VM); qemu-user runs a vfork as a fork.
  expect(["41", "0"]).toContain(stored!);
  expect(Number(pid)).not.toBe(process.pid);
}
