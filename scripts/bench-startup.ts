#!/usr/bin/env bun
// Start-up benchmark: `jailx run -- /bin/true` with the default isolation against bubblewrap
// with the closest equivalent options and util-linux unshare, side by side: hyperfine runs whose order
// rotates (bench-lib.ts runHyperfineRounds), so that no command is always the first of a run.
// Writes the medians and ratios into docs/BENCHMARKS.md (between the start-up markers).
// Usage: bun scripts/bench-startup.ts [--runs N] [--rounds N] [--no-write] [--compare BINARY]   (as root; needs dist/jailx)
// Every command runs in / (a directory every jail has: no "not in the jail" warning to print).
// --compare adds the default jail of another build (e.g. the one before a change) to the same run.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bwrapArgs, freshCopies, replaceSection, runHyperfineRounds, type Result } from "./bench-lib.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 200;
// hyperfine runs, the order rotated each (bench-lib.ts runHyperfineRounds)
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 4;
const compareArg = process.argv.includes("--compare") ? resolve(process.argv[process.argv.indexOf("--compare") + 1]!) : null;
const write = !process.argv.includes("--no-write");
if (!existsSync("dist/jailx")) throw new Error("build first: bun scripts/build.ts --only-native");

// Every binary runs from a fresh copy written now (bench-lib.ts's freshCopies: the page cache
// favours a newer file, which made --compare favour the fresh build).
const dir = mkdtempSync(join(tmpdir(), "jailx-bench-"));
const baselinePath = resolve("dist/jailx-linux-x64-baseline");
const withBaseline = existsSync(baselinePath) && process.arch === "x64";
let copies: string[];
try {
  copies = freshCopies(dir, [resolve("dist/jailx"), ...(withBaseline ? [baselinePath] : []), ...(compareArg ? [compareArg] : [])]);
} catch (err) {
  rmSync(dir, { recursive: true, force: true });
  throw err;
}
const jailx = copies[0]!;
const baseline = withBaseline ? copies[1]! : null;
const compare = compareArg ? copies.at(-1)! : null;

// The same view jailx gives by default (scripts/bench-lib.ts).
const bwrap = [...bwrapArgs(), "/bin/true"].join(" ");
const commands: [string, string][] = [
  ["jailx run (default jail)", `${jailx} run -- /bin/true`],
  ...(compare ? ([[`the same, ${compareArg!.split("/").pop()} (--compare)`, `${compare} run -- /bin/true`]] as [string, string][]) : []),
  ["jailx run --seccomp none", `${jailx} run --seccomp none -- /bin/true`],
  // The build for x86-64 CPUs without AVX2 (bun-linux-x64-baseline), same jail.
  ...(baseline ? ([["jailx run, x64 baseline build", `${baseline} run -- /bin/true`]] as [string, string][]) : []),
  // the default pids limit's cost: a jail cgroup, its migration and the cleanup guard
  ["jailx run --pids unlimited (no cgroup)", `${jailx} run --pids unlimited -- /bin/true`],
  ["bwrap (closest equivalent)", bwrap],
  ["unshare -fpmiuU --mount-proc", "unshare -fpmiuU --mount-proc /bin/true"],
  ["/bin/true (no jail)", "/bin/true"],
];

let results: Result[];
try {
  results = runHyperfineRounds(commands, { rounds, runs, warmup: 5, json: join(dir, "out.json"), cwd: "/" });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const bw = results.find((r) => r.name.startsWith("bwrap"))!;
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on this project's CI machine kind (2 cores, ${process.arch}), ` +
    `${runs} runs each in ${rounds} hyperfine runs (the order rotated each, 5 warm-ups each), in /; \`bun scripts/bench-startup.ts${compare ? " --compare …" : ""}\`.`,
  "",
  "| command | median | mean ± σ | vs bwrap |",
  "|---|---|---|---|",
  ...results.map((r) => `| ${r.name} | ${r.median.toFixed(2)} ms | ${r.mean.toFixed(2)} ± ${r.stddev.toFixed(2)} ms | ${(r.median / bw.median).toFixed(2)}× |`),
];
console.log(lines.join("\n"));
if (write) replaceSection("docs/BENCHMARKS.md", "startup", lines.join("\n"));
