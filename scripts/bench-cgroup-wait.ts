#!/usr/bin/env bun
// The wait of a cgroup v1 migration, measured without Bun or jailx: a small C program (written
// to a temporary directory and compiled here with cc) makes a cgroup beneath its own in the pids
// hierarchy, forks a child that writes "0" (itself) into its cgroup.procs, and times that write;
// then it removes the cgroup. Rounds are spaced by an idle spell (as between two `jailx run`s)
// or run back to back. The first migration after an idle spell takes the kernel's threadgroup
// lock in its slow mode, which waits for an RCU grace period; one made while the lock is still
// in that mode does not. A jail with a cgroup on such a host cannot start its program before its
// init is in the cgroup: this wait is a floor under the default jail's start-up there (bwrap
// makes no cgroup). On cgroup v2, jailx starts the init in its cgroup (clone3 CLONE_INTO_CGROUP)
// and there is no migration; the script says so and measures nothing.
// Writes the table into docs/BENCHMARKS.md (between the cgroup-wait markers).
// Usage: bun scripts/bench-cgroup-wait.ts [--rounds N] [--gap MS] [--no-write]   (as root, cc)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { replaceSection } from "./bench-lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg("--rounds", 40);
const gapMs = arg("--gap", 60);
const write = !process.argv.includes("--no-write");

if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark makes cgroups");
const line = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => /^\d+:([^:]*,)?pids(,[^:]*)?:/.test(l));
const mount = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")).find((f) => f[f.indexOf("-") + 1] === "cgroup" && /(^|,)pids(,|$)/.test(f.at(-1) ?? ""));
if (!line || !mount) {
  console.log("no cgroup v1 pids hierarchy here: jailx starts the jail's init in its cgroup (cgroup v2, clone3), there is no migration to measure");
  process.exit(0);
}
const parent = `${mount[4]}${line.split(":")[2] === "/" ? "" : line.split(":")[2]}`;

const C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms(struct timespec a, struct timespec b) { return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6; }

/* argv: parent cgroup directory, rounds, gap (ms). Prints one duration (ms) per round. */
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int rounds = atoi(argv[2]), gap = atoi(argv[3]);
  char dir[4096], procs[4200];
  snprintf(dir, sizeof dir, "%s/jailx-bench-wait-%d", argv[1], getpid());
  snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
  for (int i = 0; i < rounds; i++) {
    if (gap > 0) { struct timespec g = { gap / 1000, (long)(gap % 1000) * 1000000 }; nanosleep(&g, 0); }
    if (mkdir(dir, 0755) != 0) { perror("mkdir"); return 1; }
    int p[2];
    if (pipe(p) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      struct timespec a, b;
      int fd = open(procs, O_WRONLY | O_CLOEXEC);
      clock_gettime(CLOCK_MONOTONIC, &a);
      int ok = fd >= 0 && write(fd, "0", 1) == 1;
      clock_gettime(CLOCK_MONOTONIC, &b);
      double d = ok ? ms(a, b) : -1;
      write(p[1], &d, sizeof d);
      _exit(0);
    }
    double d = -1;
    read(p[0], &d, sizeof d);
    close(p[0]), close(p[1]);
    waitpid(pid, 0, 0);
    for (int t = 0; rmdir(dir) != 0 && t < 1000; t++) usleep(1000);
    if (d < 0) { fprintf(stderr, "the write into %s failed\n", procs); return 1; }
    printf("%.3f\n", d);
  }
  return 0;
}
`;

const tmp = mkdtempSync("/tmp/jailx-bench-cgroup-wait-");
try {
  writeFileSync(`${tmp}/wait.c`, C);
  const cc = Bun.spawnSync(["cc", "-O2", "-o", `${tmp}/wait`, `${tmp}/wait.c`], { stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`cc failed: ${cc.stderr.toString()}`);
  const measure = (gap: number): number[] => {
    const r = Bun.spawnSync([`${tmp}/wait`, parent, String(rounds), String(gap)], { stderr: "inherit" });
    if (r.exitCode !== 0) throw new Error(`the measuring program failed (exit ${r.exitCode})`);
    return r.stdout.toString().trim().split("\n").map(Number).sort((a, b) => a - b);
  };
  const q = (v: number[], f: number) => v[Math.min(v.length - 1, Math.floor(f * v.length))]!;
  const rows = [
    [`after an idle spell of ${gapMs} ms (one \`jailx run\` after another)`, measure(gapMs)],
    ["back to back (the lock still in its slow mode)", measure(0)],
  ] as const;
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`bun scripts/bench-cgroup-wait.ts\` (${rounds} rounds each), in ${parent}: how long one`,
    "process's write of itself into a new cgroup's `cgroup.procs` takes.",
    "",
    "| migration | median | 10th–90th percentile | min–max |",
    "|---|---|---|---|",
    ...rows.map(([name, v]) => `| ${name} | ${q(v, 0.5).toFixed(2)} ms | ${q(v, 0.1).toFixed(2)}–${q(v, 0.9).toFixed(2)} ms | ${v[0]!.toFixed(2)}–${v.at(-1)!.toFixed(2)} ms |`),
  ].join("\n");
  console.log(table);
  if (write) replaceSection("docs/BENCHMARKS.md", "cgroup-wait", table);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
