// Shared pieces of the benchmark scripts: hyperfine (in one run, or in rounds of rotated order),
// results into a docs section, fresh copies of the binaries.
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
  /** every run's time */
  times: number[];
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
  const data = JSON.parse(readFileSync(o.json, "utf8")) as { results: { command: string; median: number; mean: number; stddev: number; times: number[] }[] };
  return data.results.map((x) => ({ name: x.command, median: x.median * 1000, mean: x.mean * 1000, stddev: x.stddev * 1000, times: x.times.map((t) => t * 1000) }));
}

/**
 * The commands in `rounds` hyperfine runs of runs/rounds each, the order rotated by one each
 * round; median, mean and σ over every run of each command. hyperfine runs one command's series
 * after the other's, and the first of a run is slower on these VMs (~1 ms for jailx: the same
 * binary measured first and second in one run, 17.62 against 16.41 ms): in one run, whichever
 * command comes first pays for it.
 */
export function runHyperfineRounds(commands: [name: string, cmd: string][], o: { rounds: number; runs: number; warmup: number; json: string; cwd?: string; wrap?: string[] }): Result[] {
  const times = new Map<string, number[]>(commands.map(([name]) => [name, []]));
  const per = Math.max(1, Math.round(o.runs / o.rounds));
  for (let r = 0; r < o.rounds; r++) {
    const order = commands.map((_, i) => commands[(i + r) % commands.length]!);
    for (const x of runHyperfine(order, { runs: per, warmup: o.warmup, json: o.json, ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.wrap ? { wrap: o.wrap } : {}) }))
      times.get(x.name)!.push(...x.times);
  }
  return commands.map(([name]) => {
    const t = times.get(name)!.sort((a, b) => a - b);
    const mean = t.reduce((a, b) => a + b, 0) / t.length;
    const mid = t.length >> 1;
    return { name, times: t, median: t.length % 2 ? t[mid]! : (t[mid - 1]! + t[mid]!) / 2, mean, stddev: Math.sqrt(t.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, t.length - 1)) };
  });
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
