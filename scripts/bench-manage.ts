#!/usr/bin/env bun
// Management benchmarks, side by side in hyperfine runs:
//  - `jailx exec NAME -- /bin/true` against util-linux nsenter into the same namespaces and root
//    of the same jail's program (nsenter does no credential, capability or seccomp step);
//  - `jailx ps` and `jailx ps --json` with 100 running detached jails.
// Writes both tables into docs/BENCHMARKS.md. Usage: bun scripts/bench-manage.ts [--runs N] [--no-write]
// (as root; needs dist/jailx, hyperfine, nsenter). Uses its own scratch state directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replaceSection, runHyperfine, type Result } from "./bench-lib.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 100;
const write = !process.argv.includes("--no-write");
const dir = mkdtempSync(join(tmpdir(), "jailx-bench-manage-"));
// Every jailx here (and under hyperfine) uses the scratch state directory, never /run/jailx.
const env: Record<string, string> = { ...(process.env as Record<string, string>), JAILX_STATE_DIR: `${dir}/state` };
const J = join(process.cwd(), "dist/jailx");

function jx(args: string[]): string {
  const r = Bun.spawnSync([J, ...args], { stdout: "pipe", stderr: "pipe", env });
  if (r.exitCode !== 0) throw new Error(`jailx ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.toString();
}

function table(results: Result[], base: string, note: string, n: number, warm: number): string {
  const b = results.find((r) => r.name === base)!;
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} (2 cores, ${process.arch}), ${n} runs each after ${warm} warm-ups; \`bun scripts/bench-manage.ts\`. ${note}`,
    "",
    `| command | median | mean ± σ | vs ${base} |`,
    "|---|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${r.median.toFixed(2)} ms | ${r.mean.toFixed(2)} ± ${r.stddev.toFixed(2)} ms | ${(r.median / b.median).toFixed(2)}× |`),
  ].join("\n");
}

const names: string[] = [];
try {
  jx(["run", "-d", "--name", "bench", "--net", "none", "--", "/bin/sleep", "100000"]);
  names.push("bench");
  const pid = (JSON.parse(jx(["ps", "--json"])) as { name: string; pid: number }[]).find((r) => r.name === "bench")!.pid;
  const exec = runHyperfine([
    ["jailx exec (namespaces, root, cgroup, ids, caps, nnp, Landlock, seccomp)", `${J} exec bench -- /bin/true`],
    ["nsenter -m -u -i -n -p -C -r -w (namespaces and root only)", `nsenter -t ${pid} -m -u -i -n -p -C -r -w /bin/true`],
    ["/bin/true (no jail)", "/bin/true"],
  ], { runs, warmup: 10, json: join(dir, "exec.json"), env });
  const execText = table(exec, "nsenter -m -u -i -n -p -C -r -w (namespaces and root only)", "A detached root jail with `--net none` running `sleep`.", runs, 10);
  console.log(execText);

  for (let i = 0; i < 99; i++) {
    jx(["run", "-d", "--name", `b${i}`, "--pids", "10", "--", "/bin/sleep", "100000"]);
    names.push(`b${i}`);
  }
  const psRuns = Math.max(10, Math.round(runs / 5));
  const ps = runHyperfine([
    ["jailx ps (100 jails)", `${J} ps`],
    ["jailx ps --json (100 jails)", `${J} ps --json`],
    ["ps -e (the host's processes)", "ps -e"],
  ], { runs: psRuns, warmup: 3, json: join(dir, "ps.json"), env });
  const psText = table(ps, "ps -e (the host's processes)", "100 detached jails (99 with a pids cgroup); `ps` verifies each supervisor through a pidfd, reads its sealed record, the cgroup files, and gathers the program's inspect score.", psRuns, 3);
  console.log(psText);
  if (write) {
    replaceSection("docs/BENCHMARKS.md", "exec", execText);
    replaceSection("docs/BENCHMARKS.md", "ps", psText);
  }
} finally {
  for (const n of names) Bun.spawnSync([J, "stop", n, "--time", "0"], { env });
  rmSync(dir, { recursive: true, force: true });
}
