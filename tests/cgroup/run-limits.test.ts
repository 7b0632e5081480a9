// End to end through the compiled `jailx run`: real limits on the real kernel, and cleanup after
// normal exits and after the supervisor is SIGKILLed. Observations come from the jail's cgroup
// counters (pids.events, cpuacct.usage / cpu.stat, memory OOM), never from wall-clock time.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { detectCgroupLayout, type CgroupHierarchy } from "../../sys/cgroup/index.ts";
import { callerPathIn, dirOf, parseSelfCgroup } from "../../sys/cgroup/layout.ts";
import { JAILX as BUILT } from "../helpers/build.ts";

// A private copy: other people rebuild dist/jailx while these tests run (execve of a replaced,
// deleted binary fails).
const JAILX = `${fs.realpathSync(process.env.TMPDIR ?? "/tmp")}/jailx-cgroup-test-${process.pid}`;
beforeAll(() => fs.copyFileSync(BUILT, JAILX));
afterAll(() => fs.rmSync(JAILX, { force: true }));

const layout = detectCgroupLayout();
const self = parseSelfCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
const spawned: { pid: number; kill(sig?: number): void; exitCode: number | null }[] = [];

afterEach(() => {
  // A jailx we started and that is still running: SIGTERM ends its jail and lets it clean up.
  for (const p of spawned.splice(0)) if (p.exitCode === null) p.kill(15);
});

function run(args: string[]) {
  const p = Bun.spawn([JAILX, "run", ...args], { cwd: "/", stdout: "pipe", stderr: "pipe", env: cleanEnv() });
  spawned.push(p);
  return p;
}

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BUN_") && !k.startsWith("MIMALLOC_"))) as Record<string, string>;
}

/** The jail cgroup directories of the jailx whose pid is `pid` (children of this test's cgroups). */
function jailDirs(pid: number): string[] {
  const out: string[] = [];
  for (const h of layout.hierarchies as CgroupHierarchy[]) {
    if (h.name) continue;
    const caller = callerPathIn(h, self);
    const dir = caller === null ? null : dirOf(h, caller);
    if (!dir || !fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) if (name.startsWith(`jailx-${pid}-`)) out.push(`${dir}/${name}`);
  }
  return out;
}

function fileOf(pid: number, name: string): string | undefined {
  return jailDirs(pid).map((d) => `${d}/${name}`).find((f) => fs.existsSync(f));
}

const read = (f: string) => fs.readFileSync(f, "utf8").trim();

/** Bounded polling for a condition (synchronisation on state, not a timing assertion). */
async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

function safeRead(f: string | undefined): string {
  try {
    return f ? read(f) : "";
  } catch {
    return "";
  }
}

