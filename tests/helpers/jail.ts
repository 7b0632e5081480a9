// Shared helpers for the real-kernel tests of `jailx run` (tests/run). They run the compiled
// binary as a subprocess (bun test is multi-threaded; the launcher needs its own process) and
// observe the jail from outside through /proc.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { ensureBuilt, JAILX, ROOT } from "./build.ts";

export { JAILX, ROOT };
ensureBuilt();

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** a prefix before the binary, e.g. setpriv for the rootless user */
  wrap?: string[];
  binary?: string;
  timeoutMs?: number;
  /** false: start from `env` alone instead of the test process's environment */
  inheritEnv?: boolean;
}

/** Environment for the binary: the test process's, minus Bun's knobs of the test runner. */
export function baseEnv(extra: Record<string, string | undefined> = {}, inherit = true): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...(inherit ? process.env : {}), ...extra })) if (v !== undefined) env[k] = v;
  return env;
}

/** `jailx ARGS...`, synchronously. */
export function jailx(args: string[], o: RunOpts = {}): Result {
  const r = Bun.spawnSync([...(o.wrap ?? []), o.binary ?? JAILX, ...args], {
    cwd: o.cwd ?? "/", // "/": no note about a working directory the jail lacks
    env: baseEnv(o.env, o.inheritEnv ?? true),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: o.timeoutMs ?? 45_000,
  });
  // Killed (e.g. by the timeout): -1, so that no expected status can match by accident.
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() + (r.exitCode === null ? `\n[killed: ${r.signalCode}]` : "") };
}

/** `jailx run FLAGS -- /bin/sh -c SCRIPT`. */
export function sh(script: string, flags: string[] = [], o: RunOpts = {}): Result {
  return jailx(["run", ...flags, "--", "/bin/sh", "-c", script], o);
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

/** A marker unique to one test, put into a script so the jailed process can be found in /proc. */
export function marker(name = "jx"): string {
  return `${name}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** A jail running in the background, with its stdout read line by line. */
export class LiveJail {
  readonly proc: ReturnType<typeof Bun.spawn>;
  private text = "";
  private done = false;
  private stderrText: Promise<string>;
  private reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> };
  private decoder = new TextDecoder();

  constructor(args: string[], o: RunOpts = {}) {
    this.proc = Bun.spawn([...(o.wrap ?? []), o.binary ?? JAILX, ...args], {
      cwd: o.cwd ?? "/", // "/": no note about a working directory the jail lacks
      env: baseEnv(o.env, o.inheritEnv ?? true),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.reader = (this.proc.stdout as ReadableStream<Uint8Array>).getReader();
    this.stderrText = new Response(this.proc.stderr as ReadableStream<Uint8Array>).text();
  }

  get pid(): number {
    return this.proc.pid;
  }

  get output(): string {
    return this.text;
  }

  /** Read until a complete line matches (or fail after `timeoutMs`, or at EOF). */
  async waitForLine(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.text.split("\n").slice(0, -1).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (this.done) throw new Error(`EOF before a line matching ${re}; output:\n${this.text}\nstderr:\n${await this.stderr()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line matching ${re} within ${timeoutMs} ms; output so far:\n${this.text}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<"timeout">((res) => (timer = setTimeout(() => res("timeout"), left))),
      ]);
      clearTimeout(timer);
      if (chunk === "timeout") continue;
      if (chunk.done || !chunk.value) this.done = true;
      else this.text += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  kill(signal: NodeJS.Signals | number): void {
    this.proc.kill(signal);
  }

  async exit(): Promise<Result> {
    const code = await this.proc.exited;
    while (!this.done) {
      const chunk = await this.reader.read();
      if (chunk.done || !chunk.value) this.done = true;
      else this.text += this.decoder.decode(chunk.value, { stream: true });
    }
    return { code, stdout: this.text, stderr: await this.stderr() };
  }

  stderr(): Promise<string> {
    return this.stderrText;
  }

  /** Kill the supervisor if it still runs (for afterEach/finally). */
  async dispose(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

// ---- /proc from the host's side ----

export function cmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return null;
  }
}

/**
 * A process's name, or null once it is gone: a run has short-lived processes of its own (e.g.
 * the holder of the supervisor's memory, which ends once the program has executed), so a
 * process listed a moment ago may be gone when its files are read.
 */
export function comm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

/** Direct children of a process (all its threads). */
export function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`))
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    /* gone */
  }
  return out;
}

export function descendants(pid: number): number[] {
  const out: number[] = [];
  const todo = children(pid);
  while (todo.length) {
    const p = todo.shift()!;
    out.push(p);
    todo.push(...children(p));
  }
  return out;
}

/**
 * Host pid of the jailed program: the descendant of the supervisor whose argv[0] is `argv0`
 * and whose command line contains `mark` (the supervisor and init carry it too, as argv of jailx).
 */
export function programPid(supervisor: number, mark: string, argv0 = "/bin/sh"): number {
  const hits = descendants(supervisor).filter((p) => {
    const argv = cmdline(p);
    return argv !== null && argv[0] === argv0 && argv.some((a) => a.includes(mark));
  });
  if (hits.length === 0) throw new Error(`no descendant of ${supervisor} runs ${argv0} with '${mark}'`);
  return hits[0]!;
}

/** Pids of every process on the host whose command line contains `mark`. */
export function processesWith(mark: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (cmdline(Number(name))?.some((a) => a.includes(mark))) out.push(Number(name));
  }
  return out;
}

/** Poll `check` until it returns true, at most `timeoutMs` (a bounded wait, not a sleep). */
export async function waitUntil(check: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A field of /proc/PID/status, e.g. status(pid, "CapEff"). */
export function status(pid: number | "self", field: string): string {
  const m = new RegExp(`^${field}:[ \\t]*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return m[1]!.trim();
}

export function nsLink(pid: number | "self", ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}

/** Mount points of the host (our) mount namespace, as "mountpoint fstype" lines. */
export function hostMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n").map((l) => {
    const f = l.split(" ");
    const dash = f.indexOf("-");
    return `${f[4]} ${f[dash + 1]}`;
  });
}

/**
 * Directories named jailx-* beneath our own cgroup in every hierarchy (jailx creates its cgroups
 * beneath the caller's; walking all of /sys/fs/cgroup would be slow).
 */
export function jailxCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.startsWith("jailx-")) out.push(`${dir}/${e}`);
      walk(`${dir}/${e}`, depth + 1);
    }
  };
  for (const line of readFileSync("/proc/self/cgroup", "utf8").trim().split("\n")) {
    const [, ctrl, path] = line.split(":") as [string, string, string];
    const mount = ctrl === "" ? (existsSync("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup") : `/sys/fs/cgroup/${ctrl.replace(/^name=/, "")}`;
    walk(`${mount}${path === "/" ? "" : path}`, 0);
  }
  return [...new Set(out)];
}

/** Capability masks of the five sets from a /proc/PID/status text. */
export function capSets(statusText: string): Record<"CapInh" | "CapPrm" | "CapEff" | "CapBnd" | "CapAmb", bigint> {
  const get = (k: string) => BigInt("0x" + (new RegExp(`^${k}:\\s*([0-9a-f]+)`, "m").exec(statusText)?.[1] ?? "x"));
  return { CapInh: get("CapInh"), CapPrm: get("CapPrm"), CapEff: get("CapEff"), CapBnd: get("CapBnd"), CapAmb: get("CapAmb") };
}

/** Whether a program exists on the host. */
export function hostHas(path: string): boolean {
  return existsSync(path);
}
