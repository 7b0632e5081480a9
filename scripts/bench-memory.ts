#!/usr/bin/env bun
// Memory of a waiting jail: the sum of Pss (proportional set size, /proc/PID/smaps_rollup) of the
// jail tool's own processes while the jailed program (`sleep`) waits, for jailx and for bubblewrap
// side by side. The program itself and anything it started are left out: only what the tool
// keeps around counts (for jailx: the waiter in place of the supervisor, init, guards).
// Writes the table into docs/BENCHMARKS.md (between the memory markers).
// Usage: bun scripts/bench-memory.ts [--rounds N] [--no-write]   (as root; needs dist/jailx)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { bwrapArgs, replaceSection } from "./bench-lib.ts";
import { resolve } from "node:path";

const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 5;
const write = !process.argv.includes("--no-write");
if (!existsSync("dist/jailx")) throw new Error("build first: bun scripts/build.ts --only-native");

function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // it ended (a helper or the memory holder, between listing and reading)
  }
  for (const t of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // the task ended
    }
  }
  return out;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function pssKb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** The tool's processes: the tree under `root`, without the program (`marker`) and its subtree. */
function toolProcesses(root: number, marker: string): { pids: number[]; program: boolean } {
  const pids: number[] = [];
  let program = false;
  const walk = (pid: number) => {
    if (comm(pid) === marker) {
      program = true;
      return;
    }
    pids.push(pid);
    for (const c of children(pid)) walk(c);
  };
  walk(root);
  return { pids, program };
}

/** Start `argv` (whose program is `sleep`), wait until the program runs, sum the tool's Pss. */
async function measure(argv: string[]): Promise<{ kb: number; processes: number }> {
  // In /, as the startup benchmark: jailx would warn that the current directory is not in the jail.
  const p = Bun.spawn(argv, { cwd: "/", stdout: "ignore", stderr: "inherit" });
  try {
    // Polled, not slept on: the program shows up in the tree once the jail has started it.
    for (let i = 0; i < 2000; i++) {
      const t = toolProcesses(p.pid, "sleep");
      if (t.program) {
        // Let start-up work finish (a waiting process's Pss no longer changes).
        await Bun.sleep(300);
        const again = toolProcesses(p.pid, "sleep");
        return { kb: again.pids.reduce((s, pid) => s + pssKb(pid), 0), processes: again.pids.length };
      }
      await Bun.sleep(5);
    }
    throw new Error(`${argv[0]}: the program never started`);
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
}

const JAILX = resolve(import.meta.dir, "../dist/jailx");
const tools: [string, string[]][] = [
  ["jailx run (default jail)", [JAILX, "run", "--", "sleep", "1000"]],
  ["jailx run --timeout 1h --memory 256m", [JAILX, "run", "--timeout", "3600", "--memory", "256m", "--", "sleep", "1000"]],
  ["bwrap (closest equivalent)", [...bwrapArgs(), "sleep", "1000"]],
];

const rows: string[] = [];
for (const [name, argv] of tools) {
  const samples: { kb: number; processes: number }[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await measure(argv));
  const kbs = samples.map((s) => s.kb).sort((a, b) => a - b);
  const median = kbs[Math.floor(kbs.length / 2)]!;
  const line = `| ${name} | ${samples[0]!.processes} | ${median} kB | ${kbs[0]}–${kbs.at(-1)} kB |`;
  console.log(line);
  rows.push(line);
}

if (write) {
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`bun scripts/bench-memory.ts\` (${rounds} rounds each, median): the sum of Pss of`,
    "the tool's own processes while the jailed `sleep` waits (the program and its children excluded).",
    "",
    "| tool | processes | Pss (median) | range |",
    "|---|---|---|---|",
    ...rows,
  ].join("\n");
  replaceSection("docs/BENCHMARKS.md", "memory", body);
}