describe("jailx run with cgroup limits", () => {
  test("--memory 64m: a memory hog is OOM-killed, reported in one line, exit 137", async () => {
    const p = run(["--memory", "64m", "--", "awk", 'BEGIN { s = "x"; while (1) s = s s }']);
    expect(await p.exited).toBe(137);
    const stderr = await new Response(p.stderr).text();
    expect(stderr.trim()).toBe("jailx: killed: out of memory, limit 64 MiB");
    expect(jailDirs(p.pid)).toEqual([]);
  });

  test("--pids 32: a fork bomb stays contained and the host stays usable", async () => {
    // The shell forks once (the bomb's root) before any bomb process exists, then becomes sleep.
    const p = run(["--pids", "32", "--", "sh", "-c", "(f() { f | f & }; f) & exec sleep 1000"]);
    await waitFor("the pids limit to be hit", () => /^max [1-9]/m.test(safeRead(fileOf(p.pid, "pids.events"))));
    expect(Number(safeRead(fileOf(p.pid, "pids.current")))).toBeLessThanOrEqual(32);
    expect(Bun.spawnSync(["sh", "-c", "true & true & wait"]).exitCode).toBe(0); // the host can still fork
    p.kill(15);
    expect(await p.exited).toBe(143);
    expect(jailDirs(p.pid)).toEqual([]);
  }, 60_000);

  test("--cpus 0.2: a CPU burner gets about a fifth of a CPU (usage counters per CFS period)", async () => {
    const p = run(["--cpus", "0.2", "--", "sh", "-c", "while :; do :; done"]);
    // v1: cpuacct.usage (ns) with cpu.stat nr_periods; v2: cpu.stat has both.
    const usageUs = () => {
      const acct = fileOf(p.pid, "cpuacct.usage");
      if (acct) return Number(safeRead(acct)) / 1000;
      return Number(/usage_usec (\d+)/.exec(safeRead(fileOf(p.pid, "cpu.stat")))?.[1] ?? 0);
    };
    await waitFor("500 ms of CPU used", () => usageUs() >= 500_000, 30_000);
    const stat = safeRead(fileOf(p.pid, "cpu.stat"));
    const used = usageUs();
    const periods = Number(/nr_periods (\d+)/.exec(stat)![1]);
    const share = used / (periods * 100_000);
    console.error(`--cpus 0.2: ${Math.round(used / 1000)} ms CPU over ${periods} periods → ${share.toFixed(3)} CPU`);
    expect(Number(/nr_throttled (\d+)/.exec(stat)![1])).toBeGreaterThan(0);
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
    p.kill(15);
    await p.exited;
    expect(jailDirs(p.pid)).toEqual([]);
  }, 60_000);

  test("--timeout ends a sleeper: exit 124 and one line", async () => {
    const p = run(["--timeout", "1s", "--pids", "8", "--", "sleep", "1000"]);
    expect(await p.exited).toBe(124);
    expect((await new Response(p.stderr).text()).trim()).toBe("jailx: killed: timeout after 1s");
    expect(jailDirs(p.pid)).toEqual([]);
  });

  test("rootless: limits refused without delegation; applied in a cgroup chowned to the user", async () => {
    const asUser = (args: string[]) => {
      const p = Bun.spawn(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", JAILX, "run", ...args], { cwd: "/", stdout: "pipe", stderr: "pipe", env: cleanEnv() });
      spawned.push(p);
      return p;
    };
    const refused = asUser(["--memory", "64m", "--", "true"]);
    expect(await refused.exited).toBe(125);
    expect(await new Response(refused.stderr).text()).toMatch(/^jailx: --memory: cgroup .* is not delegated to uid 1000 \(not writable\)\njailx: hint: /);

    const mem = layout.hierarchies.find((h) => h.controllers.includes("memory"))!;
    const delegated = `${dirOf(mem, callerPathIn(mem, self)!)}/rootless-test-${process.pid}`;
    fs.mkdirSync(delegated);
    try {
      for (const f of ["", "/cgroup.procs", mem.version === 1 ? "/tasks" : "/cgroup.subtree_control"]) fs.chownSync(delegated + f, 1000, 1000);
      const hog = asUser(["--memory", "64m", "--cgroup-parent", `rootless-test-${process.pid}`, "--", "awk", 'BEGIN { s = "x"; while (1) s = s s }']);
      expect(await hog.exited).toBe(137);
      expect((await new Response(hog.stderr).text()).trim()).toBe("jailx: killed: out of memory, limit 64 MiB");
      expect(fs.readdirSync(delegated).filter((n) => n.startsWith("jailx-"))).toEqual([]);
    } finally {
      fs.rmdirSync(delegated);
    }
  }, 60_000);

  test("200 runs leave no jail cgroup behind", async () => {
    const pids: number[] = [];
    for (let batch = 0; batch < 25; batch++) {
      const ps = Array.from({ length: 8 }, () => run(["--pids", "16", "--memory", "64m", "--", "true"]));
      for (const p of ps) {
        const code = await p.exited;
        if (code !== 0) throw new Error(`run ${pids.length}: exit ${code}: ${await new Response(p.stderr).text()}`);
        pids.push(p.pid);
      }
    }
    expect(pids).toHaveLength(200);
    expect(pids.flatMap(jailDirs)).toEqual([]);
  }, 300_000);

  test("a run removes a stale jail cgroup (its creator gone, no process in it) and leaves a live one", async () => {
    // A supervisor and guard both killed leave jailx-<pid>-<random>: made here by hand, named
    // after a pid that has ended, beside one named after a live process (this test's).
    const gone = Bun.spawnSync(["true"]).pid;
    const dirs = (pid: number) => (layout.hierarchies as CgroupHierarchy[]).flatMap((h) => {
      const caller = h.name || !h.controllers.includes("pids") ? null : callerPathIn(h, self);
      const dir = caller === null ? null : dirOf(h, caller);
      return dir && fs.existsSync(dir) ? [`${dir}/jailx-${pid}-tidytest`] : [];
    });
    const stale = dirs(gone), live = dirs(process.pid);
    expect(stale.length).toBeGreaterThan(0);
    for (const d of [...stale, ...live]) fs.mkdirSync(d);
    try {
      const p = run(["--pids", "16", "--", "true"]);
      expect(await p.exited).toBe(0);
      expect(stale.filter((d) => fs.existsSync(d))).toEqual([]);
      expect(live.filter((d) => fs.existsSync(d))).toEqual(live); // control: its creator lives
    } finally {
      for (const d of [...stale, ...live]) if (fs.existsSync(d)) fs.rmdirSync(d);
    }
  });

  test("20 supervisors killed with SIGKILL leave no jail cgroup and no process", async () => {
    for (let batch = 0; batch < 4; batch++) {
      const ps = Array.from({ length: 5 }, () => run(["--pids", "16", "--memory", "64m", "--", "sleep", "1000"]));
      const inside: number[] = [];
      for (const p of ps) {
        await waitFor("the jail to start", () => safeRead(fileOf(p.pid, "cgroup.procs")) !== "" || p.exitCode !== null);
        if (p.exitCode !== null) throw new Error(`jailx exited early (${p.exitCode}): ${await new Response(p.stderr).text()}`);
        inside.push(...safeRead(fileOf(p.pid, "cgroup.procs")).split("\n").map(Number));
      }
      for (const p of ps) p.kill(9);
      for (const p of ps) expect(await p.exited).toBe(137);
      // The cleanup guard (its own process) notices the supervisor's death, kills and removes.
      await waitFor("the guards to clean up", () => ps.every((p) => jailDirs(p.pid).length === 0));
      await waitFor("the jailed processes to be gone", () => inside.every((pid) => !fs.existsSync(`/proc/${pid}`)));
    }
  }, 120_000);
});

describe("default limits (no flag given)", () => {
  test("a fork bomb in a default jail stops at the default 2048 tasks; the host can still fork", async () => {
    const p = run(["--", "sh", "-c", "(f() { f | f & }; f) & exec sleep 1000"]);
    await waitFor("the pids limit to be hit", () => /^max [1-9]/m.test(safeRead(fileOf(p.pid, "pids.events"))), 60_000);
    expect(safeRead(fileOf(p.pid, "pids.max"))).toBe("2048");
    expect(Number(safeRead(fileOf(p.pid, "pids.current")))).toBeLessThanOrEqual(2048);
    expect(Bun.spawnSync(["sh", "-c", "true & true & wait"]).exitCode).toBe(0); // the host can still fork
    p.kill(15);
    expect(await p.exited).toBe(143);
    expect(jailDirs(p.pid)).toEqual([]);
  }, 120_000);

  test("--pids unlimited removes the default: no jail cgroup at all (control: a default run has one)", async () => {
    const withDefault = run(["--", "sleep", "1000"]);
    await waitFor("the default jail's cgroup", () => safeRead(fileOf(withDefault.pid, "pids.max")) === "2048" || withDefault.exitCode !== null);
    expect(withDefault.exitCode).toBeNull();
    const unlimited = run(["--pids", "unlimited", "--", "sh", "-c", "echo started; exec sleep 1000"]);
    const reader = (unlimited.stdout as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("started\n");
    expect(jailDirs(unlimited.pid)).toEqual([]);
    withDefault.kill(15);
    unlimited.kill(15);
    await Promise.all([withDefault.exited, unlimited.exited]);
    expect(jailDirs(withDefault.pid)).toEqual([]);
  }, 60_000);

  test("no cgroup filesystem at all (unmounted in a private mount namespace): the default is skipped, an explicit --pids fails", () => {
    const inNs = (args: string[]) => Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", 'umount -l /sys/fs/cgroup && exec "$@"', "sh", JAILX, "run", ...args], { cwd: "/", env: cleanEnv() });
    const plain = inNs(["--", "echo", "ran"]);
    expect(plain.stderr.toString()).toBe("");
    expect(plain.stdout.toString()).toBe("ran\n");
    expect(plain.exitCode).toBe(0);
    const explicit = inNs(["--pids", "5", "--", "echo", "ran"]);
    expect(explicit.exitCode).toBe(125);
    expect(explicit.stdout.toString()).toBe("");
    expect(explicit.stderr.toString()).toContain("no cgroup filesystem is mounted");
  });

  test("rootless without delegation: the default is skipped, the run works; --verbose says so in one line; an explicit --pids still fails", async () => {
    const asUser = (args: string[]) => {
      const p = Bun.spawn(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", JAILX, "run", ...args], { cwd: "/", stdout: "pipe", stderr: "pipe", env: cleanEnv() });
      spawned.push(p);
      return p;
    };
    const plain = asUser(["--", "sh", "-c", "echo ok"]);
    expect(await plain.exited).toBe(0);
    expect(await new Response(plain.stdout).text()).toBe("ok\n");
    expect(await new Response(plain.stderr).text()).toBe("");
    const verbose = asUser(["--verbose", "--", "true"]);
    expect(await verbose.exited).toBe(0);
    const notes = (await new Response(verbose.stderr).text()).split("\n").filter((l) => l.includes("--pids"));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("the default --pids 2048 is not applied (");
    expect(notes[0]).toContain("not delegated to uid 1000");
    const explicit = asUser(["--pids", "100", "--", "true"]);
    expect(await explicit.exited).toBe(125);
    expect(await new Response(explicit.stderr).text()).toMatch(/^jailx: --pids: cgroup .* is not delegated to uid 1000/);
  }, 60_000);
});
