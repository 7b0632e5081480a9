#!/usr/bin/env bun
// Cost of hiding /etc by mode (jail/etc-view.ts): a root jail walks /etc at every start.
// 1. The walk alone (jail/host.ts listModes + etcHidden), in a process with the launcher's own
//    JSC settings (single-threaded, interpreter only), on the host's /etc and on a scratch /etc
//    with 5,000 more files.
// 2. `jailx run -- /bin/true` side by side in one hyperfine run: host /etc, the 5,000-file /etc
//    (bound over /etc in a private mount namespace: the host's /etc is never touched), and
//    --userns (no walk) for reference.
// Writes the results into docs/BENCHMARKS.md (between the etc-walk markers).
// Usage: bun scripts/bench-etc-walk.ts [--runs N] [--no-write]   (as root; needs dist/jailx)
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SINGLE_THREAD_ENV } from "../sys/reexec.ts";
import { replaceSection, runHyperfine } from "./bench-lib.ts";

if (process.argv[2] === "--walk-only") {
  // Child mode: time the walk itself.
  const { realHost } = await import("../jail/host.ts");
  const { etcHidden } = await import("../jail/etc-view.ts");
  const dir = process.argv[3]!;
  const host = realHost();
  const times: number[] = [];
  let hidden = 0, entries = 0;
  for (let i = 0; i < 25; i++) {
    let n = 0;
    const list = (d: string) => {
      const r = host.listModes(d);
      n += r?.length ?? 0;
      return r;
    };
    const t = performance.now();
    hidden = etcHidden({ root: dir, names: [], keep: [], byMode: true, list }).length;
    times.push(performance.now() - t);
    entries = n;
  }
  const first = times[0]!;
  const rest = times.slice(1).sort((a, b) => a - b);
  console.log(JSON.stringify({ first, median: rest[rest.length >> 1], entries, hidden }));
  process.exit(0);
}

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 100;
const write = !process.argv.includes("--no-write");
if (!existsSync("dist/jailx")) throw new Error("build first: bun scripts/build.ts --only-native");

function walkOnly(dir: string): { first: number; median: number; entries: number; hidden: number } {
  const r = Bun.spawnSync([process.execPath, import.meta.path, "--walk-only", dir], { env: { ...process.env, ...SINGLE_THREAD_ENV }, stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("walk-only child failed");
  return JSON.parse(r.stdout.toString());
}

const scratch = mkdtempSync(join(tmpdir(), "jailx-bench-etc-"));
try {
  // A larger /etc: a copy of the host's (without what cannot be copied) plus 5,000 files in
  // 100 directories, 1 in 50 of them root-only.
  const big = join(scratch, "etc");
  cpSync("/etc", big, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.endsWith("/mtab") });
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(big, `bench.d${d}`));
    for (let f = 0; f < 50; f++) writeFileSync(join(big, `bench.d${d}`, `f${f}.conf`), "x\n", { mode: f === 0 ? 0o600 : 0o644 });
  }
  const count = (dir: string): number => readdirSync(dir, { recursive: true }).length;
  const hostWalk = walkOnly("/etc"), bigWalk = walkOnly(big);

  const wrapBig = `unshare -m --propagation private sh -c "mount --bind ${big} /etc && exec ./dist/jailx run -- /bin/true"`;
  const results = runHyperfine([
    ["jailx run, host /etc", "./dist/jailx run -- /bin/true"],
    ["jailx run, /etc + 5,000 files", wrapBig],
    ["jailx run --userns, host /etc (no walk)", "./dist/jailx run --userns -- /bin/true"],
    ["unshare + mount only (the wrapper's own cost)", `unshare -m --propagation private sh -c "mount --bind ${big} /etc && exec /bin/true"`],
  ], { runs, warmup: 10, json: join(scratch, "out.json") });

  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on this project's machine kind (2 cores, ${process.arch}), load average ${load} at the end; \`bun scripts/bench-etc-walk.ts\`.`,
    "",
    "| /etc | entries | hidden by mode | walk, first (cold JS) | walk, median of 24 more |",
    "|---|---|---|---|---|",
    `| host | ${count("/etc")} | ${hostWalk.hidden} | ${ms(hostWalk.first)} | ${ms(hostWalk.median)} |`,
    `| host + 5,000 files | ${count(big)} | ${bigWalk.hidden} | ${ms(bigWalk.first)} | ${ms(bigWalk.median)} |`,
    "",
    `Whole runs, ${runs} each after 10 warm-ups, one hyperfine run:`,
    "",
    "| command | median | mean ± σ |",
    "|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${ms(r.median)} | ${r.mean.toFixed(2)} ± ${r.stddev.toFixed(2)} ms |`),
  ];
  console.log(lines.join("\n"));
  if (write) replaceSection("docs/BENCHMARKS.md", "etc-walk", lines.join("\n"));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
