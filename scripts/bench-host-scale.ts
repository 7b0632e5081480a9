#!/usr/bin/env bun
// Start-up on a bigger host: `jailx run -- /bin/true` beside bwrap (the closest equivalent, as in
// bench-startup.ts) on this machine as it is, with N more processes (children of this script,
// `sleep`), and with M more mounts (tmpfs mounts in a private mount namespace that hyperfine runs
// in: the host's own table is not touched). Servers carry hundreds or thousands of both (a
// container host's pods, volumes and overlay roots); a launcher that reads the whole of /proc or
// its mount table pays for each. Every tool in the same hyperfine runs for each host shape.
// Usage: bun scripts/bench-host-scale.ts [--runs N] [--processes N] [--mounts N] [--compare BINARY] [--no-write]
// (as root; needs dist/jailx and hyperfine). Writes its table into docs/BENCHMARKS.md.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bwrapArgs, freshCopies, replaceSection, runHyperfineRounds, type Result } from "./bench-lib.ts";

const opt = (name: string, dflt: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const runs = opt("--runs", 60);
const nProcesses = opt("--processes", 2000);
const nMounts = opt("--mounts", 1000);
const compareArg = process.argv.includes("--compare") ? resolve(process.argv[process.argv.indexOf("--compare") + 1]!) : null;
const write = !process.argv.includes("--no-write");
if (!existsSync("dist/jailx")) throw new Error("build first: bun scripts/build.ts --only-native");
if (!(runs > 0 && nProcesses > 0 && nMounts > 0)) throw new Error("--runs, --processes and --mounts take a positive number");

const dir = mkdtempSync(join(tmpdir(), "jailx-bench-scale-"));
const sleepers: ReturnType<typeof Bun.spawn>[] = [];
const table: string[] = [];
try {
  const [jailx, compare] = freshCopies(dir, [resolve("dist/jailx"), ...(compareArg ? [compareArg] : [])]);
  const commands: [string, string][] = [
    ["jailx run (default jail)", `${jailx} run -- /bin/true`],
    ...(compare ? ([[`the same, ${compareArg!.split("/").pop()} (--compare)`, `${compare} run -- /bin/true`]] as [string, string][]) : []),
    ["jailx run --pids unlimited", `${jailx} run --pids unlimited -- /bin/true`],
    ["bwrap (closest equivalent)", [...bwrapArgs(), "/bin/true"].join(" ")],
  ];
  const row = (host: string, results: Result[]) => {
    const bw = results.find((r) => r.name.startsWith("bwrap"))!;
    for (const r of results) table.push(`| ${host} | ${r.name} | ${r.median.toFixed(2)} ms | ${(r.median / bw.median).toFixed(2)}× |`);
  };
  // each host shape in 3 hyperfine runs, the order rotated (bench-lib.ts runHyperfineRounds)
  const run = (name: string, wrap?: string[]) => runHyperfineRounds(commands, { rounds: 3, runs, warmup: 3, json: join(dir, `${name}.json`), cwd: "/", ...(wrap ? { wrap } : {}) });

  const processes = () => readdirCount("/proc", /^\d+$/);
  row(`as it is (${processes()} processes, ${mountCount()} mounts)`, run("plain"));

  for (let i = 0; i < nProcesses; i++) sleepers.push(Bun.spawn(["sleep", "3600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
  row(`${nProcesses} more processes (${processes()})`, run("processes"));
  for (const s of sleepers) s.kill(9);
  await Promise.all(sleepers.map((s) => s.exited));
  sleepers.length = 0;

  // The mounts exist only in the namespace hyperfine runs in; they go with it.
  const mounts = join(dir, "mounts");
  const setup = `set -e; mkdir -p "$1"; mount -t tmpfs jx-scale-top "$1"; i=0; while [ $i -lt $2 ]; do i=$((i+1)); mkdir "$1/$i"; mount -t tmpfs jx-scale "$1/$i"; done; shift 2; exec "$@"`;
  row(`${nMounts} more mounts (${mountCount() + nMounts + 1})`, run("mounts", ["unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh", mounts, String(nMounts)]));
} finally {
  for (const s of sleepers) s.kill(9);
  rmSync(dir, { recursive: true, force: true });
}

function readdirCount(path: string, re: RegExp): number {
  return readdirSync(path).filter((n) => re.test(n)).length;
}
function mountCount(): number {
  return readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n").length;
}

const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on this project's CI machine kind (2 cores, ${process.arch}), ${runs} runs each in 3 hyperfine runs per host shape ` +
    `(the order rotated each, 3 warm-ups each), in /; \`bun scripts/bench-host-scale.ts${compareArg ? " --compare …" : ""}\`.`,
  "",
  "| host | command | median | vs bwrap |",
  "|---|---|---|---|",
  ...table,
];
console.log(lines.join("\n"));
if (write) replaceSection("docs/BENCHMARKS.md", "host-scale", lines.join("\n"));
