// Build-once logic for the integration tests: they run the compiled dist/jailx, rebuilt when it
// is missing or older than any source. Several `bun test` processes (and people) may start at
// once, so the build runs under flock(1) and re-checks staleness after taking the lock.
//
// Run directly (`bun tests/helpers/build.ts`) it is the body executed under the lock.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const JAILX = join(ROOT, "dist/jailx");
export const BUN = join(ROOT, "node_modules/.bin/bun");
const LOCK = join(ROOT, "dist/.build.lock");
/** Everything that goes into the binary. */
const SOURCES = ["cmd", "jail", "sys", "inspect", "package.json"];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

export function isStale(): boolean {
  if (!existsSync(JAILX)) return true;
  const built = statSync(JAILX).mtimeMs;
  return SOURCES.some((s) => newestMtime(join(ROOT, s)) > built);
}

function buildNow(): void {
  const r = Bun.spawnSync([BUN, "scripts/build.ts", "--only-native"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`building dist/jailx failed (exit ${r.exitCode}):\n${r.stderr.toString()}`);
}

/** Make sure dist/jailx is current; builds at most once across concurrent test processes. */
export function ensureBuilt(): void {
  if (!isStale()) return;
  Bun.spawnSync(["mkdir", "-p", join(ROOT, "dist")]);
  const r = Bun.spawnSync(["flock", LOCK, BUN, join(ROOT, "tests/helpers/build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`building dist/jailx failed (exit ${r.exitCode}):\n${r.stderr.toString()}`);
}

if (import.meta.main && isStale()) buildNow();
