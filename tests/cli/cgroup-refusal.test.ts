// The rootless cgroup refusal: one line saying what is wrong (the flag, the cgroup, the uid),
// then a short hint on its own line (it was one 308-character line).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { jailx, lines, type RunOpts } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";

let rl: Rootless;
let as: RunOpts;
beforeAll(() => {
  rl = installRootless();
  as = asUser(rl);
});
afterAll(() => rl?.cleanup());

// Probe: is the memory cgroup above us writable by the test user? Then there is no refusal to see.
const cgroupLine = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => /^\d+:[^:]*\bmemory\b[^:]*:/.test(l) || l.startsWith("0::"));
const delegated = Bun.spawnSync(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "test", "-w",
  cgroupLine?.startsWith("0::") ? `/sys/fs/cgroup${cgroupLine.slice(3)}` : `/sys/fs/cgroup/memory${cgroupLine?.split(":")[2] ?? ""}`]).exitCode === 0;
if (delegated) console.warn("SKIP cgroup refusal: the caller's memory cgroup is writable by other users here (delegated): no refusal to check");

test.skipIf(delegated)("jailx run --memory as a user without delegation: a message line and a hint line, exit 125", () => {
  const r = jailx(["run", "--memory", "64m", "--", "/bin/true"], as);
  expect(r.code).toBe(125);
  const [msg, hint, ...rest] = lines(r.stderr);
  expect(rest).toEqual([]);
  expect(msg).toMatch(new RegExp(`^jailx: --memory: cgroup \\S+ \\((v2|v1 [a-z,=]+)\\) is not delegated to uid ${rl.user.uid} \\(not writable\\)$`));
  // the message is the path plus about 75 characters; the hint is short and names the way out
  expect(msg!.length - msg!.split(" ")[3]!.length).toBeLessThanOrEqual(90);
  expect(hint).toMatch(/^jailx: hint: .*--cgroup-parent/);
  expect(hint!.length).toBeLessThanOrEqual(160);
  expect(r.stdout).toBe("");
});
