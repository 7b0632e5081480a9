// Helpers for live tests: start real sandboxed processes and run `jailx inspect` against them as
// root or as an unprivileged test user. Targets end in `cat`, which echoes a line we write to it:
// the echo proves the final program runs (no sleeps, no polling), then the test inspects it.
import { spawn, spawnSync, type Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { ensureBuilt, JAILX } from "../helpers/build.ts";
import { children } from "../helpers/jail.ts";

export const ROOT = `${import.meta.dir}/../..`;
export const BUN = `${ROOT}/node_modules/.bin/bun`;
/** The real entry point (bun cmd/jailx.ts inspect …), as a user would run it from the tree. */
const CLI = `${ROOT}/cmd/jailx.ts`;

export interface Target {
  readonly pid: number;
  readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  stop(): Promise<void>;
}


/** The descendant of `pid` (or pid itself) running `comm`. */
function findComm(pid: number, comm: string): number | undefined {
  const todo = [pid];
  while (todo.length) {
    const p = todo.shift()!;
    try {
      if (readFileSync(`/proc/${p}/comm`, "utf8").trim() === comm) return p;
    } catch {}
    todo.push(...children(p));
  }
  return undefined;
}

/** Starts `argv` (which must end by running cat) and waits until cat echoes our line back. */
export async function startTarget(argv: string[]): Promise<Target> {
  const proc = spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const kill = async () => {
    const pids = [proc.pid, ...descendants(proc.pid)];
    for (const p of pids.reverse()) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
    await proc.exited;
  };
  try {
    proc.stdin.write("ready\n");
    proc.stdin.flush();
    const reader = proc.stdout.getReader();
    let got = "";
    while (!got.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`target ${argv.join(" ")} exited before it was ready (${await proc.exited})`);
      got += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const pid = findComm(proc.pid, "cat");
    if (!pid) throw new Error(`no cat process under ${proc.pid}`);
    return { pid, proc, stop: kill };
  } catch (e) {
    await kill();
    throw e;
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) for (const c of children(todo.shift()!)) out.push(c), todo.push(c);
  return out;
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `jailx inspect ARGS`, as root or (with `as`) as another user via setpriv. */
export function inspect(args: string[], as?: { uid: number; gid: number }): Run {
  const cmd = [BUN, CLI, "inspect", ...args];
  const argv = as ? ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", ...cmd] : cmd;
  const r = spawnSync(argv, { cwd: ROOT, env: { ...process.env, HOME: "/tmp", NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function inspectJson(pid: number, as?: { uid: number; gid: number }): any {
  const r = inspect([String(pid), "--json"], as);
  if (r.code !== 0) throw new Error(`inspect ${pid} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// The unprivileged reader is a bare uid/gid that no host account or group uses (setpriv needs
// no account for --reuid/--regid/--clear-groups): nothing is added to the host's /etc, and two
// test runs at once never share or delete each other's reader.
export function ensureTestUser(): { uid: number; gid: number; created: boolean } {
  const used = new Set<number>();
  for (const f of ["/etc/passwd", "/etc/group"]) for (const l of readFileSync(f, "utf8").split("\n")) used.add(Number(l.split(":")[2]));
  let id = 62000 + (process.pid % 900);
  while (used.has(id)) id++;
  return { uid: id, gid: id, created: false };
}

/** Nothing to remove: ensureTestUser adds no account. */
export function removeTestUser(): void {}

export function have(tool: string): boolean {
  return spawnSync(["which", tool]).exitCode === 0;
}

/**
 * The jailx binary to jail targets with: the compiled dist/jailx (`bun cmd/jailx.ts run` refuses,
 * it is multi-threaded), built when stale. Never a reason to skip: when `run` is broken, the
 * tests that use it must fail, not disappear.
 */
export function jailxRunner(): string[] {
  ensureBuilt();
  return [JAILX];
}
