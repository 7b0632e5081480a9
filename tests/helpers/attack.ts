// Shared pieces of the attack tests (tests/run/attacks*.test.ts): C probes from
// tests/run/attack-probes compiled with gcc into a temp dir, run inside a jail with that dir
// bound read-only at /probes, and the two "kill the supervisor" scenarios.
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { i386Entry } from "./kernel.ts";
import { LiveJail, ROOT, type Result, type RunOpts, cmdline, descendants, jailx, jailxCgroups, lines, processesWith, waitUntil } from "./jail.ts";
import { TABLES, currentMachine } from "../../sys/seccomp/tables.ts";

export const PROBES = join(ROOT, "tests/run/attack-probes");
export const PROBE_NAMES = ["syscalls", "outlive", "setuid-bits"];

/** Compile the C probes once per test file (beforeAll) and remove them afterwards. */
export function useProbes(): { readonly dir: string } {
  const state = { dir: "" };
  beforeAll(() => {
    state.dir = mkdtempSync("/tmp/jx-attack-");
    // The rootless tests' user must reach the probes.
    chmodSync(state.dir, 0o755);
    for (const name of PROBE_NAMES) {
      const r = Bun.spawnSync(["gcc", "-O1", "-Wall", "-o", `${state.dir}/${name}`, `${PROBES}/${name}.c`], { stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`gcc ${name}.c failed:\n${r.stderr.toString()}`);
    }
  });
  afterAll(() => {
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}

/** Run a compiled probe inside a jail, the probe directory bound read-only at /probes. */
export function probe(dir: string, name: string, args: string[] = [], flags: string[] = [], o: RunOpts = {}): Result {
  return jailx(["run", "--ro-bind", `${dir}:/probes`, ...flags, "--", `/probes/${name}`, ...args], o);
}

/** `name=result` lines of a probe as a map. */
export function results(stdout: string): Map<string, string> {
  return new Map(lines(stdout).map((l) => [l.slice(0, l.lastIndexOf("=")), l.slice(l.lastIndexOf("=") + 1)]));
}

/** Arguments for the syscalls probe: its i386 calls only where the kernel has an i386 entry. */
export function syscallsProbeArgs(): string[] {
  return i386Entry().ok ? [] : ["no-i386"];
}

/** Every line of the syscalls probe is a refusal: EPERM natively, ENOSYS for clone3, x32, i386. */
export function expectSyscallsRefused(r: { code: number; stdout: string }): void {
  expect(r.code).toBe(0);
  const got = results(r.stdout);
  expect(got.size).toBeGreaterThan(55);
  expect([...got].filter(([, v]) => v === "OK").map(([k]) => k)).toEqual([]);
  // clone3 gets ENOSYS so that libc falls back to clone; the x32 and i386 ABIs are refused whole.
  for (const [name, v] of got) {
    if (name.startsWith("i386 ") || name.startsWith("x32 ") || name.startsWith("clone3")) expect(`${name}=${v}`).toBe(`${name}=errno:38`);
    else expect(`${name}=${v}`).toBe(`${name}=errno:1`);
  }
}

/** Whether a process runs (a zombie waiting for the host's PID 1 to reap it does not count). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !"ZX".includes(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

/** Start the outlive probe, kill -9 the supervisor once it is ready, and expect nothing left. */
export async function outliveSupervisor(dir: string, flags: string[], probeArgs: string[], o: RunOpts = {}): Promise<void> {
  const jail = new LiveJail(["run", "--ro-bind", `${dir}:/probes`, ...flags, "--", "/probes/outlive", ...probeArgs], o);
  let all: number[] = [];
  try {
    await jail.waitForLine(/^ready$/);
    all = descendants(jail.pid);
    const probes = all.filter((p) => cmdline(p)?.[0] === "/probes/outlive");
    expect(probes.length).toBe(probeArgs.includes("self") ? 1 : 2);
    jail.kill("SIGKILL");
    await jail.exit();
    // The kernel ends a pid namespace asynchronously: poll /proc, bounded.
    await waitUntil(() => all.every((p) => !running(p)), 20_000, "every process of the jail to end");
  } finally {
    await jail.dispose();
    // On failure, leave no survivor behind.
    for (const p of all) if (running(p)) process.kill(p, "SIGKILL");
  }
}

/**
 * Start a jail with --verbose, SIGKILL the supervisor as soon as it logs `step`, and expect no
 * process carrying the run's marker and no cgroup of that supervisor to remain (the launcher's
 * steps go to stderr in order).
 */
export async function killDuringSetup(step: string, flags: string[], o: RunOpts = {}): Promise<void> {
  const mark = `setup-kill-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const p = Bun.spawn([...(o.wrap ?? []), o.binary ?? join(ROOT, "dist/jailx"), "run", "--verbose", ...flags, "--", "/bin/sh", "-c", `: ${mark}; (sleep 60; : ${mark}) & sleep 60`], {
    cwd: "/", env: o.env, stdin: "ignore", stdout: "ignore", stderr: "pipe",
  });
  try {
    const reader = (p.stderr as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes(step)) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`the supervisor ended before '${step}':\n${text}`);
      text += new TextDecoder().decode(chunk.value);
    }
    p.kill("SIGKILL");
    await p.exited;
    await waitUntil(() => processesWith(mark).length === 0, 20_000, `the jail's processes to end after a kill at '${step}'`);
    // and the guard removes the jail's cgroups (it acts once the supervisor is gone)
    const mine = () => jailxCgroups().filter((d) => d.split("/").at(-1)!.startsWith(`jailx-${p.pid}-`));
    await waitUntil(() => mine().length === 0, 20_000, `the jail's cgroups (${mine().join(", ")}) to be removed after a kill at '${step}'`);
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await p.exited;
    for (const pid of processesWith(mark)) process.kill(pid, "SIGKILL");
  }
}

/**
 * The supervisor SIGKILLed at `step` while the jail's init has not run its first op yet, an order
 * forced with ptrace (tests/helpers/hold-init.py: the init, and the cgroup placer started after
 * it, are held until the supervisor's threads are gone; `order` is whether the cleanup guard or
 * the placer acts first). The init must end by itself, and nothing may be left: no process of
 * the run, no cgroup of its supervisor.
 */
export async function killBeforeInitRuns(step: string, order: "guard-first" | "placer-first", flags: string[] = []): Promise<{ held: number[]; initState: string }> {
  const mark = `hold-init-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const table = TABLES[currentMachine()];
  const nrs = Object.fromEntries(["write", "futex", "openat", "unlinkat"].map((n) => [n, table.get(n)]));
  const p = Bun.spawn(["python3", join(ROOT, "tests/helpers/hold-init.py"), step, order, JSON.stringify(nrs), "--", join(ROOT, "dist/jailx"), "run", "--verbose", ...flags, "--", "/bin/sh", "-c", `: ${mark}; (sleep 60; : ${mark}) & sleep 60`], {
    cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  let got: { error?: string; supervisor: number; held: number[]; initState: string; initEnded: boolean; guardEnded: boolean };
  const left = { processes: [] as number[], cgroups: [] as string[] };
  try {
    got = JSON.parse(out);
    left.processes = processesWith(mark);
    left.cgroups = jailxCgroups().filter((d) => d.split("/").at(-1)!.startsWith(`jailx-${got.supervisor}-`));
  } finally {
    // What a failure leaves is removed here: its processes, then (once they are gone) its cgroups.
    for (const pid of processesWith(mark)) process.kill(pid, "SIGKILL");
    for (const dir of left.cgroups) await waitUntil(() => removed(dir), 10_000, `${dir} to be removed`);
  }
  expect(got.error, `${out}${err}`).toBeUndefined();
  expect({ initEnded: got.initEnded, guardEnded: got.guardEnded, ...left }).toEqual({ initEnded: true, guardEnded: true, processes: [], cgroups: [] });
  return got;
}

function removed(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT";
  }
}

export const SETUP_STEPS = ["clone into new namespaces", "wait for the program", "jail: set up the namespaces", "jail: start the program", "program: execve"];
