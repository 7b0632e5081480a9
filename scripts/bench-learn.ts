#!/usr/bin/env bun
// Learning overhead: each workload plain, in `jailx run` (the default jail), in `jailx learn`
// (the default filter: @default and hot descriptor I/O not stopped) and in `jailx learn
// --notify-all` (every syscall stopped), side by side in one hyperfine run per workload.
// Writes the medians, the notifications per run and the cost per notification into
// docs/LEARN.md (between the bench:learn markers).
// Usage: bun scripts/bench-learn.ts [--runs N] [--no-write]   (as root; needs dist/jailx, hyperfine)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replaceSection, runHyperfine, type Result } from "./bench-lib.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 20;
const write = !process.argv.includes("--no-write");
const JAILX = "./dist/jailx";

const WORKLOADS: { name: string; argv: string[] }[] = [
  { name: "sh: cat a file, list a directory", argv: ["/bin/sh", "-c", "cat /etc/hostname >/dev/null; ls /usr/share >/dev/null"] },
  { name: "python3 start-up (import json)", argv: ["/usr/bin/python3", "-c", "import json"] },
  { name: "20 000 stat() of a system file (resolved once)", argv: ["/usr/bin/python3", "-c", "import os\nfor _ in range(20000): os.stat('/usr/bin')"] },
  { name: "20 000 stat() in /tmp (resolved each time)", argv: ["/usr/bin/python3", "-c", "import os\nfor _ in range(20000): os.stat('/tmp')"] },
  { name: "20 000 getcwd() (stopped, no path)", argv: ["/usr/bin/python3", "-c", "import os\nfor _ in range(20000): os.getcwd()"] },
  { name: "200 000 read+write (dd bs=64)", argv: ["/usr/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64", "count=100000", "status=none"] },
];

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
const dir = mkdtempSync(join(tmpdir(), "jailx-bench-learn-"));

/** Notifications of one learn run (from its summary line on stderr). */
function notifications(extra: string[], argv: string[]): number {
  const r = Bun.spawnSync([JAILX, "learn", "-o", join(dir, "n.toml"), ...extra, "--", ...argv], { stdout: "ignore", stderr: "pipe" });
  return Number(/in (\d+) notifications/.exec(r.stderr.toString())?.[1] ?? NaN);
}

const rows: string[] = [];
try {
  for (const w of WORKLOADS) {
    const cmd = w.argv.map(quote).join(" ");
    const out = join(dir, "p.toml");
    const commands: [string, string][] = [
      ["plain", cmd],
      ["jailx run", `${JAILX} run -- ${cmd}`],
      ["jailx learn", `${JAILX} learn -o ${out} -- ${cmd}`],
      ["jailx learn --notify-all", `${JAILX} learn --notify-all -o ${out} -- ${cmd}`],
    ];
    console.log(`\n== ${w.name}`);
    const res: Result[] = runHyperfine(commands, { runs, warmup: 2, json: join(dir, "out.json") });
    const [plain, run, learn, all] = res as [Result, Result, Result, Result];
    const n = notifications([], w.argv), nAll = notifications(["--notify-all"], w.argv);
    const per = (r: Result, k: number) => (k > 0 ? `${(((r.median - run.median) / k) * 1000).toFixed(0)} µs` : "–");
    rows.push(`| ${w.name} | ${plain.median.toFixed(1)} ms | ${run.median.toFixed(1)} ms | ${learn.median.toFixed(1)} ms (${n}; ${per(learn, n)}) | ${all.median.toFixed(1)} ms (${nAll}; ${per(all, nAll)}) |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on this project's machine kind (2 cores, ${process.arch}), ` +
    `medians of ${runs} runs after 2 warm-ups; \`bun scripts/bench-learn.ts\`. In brackets: notifications per run, and the ` +
    "time each adds over `jailx run` ((learn − run) / notifications).",
  "",
  "| workload | plain | jailx run | jailx learn | jailx learn --notify-all |",
  "|---|---|---|---|---|",
  ...rows,
];
console.log(lines.join("\n"));
if (write) replaceSection("docs/LEARN.md", "learn", lines.join("\n"));
