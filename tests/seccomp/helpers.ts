// Shared setup for the kernel tests: C probes built with gcc, and the harness bundled into one
// file (Bun starts "Bun Pool" threads while loading many modules; a filter installed by one
// thread would not cover the others, so the harness must run single-threaded).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");
export const SINGLE_THREAD_ENV = {
  BUN_JSC_useConcurrentJIT: "0",
  BUN_JSC_numberOfGCMarkers: "1",
  BUN_JSC_useWarmUpMarkedBlocks: "0",
  MIMALLOC_PURGE_DELAY: "-1",
};

export interface Built {
  dir: string;
  probe: string;
  harness: string;
  libseccompExport: string;
  cleanup(): void;
}

function run(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe", stdout: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
}

export function buildTools(): Built {
  const dir = mkdtempSync(join(tmpdir(), "jailx-seccomp-test-"));
  const b: Built = {
    dir,
    probe: join(dir, "probe"),
    harness: join(dir, "harness.js"),
    libseccompExport: join(dir, "libseccomp-export"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  run(["gcc", "-O1", "-Wall", "-o", b.probe, join(ROOT, "tests/seccomp/probe.c")]);
  run(["gcc", "-O1", "-Wall", "-o", b.libseccompExport, join(ROOT, "tests/seccomp/libseccomp-export.c"), "-lseccomp"]);
  run([BUN, "build", join(ROOT, "tests/seccomp/harness.ts"), "--target=bun", "--outfile", b.harness]);
  return b;
}

export interface Result {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` under the harness with these seccomp options. */
export function underFilter(b: Built, policy: string[], cmd: string[], env: Record<string, string> = {}): Result {
  const r = Bun.spawnSync([BUN, b.harness, ...policy, "--", ...cmd], {
    env: { ...process.env, ...SINGLE_THREAD_ENV, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: r.exitCode, signal: r.signalCode ? String(r.signalCode) : null, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs probe cases under the harness; returns case → result (OK, errno name, SIG<n>). */
export function probe(b: Built, policy: string[], cases: string[], probePath = b.probe): Record<string, string> {
  const r = underFilter(b, policy, [probePath, ...cases]);
  if (r.exitCode !== 0) throw new Error(`probe failed (${r.exitCode} ${r.signal}): ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=") as [string, string]));
}
