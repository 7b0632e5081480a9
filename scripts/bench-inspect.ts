// Benchmark (not a test): `jailx inspect --all --json` beside `lsns --json` and
// `ps -eo pid,user,comm` on the same host with ~N extra processes, in one hyperfine run.
//   bun scripts/bench-inspect.ts [--procs 1000] [--runs 20] [--binary PATH]
// Builds a fresh compiled binary unless --binary is given, starts N `sleep` processes from one
// shell, waits for the shell's "ready" line, runs hyperfine, kills every process it started,
// and prints the table. Then the same commands again, interleaved (inspect, lsns, ps, inspect, …)
// for --interleave rounds, with each run's CPU time: on a shared machine whose load swings,
// hyperfine's back-to-back batches can favour whichever ran in a quiet moment; interleaved runs
// see the same load. Goal (docs/INSPECT.md): inspect within 1.5× of lsns.
import { spawn, spawnSync } from "bun";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const N = Number(arg("--procs", "1000"));
const RUNS = arg("--runs", "20");
const ROUNDS = Number(arg("--interleave", "20"));
const ROOT = `${import.meta.dir}/..`;
const tmp = mkdtempSync(`${tmpdir()}/jailx-bench-`);

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

let binary = arg("--binary", "");
if (!binary) {
  binary = `${tmp}/jailx`;
  const flags = ["build", "--compile", "--minify", "--sourcemap", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];
  const r = spawnSync([process.execPath, ...flags, `${ROOT}/cmd/jailx.ts`, "--outfile", binary], { stdout: "ignore", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("build failed");
}

// one shell starts them all, so that cleanup is: its children, then the shell
const shell = spawn(["sh", "-c", `i=0; while [ $i -lt ${N} ]; do sleep 100000 & i=$((i+1)); done; echo ready; wait`], {
  stdout: "pipe",
  stderr: "inherit",
});
try {
  const reader = shell.stdout.getReader();
  let got = "";
  while (!got.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the process-starting shell exited early");
    got += new TextDecoder().decode(value);
  }
  const total = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;
  process.stdout.write(`started ${children(shell.pid).length} sleep processes; ${total} processes in /proc\n`);
  const md = `${tmp}/bench.md`;
  const hf = spawnSync(
    [
      "hyperfine", "--warmup", "3", "--runs", RUNS, "-N", "--export-markdown", md, "--export-json", `${tmp}/bench.json`,
      "-n", "jailx inspect --all --json", `${binary} inspect --all --json`,
      "-n", "lsns --json", "lsns --json",
      "-n", "ps -eo pid,user,comm", "ps -eo pid,user,comm",
    ],
    { stdout: "inherit", stderr: "inherit" },
  );
  if (hf.exitCode !== 0) throw new Error("hyperfine failed");
  process.stdout.write("\n" + readFileSync(md, "utf8"));
  type Result = { mean: number; median: number; user: number; system: number };
  const [jx, ls] = (JSON.parse(readFileSync(`${tmp}/bench.json`, "utf8")) as { results: Result[] }).results;
  const r = (a: number, b: number) => (a / b).toFixed(2);
  process.stdout.write(
    `\ninspect / lsns: mean ${r(jx!.mean, ls!.mean)}×, median ${r(jx!.median, ls!.median)}×, ` +
      `CPU (user+sys) ${r(jx!.user + jx!.system, ls!.user + ls!.system)}× — goal ≤ 1.5×\n`,
  );
  interleaved();
} finally {
  await stop();
}

function interleaved(): void {
  const cmds: [string, string[]][] = [
    ["jailx inspect --all --json", [binary, "inspect", "--all", "--json"]],
    ["lsns --json", ["lsns", "--json"]],
    ["ps -eo pid,user,comm", ["ps", "-eo", "pid,user,comm"]],
  ];
  const wall = cmds.map(() => [] as number[]);
  const cpu = cmds.map(() => [] as number[]);
  for (let round = -2; round < ROUNDS; round++) {
    cmds.forEach(([name, argv], i) => {
      const t = performance.now();
      const p = spawnSync(argv, { stdout: "ignore", stderr: "ignore" });
      const ms = performance.now() - t;
      if (p.exitCode !== 0) throw new Error(`${name} failed (${p.exitCode})`);
      if (round < 0) return; // warm-up
      const u = p.resourceUsage!.cpuTime;
      wall[i]!.push(ms);
      cpu[i]!.push((Number(u.user) + Number(u.system)) / 1000);
    });
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  process.stdout.write(`\ninterleaved, ${ROUNDS} rounds (median wall, median CPU user+sys):\n\n| command | wall | CPU | wall / lsns | CPU / lsns |\n|---|---:|---:|---:|---:|\n`);
  cmds.forEach(([name], i) => {
    const w = median(wall[i]!), c = median(cpu[i]!);
    process.stdout.write(`| \`${name}\` | ${w.toFixed(1)} ms | ${c.toFixed(1)} ms | ${(w / median(wall[1]!)).toFixed(2)}× | ${(c / median(cpu[1]!)).toFixed(2)}× |\n`);
  });
}

async function stop(): Promise<void> {
  for (const p of children(shell.pid)) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
  shell.kill("SIGKILL");
  await shell.exited;
  rmSync(tmp, { recursive: true, force: true });
}
