// Seccomp overhead benchmark (a script, not a test): syscall-heavy workloads run with no
// filter, jailx's default filter, and a libseccomp-built filter of a comparable policy (same
// refusals and argument guards; Debian's libseccomp-dev), interleaved, side by side.
// Also prints, from the cBPF interpreter, how many BPF instructions each filter executes for
// read/write/getppid.
//
// Run as root or not: ./node_modules/.bin/bun scripts/bench-seccomp.ts [--rounds N]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_CAPS } from "../sys/caps.ts";
import { compileSeccompPlan, decode, runFilter, seccompPlanFromOptions } from "../sys/seccomp/index.ts";
import { AUDIT_ARCH, TABLES } from "../sys/seccomp/tables.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const SINGLE = { BUN_JSC_useConcurrentJIT: "0", BUN_JSC_numberOfGCMarkers: "1", BUN_JSC_useWarmUpMarkedBlocks: "0", MIMALLOC_PURGE_DELAY: "-1" };
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 5;

const GETPPID_LOOP = `#include <unistd.h>
#include <sys/syscall.h>
#include <stdlib.h>
int main(int c, char **v) { long n = atol(v[1]); for (long i = 0; i < n; i++) syscall(SYS_getppid); return 0; }
`;

const dir = mkdtempSync(join(tmpdir(), "jailx-bench-seccomp-"));
try {
  const sh = (cmd: string[]) => {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  writeFileSync(join(dir, "loop.c"), GETPPID_LOOP);
  sh(["gcc", "-O2", "-o", join(dir, "loop"), join(dir, "loop.c")]);
  sh(["gcc", "-O1", "-o", join(dir, "lsx"), join(ROOT, "tests/seccomp/libseccomp-export.c"), "-lseccomp"]);
  sh([BUN, "build", join(ROOT, "tests/seccomp/harness.ts"), "--target=bun", "--outfile", join(dir, "harness.js")]);

  // The filters. libseccomp gets the same refusals (name=errno) and the same guards.
  const plan = seccompPlanFromOptions({}, DEFAULT_CAPS)!;
  const ours = compileSeccompPlan(plan, "x86_64");
  const refusals = Object.entries(plan.syscalls)
    .filter(([, r]) => r.action.startsWith("errno:") && !r.argRules)
    .map(([n, r]) => `${n}=${r.action.slice(6)}`);
  const peer = sh([join(dir, "lsx"), "--guards", ...refusals]);
  writeFileSync(join(dir, "jailx.bpf"), ours);
  writeFileSync(join(dir, "libseccomp.bpf"), peer);
  // One instruction, "ret ALLOW": the fixed cost of having any filter (the kernel's syscall
  // entry slow path), against which the policies' own cost shows.
  const allowAll = Buffer.alloc(8);
  allowAll.writeUInt16LE(0x06, 0);
  allowAll.writeUInt32LE(0x7fff0000, 4);
  writeFileSync(join(dir, "allow-all.bpf"), allowAll);

  const filters: Record<string, string | null> = { none: null, "allow-all": join(dir, "allow-all.bpf"), jailx: join(dir, "jailx.bpf"), libseccomp: join(dir, "libseccomp.bpf") };
  const workloads: Record<string, string[]> = {
    "dd bs=1 count=2000000": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=2000000", "status=none"],
    "getppid x 5000000": [join(dir, "loop"), "5000000"],
  };

  console.log(`# BPF instructions executed per syscall (x86_64, cBPF interpreter)`);
  console.log(`filter       size  read  write  getppid  futex  epoll_wait`);
  for (const [name, f] of [["jailx", ours], ["libseccomp", Buffer.from(peer)]] as const) {
    const prog = decode(f);
    const steps = (s: string) => runFilter(prog, { nr: TABLES.x86_64.get(s)!, arch: AUDIT_ARCH.x86_64 }).steps;
    console.log(`${name.padEnd(11)} ${String(prog.length).padStart(5)} ${String(steps("read")).padStart(5)} ${String(steps("write")).padStart(6)} ${String(steps("getppid")).padStart(8)} ${String(steps("futex")).padStart(6)} ${String(steps("epoll_wait")).padStart(11)}`);
  }

  const time = (filter: string | null, cmd: string[]): number => {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...SINGLE };
    const policy = filter ? [] : ["--seccomp", "none"];
    if (filter) env.JAILX_TEST_FILTER = filter;
    const r = Bun.spawnSync([BUN, join(dir, "harness.js"), ...policy, "--", ...cmd], { env, stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} under ${filter ?? "none"}: exit ${r.exitCode} ${r.stderr}`);
    // CPU time (user + system) of the process: less sensitive than wall time to other load.
    return Number(r.resourceUsage.cpuTime.total) / 1000;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n# CPU time (user+system), median of ${rounds} interleaved runs (each includes the same harness start-up)`);
  console.log(`workload                  none ms  allow-all ms  ratio   jailx ms  ratio   libseccomp ms  ratio`);
  for (const [label, cmd] of Object.entries(workloads)) {
    const t: Record<string, number[]> = { none: [], "allow-all": [], jailx: [], libseccomp: [] };
    time(null, cmd); // warm the page cache
    for (let i = 0; i < rounds; i++) for (const [k, f] of Object.entries(filters)) t[k]!.push(time(f, cmd));
    const [n, a, j, l] = [median(t.none!), median(t["allow-all"]!), median(t.jailx!), median(t.libseccomp!)];
    const col = (v: number, w: number) => `${v.toFixed(0).padStart(w)} ${(v / n).toFixed(3).padStart(6)}`;
    console.log(`${label.padEnd(24)} ${n.toFixed(0).padStart(8)} ${col(a, 13)} ${col(j, 10)} ${col(l, 15)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
