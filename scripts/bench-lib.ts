// Shared pieces of the benchmark scripts: hyperfine in one run, results into a docs section.
import { chmodSync, copyFileSync, existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

/** bwrap with the view closest to jailx's default jail (symlinks recreated for merged /usr). */
export function bwrapArgs(): string[] {
  const sys = ["/bin", "/sbin", "/lib", "/lib64"]
    .filter((p) => existsSync(p))
    .flatMap((p) => (lstatSync(p).isSymbolicLink() ? ["--symlink", readlinkSync(p), p] : ["--ro-bind", p, p]));
  return ["bwrap", "--unshare-all", "--share-net", "--hostname", "jailx", "--ro-bind", "/usr", "/usr", ...sys, "--ro-bind", "/etc", "/etc",
    "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run", "--cap-drop", "ALL", "--die-with-parent", "--new-session"];
}

export interface Result {
  name: string;
  median: number;
  mean: number;
  stddev: number;
}

/**
 * Run every command in one hyperfine invocation (-N: no shell); times in milliseconds. `wrap`
 * runs hyperfine under a command that ends by executing its arguments (e.g. a namespace).
 */
export function runHyperfine(commands: [name: string, cmd: string][], o: { runs: number; warmup: number; json: string; env?: Record<string, string>; cwd?: string; wrap?: string[] }): Result[] {
  const args = [...(o.wrap ?? []), "hyperfine", "-N", "--style", "basic", "--runs", String(o.runs), "--warmup", String(o.warmup), "--export-json", o.json];
  for (const [name, cmd] of commands) args.push("--command-name", name, cmd);
  const r = Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit", ...(o.env ? { env: o.env } : {}), ...(o.cwd ? { cwd: o.cwd } : {}) });
  if (r.exitCode !== 0) throw new Error(`hyperfine failed (exit ${r.exitCode})`);
  const data = JSON.parse(readFileSync(o.json, "utf8")) as { results: { command: string; median: number; mean: number; stddev: number }[] };
  return data.results.map((x) => ({ name: x.command, median: x.median * 1000, mean: x.mean * 1000, stddev: x.stddev * 1000 }));
}

/** Replace the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` (appended if absent). */
export function replaceSection(file: string, name: string, body: string): void {
  const open = `<!-- bench:${name} -->`, close = `<!-- /bench:${name} -->`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
  const block = `${open}\n${body}\n${close}`;
  const i = text.indexOf(open), j = text.indexOf(close);
  writeFileSync(file, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + close.length) : `${text.trimEnd()}\n\n${block}\n`);
}

/**
 * Copies of `binaries` written now into `dir`, to be run in their place. A binary's start depends
 * on how its pages sit in the page cache, and an older file's differ: on these VMs DAMON reclaims
 * cold pages, and a build from an hour before took a few major faults per run and up to ~2 ms
 * longer than a fresh copy of itself, so comparing builds of different ages favoured the newer.
 */
export function freshCopies(dir: string, binaries: readonly string[]): string[] {
  return binaries.map((b, k) => {
    const to = join(dir, `${k}-${basename(b)}`);
    copyFileSync(b, to);
    chmodSync(to, 0o755);
    return to;
  });
}
