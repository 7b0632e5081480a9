#!/usr/bin/env bun
// What the default protections cost at start-up: the /etc walk (root jails) and the default
// pids cgroup, each against the same binary with it removed, and optionally against older
// binaries. Rounds are interleaved (each round runs every variant once, in a shuffled order), so
// a machine whose load changes during the run (shared CI hosts) biases no variant; the table
// gives medians of wall time and of CPU time (user+system of jailx and all its children).
// Usage: bun scripts/bench-defaults.ts [--rounds N] [--before PATH/TO/OLD/jailx ...]   (as root)
import { existsSync } from "node:fs";

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf("--rounds") + 1]) || 200;
const before = args.flatMap((a, i) => (a === "--before" ? [args[i + 1]!] : []));
if (!existsSync("dist/jailx")) throw new Error("build first: bun scripts/build.ts --only-native");

const variants: [string, string[]][] = [
  ...before.map((b): [string, string[]] => [`${b} run (older build)`, [b, "run", "--", "/bin/true"]]),
  ["jailx run (defaults: /etc walk + pids cgroup)", ["./dist/jailx", "run", "--", "/bin/true"]],
  ["jailx run --pids unlimited (walk, no cgroup)", ["./dist/jailx", "run", "--pids", "unlimited", "--", "/bin/true"]],
  ["jailx run --userns --pids unlimited (no walk, no cgroup)", ["./dist/jailx", "run", "--userns", "--pids", "unlimited", "--", "/bin/true"]],
];

const wall = variants.map(() => [] as number[]);
const cpu = variants.map(() => [] as number[]);
for (let r = 0; r < rounds + 5; r++) {
  const order = variants.map((_, i) => i).sort(() => Math.random() - 0.5);
  for (const i of order) {
    const t = performance.now();
    const p = Bun.spawnSync(variants[i]![1], { stdout: "ignore", stderr: "pipe" });
    const ms = performance.now() - t;
    if (p.exitCode !== 0) throw new Error(`${variants[i]![0]}: exit ${p.exitCode}: ${p.stderr.toString()}`);
    if (r < 5) continue; // warm-up
    wall[i]!.push(ms);
    const u = p.resourceUsage?.cpuTime;
    if (u) cpu[i]!.push(Number(u.user + u.system) / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
const base = median(wall[variants.length - 1]!);
const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
console.log(`${rounds} interleaved rounds, ${new Date().toISOString().slice(0, 10)}, load average at the end ${load}\n`);
console.log("| command | median wall | median CPU (user+sys) | wall vs last row |");
console.log("|---|---|---|---|");
variants.forEach(([name], i) =>
  console.log(`| ${name} | ${median(wall[i]!).toFixed(2)} ms | ${median(cpu[i]!).toFixed(2)} ms | ${(median(wall[i]!) - base >= 0 ? "+" : "")}${(median(wall[i]!) - base).toFixed(2)} ms |`));
