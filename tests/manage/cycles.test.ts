// 200 start/exec/stop cycles of a detached jail with a cgroup leave no process, mount, cgroup or
// live state entry behind (exited records are kept, at most KEEP_EXITED). No sleeps: each step
// returns only once its work is done.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostMounts, jailx, jailxCgroups, marker, processesWith } from "../helpers/jail.ts";
import { KEEP_EXITED } from "../../jail/state.ts";

const root = mkdtempSync("/tmp/jx-cycles-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("200 × (run -d, exec, stop): nothing left", () => {
  const dir = `${root}/state`;
  mkdirSync(dir, { mode: 0o700 });
  const env = { JAILX_STATE_DIR: dir };
  const m = marker("cyc");
  const mountsBefore = hostMounts().sort();
  const supervisors: number[] = [];
  for (let i = 0; i < 200; i++) {
    const name = `c${i}`;
    const run = jailx(["run", "-d", "--name", name, "--pids", "20", "--setenv", `M=${m}`, "--", "/bin/sleep", "1000"], { env });
    if (run.code !== 0) throw new Error(`cycle ${i}: run -d: ${run.code} ${run.stderr}`);
    supervisors.push(JSON.parse(readFileSync(`${dir}/${name}.json`, "utf8")).supervisor.pid);
    const ex = jailx(["exec", name, "--", "/bin/sh", "-c", "exit 3"], { env });
    if (ex.code !== 3) throw new Error(`cycle ${i}: exec: ${ex.code} ${ex.stderr}`);
    const stop = jailx(["stop", name], { env });
    if (stop.code !== 0) throw new Error(`cycle ${i}: stop: ${stop.code} ${stop.stderr}`);
  }
  const files = readdirSync(dir);
  expect(files.filter((f) => f.endsWith(".json") && !f.endsWith(".exited.json"))).toEqual([]);
  expect(files.filter((f) => f.endsWith(".exited.json")).length).toBeLessThanOrEqual(KEEP_EXITED);
  expect(files.filter((f) => f.startsWith(".tmp-"))).toEqual([]);
  const ours = new Set(supervisors.map(String));
  expect(jailxCgroups().filter((c) => ours.has(/jailx-(\d+)-/.exec(c)?.[1] ?? ""))).toEqual([]);
  expect(hostMounts().sort()).toEqual(mountsBefore);
  for (const pid of supervisors) expect(readdirSync("/proc").includes(String(pid)) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)).toBe(false);
  expect(processesWith(dir)).toEqual([]);
  expect(processesWith(m)).toEqual([]);
}, 600_000);
