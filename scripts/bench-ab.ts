#!/usr/bin/env bun
// Two jailx builds against each other, alternating run by run (A B, then B A, …) so that a load
// that drifts on a shared machine falls on both alike — hyperfine runs one command's series
// after the other's. Each run is `BINARY run ARGS -- PROGRAM` in /, timed from spawn to exit
// (the spawn's own cost is the same for both); the program is /bin/true unless a second `--`
// names one (a built-in profile's program: `-- -- nginx -v`). Prints medians and quartiles.
// Usage: bun scripts/bench-ab.ts A B [--runs N] [-- run options, e.g. --pids unlimited [-- PROGRAM ARGS]]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freshCopies } from "./bench-lib.ts";

const dash = process.argv.indexOf("--");
const args = dash > 0 ? process.argv.slice(2, dash) : process.argv.slice(2);
const rest = dash > 0 ? process.argv.slice(dash + 1) : [];
const dash2 = rest.indexOf("--");
const runOptions = dash2 >= 0 ? rest.slice(0, dash2) : rest;
const program = dash2 >= 0 && dash2 < rest.length - 1 ? rest.slice(dash2 + 1) : ["/bin/true"];
const r = args.indexOf("--runs");
const runs = r >= 0 ? Number(args[r + 1]) : 100;
const bins = args.filter((a, i) => a !== "--runs" && (r < 0 || i !== r + 1)).map((b) => resolve(b));
if (bins.length !== 2 || !(runs > 0)) {
  console.error("usage: bun scripts/bench-ab.ts A B [--runs N] [-- run options [-- PROGRAM ARGS]]");
  process.exit(2);
}

// Run from fresh copies of both (bench-lib.ts's freshCopies: the page cache favours a newer file).
const scratch = mkdtempSync(join(tmpdir(), "jailx-bench-ab-"));
const times: number[][] = [[], []];
try {
  const copies = freshCopies(scratch, bins);
  for (let i = 0; i < runs + 5; i++) {
    for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const t = performance.now();
      const p = Bun.spawnSync([copies[k]!, "run", ...runOptions, "--", ...program], { cwd: "/", stdout: "ignore", stderr: "pipe" });
      const ms = performance.now() - t;
      if (p.exitCode !== 0) throw new Error(`${bins[k]} exited ${p.exitCode}: ${p.stderr.toString().trim()}`);
      if (i >= 5) times[k]!.push(ms); // five warm-up rounds
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const q = (v: number[], f: number) => [...v].sort((a, b) => a - b)[Math.floor(f * (v.length - 1))]!;
console.log(`${runs} runs each, alternating, \`run ${[...runOptions, "--", ...program].join(" ")}\` in /`);
for (const k of [0, 1]) console.log(`${bins[k]}: median ${q(times[k]!, 0.5).toFixed(2)} ms (25th–75th percentile ${q(times[k]!, 0.25).toFixed(2)}–${q(times[k]!, 0.75).toFixed(2)} ms)`);
