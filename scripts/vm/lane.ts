#!/usr/bin/env bun
// The VM lane: boots real Debian guests (systemd PID 1, pure cgroup v2) under qemu and runs the
// end-to-end suite (scripts/vm/guest/) against a freshly built binary. See docs/TESTING.md.
//
//   bun scripts/vm/lane.ts [--dist bookworm,bullseye] [--binary dist/jailx] [--cpu host|Nehalem|…]
//                          [--smp N] [--no-cache] [--record] [--stall-seconds N]
//
// Images are built by build-image.sh once per recipe (hash of the scripts that make them) into
// .cache/vm/ (git-ignored) and booted with snapshot=on, so they stay pristine. Only the binary
// and the guest scripts go in, as a tar on a read-only second disk; results come back on the
// second serial port. Results are cached by (recipe, suite, binary, cpu, vCPUs).
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.
import { createHash } from "node:crypto";
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const CACHE = join(ROOT, ".cache/vm");
const HERE = join(ROOT, "scripts/vm");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
/** vCPUs of the guest: two, as a small server has (the init is kept off the supervisor's CPU there) */
const SMP = Number(arg("smp", "2"));

const sha = (...parts: (string | Buffer)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex").slice(0, 12);
};
const fileHash = (...files: string[]) => sha(...files.map((f) => readFileSync(f)));

const KVM_BROKEN = join(CACHE, "kvm-broken");
/** KVM when /dev/kvm is usable — unless an earlier boot showed the kernel never starts under it. */
let kvm = (() => {
  if (flag("tcg") || existsSync(KVM_BROKEN)) return false;
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();
const KVM_PROBE_S = 30;

export interface LaneResult {
  dist: string;
  cpu: string;
  accel: string;
  binary: string;
  /** which build: dist/jailx, dist/jailx-linux-x64-baseline, … */
  binaryName?: string;
  info: string[];
  times: Record<string, number>;
  checks: { status: "PASS" | "FAIL" | "SKIP"; context: string; name: string; detail?: string }[];
  seconds: { image: number; boot: number; total: number };
}

async function sh(cmd: string[], log: string): Promise<number> {
  const p = Bun.spawn(cmd, { stdout: Bun.file(log), stderr: Bun.file(`${log}.err`) });
  return await p.exited;
}

async function ensureImage(dist: string): Promise<{ dir: string; seconds: number }> {
  const recipe = fileHash(join(HERE, "build-image.sh"), join(HERE, "guest-runner.sh")) + "-" + sha(dist);
  const dir = join(CACHE, `img-${dist}-${recipe}`);
  if (existsSync(join(dir, "disk.img")) && !flag("rebuild")) return { dir, seconds: 0 };
  console.error(`lane: building the ${dist} image (debootstrap; several minutes)…`);
  // A fresh clone has no .cache/vm yet: the build log goes there (Bun's spawn reports a missing
  // log directory as ENOENT for the program itself).
  mkdirSync(CACHE, { recursive: true });
  const t = performance.now();
  const code = await sh(["bash", join(HERE, "build-image.sh"), dist, dir], join(CACHE, `build-${dist}.log`));
  if (code !== 0) throw new Error(`image build for ${dist} failed: see ${CACHE}/build-${dist}.log.err`);
  return { dir, seconds: (performance.now() - t) / 1000 };
}

function payload(binary: string, work: string): string {
  const stage = join(work, "payload");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(binary, join(stage, "jailx"));
  for (const f of readdirSync(join(HERE, "guest"))) copyFileSync(join(HERE, "guest", f), join(stage, f));
  const tar = join(work, "payload.tar");
  const r = Bun.spawnSync(["tar", "-cf", tar, "--owner=0", "--group=0", "-C", stage, "."]);
  if (r.exitCode !== 0) throw new Error(`tar: ${r.stderr.toString()}`);
  return tar;
}

function parse(text: string, r: LaneResult): boolean {
  let ended = false;
  for (const line of text.split(/\r?\n/)) {
    const m = /^(PASS|FAIL|SKIP) (\S+) ([^:]+?)(?:: (.*))?$/.exec(line);
    if (m) r.checks.push({ status: m[1] as "PASS", context: m[2]!, name: m[3]!, ...(m[4] ? { detail: m[4] } : {}) });
    else if (line.startsWith("INFO ")) r.info.push(line.slice(5));
    else if (line.startsWith("TIME ")) r.times[line.split(" ")[1]!] = Number(line.split(" ")[2]);
    else if (line.startsWith("LANE-END")) ended = true;
  }
  return ended;
}

async function runGuest(dist: string, binary: string, cpu: string): Promise<LaneResult> {
  const t0 = performance.now();
  const image = await ensureImage(dist);
  const binHash = fileHash(binary);
  const suiteHash = fileHash(...readdirSync(join(HERE, "guest")).sort().map((f) => join(HERE, "guest", f)));
  const key = `${dist}-${image.dir.split("-").slice(-2).join("-")}-${suiteHash}-${binHash}-${cpu}-smp${SMP}`;
  const cached = join(CACHE, "results", `${key}.json`);
  if (existsSync(cached) && !flag("no-cache")) {
    console.error(`lane: ${dist} (${cpu}): cached result for this image, suite and binary`);
    return JSON.parse(readFileSync(cached, "utf8")) as LaneResult;
  }
  const work = join(CACHE, "run", dist);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tar = payload(binary, work);
  const r = await boot(dist, image.dir, tar, work, cpu, t0, image.seconds, binHash);
  mkdirSync(join(CACHE, "results"), { recursive: true });
  // A run that never finished is not cached: it says nothing about the binary.
  if (r.checks.every((c) => c.context !== "lane")) writeFileSync(cached, JSON.stringify(r, null, 2));
  return r;
}

/**
 * A guest that adds nothing to its console or results for this long is taken as hung, killed and
 * booted once more. A run prints every few seconds (the kernel, systemd, one line per check);
 * once, under emulation, a guest printed nothing after "booting" for over 15 minutes, where a
 * run takes ~75 s, and the whole limit (30 minutes) would have been spent on it.
 */
const STALL_S = Number(arg("stall-seconds", "300"));

/** Bytes the guest has written to its two serial ports so far. */
function printed(work: string): number {
  return ["console.log", "results.log"].reduce((n, f) => n + (existsSync(join(work, f)) ? statSync(join(work, f)).size : 0), 0);
}

async function boot(dist: string, imageDir: string, tar: string, work: string, cpu: string, t0: number, imageSeconds: number, binHash: string, again = false): Promise<LaneResult> {
  const accel = kvm ? "kvm" : "tcg";
  // -cpu host under nested KVM here trips over IA32_ARCH_CAPABILITIES (qemu aborts setting MSR 0x10a).
  const qemuCpu = cpu === "host" ? (kvm ? "host,-arch-capabilities" : "max") : cpu;
  const args = [
    "qemu-system-x86_64", "-accel", accel, "-cpu", qemuCpu, "-smp", String(SMP), "-m", "2048",
    "-kernel", join(imageDir, "vmlinuz"), "-initrd", join(imageDir, "initrd.img"),
    "-append", "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1",
    "-drive", `file=${join(imageDir, "disk.img")},if=virtio,format=raw,snapshot=on`,
    "-drive", `file=${tar},if=virtio,format=raw,readonly=on`,
    "-nic", "none", "-display", "none", "-monitor", "none", "-no-reboot",
    "-serial", `file:${join(work, "console.log")}`, "-serial", `file:${join(work, "results.log")}`,
  ];
  console.error(`lane: booting ${dist} (${accel}, -cpu ${qemuCpu})…`);
  const tBoot = performance.now();
  const qemu = Bun.spawn(args, { stdout: "ignore", stderr: Bun.file(join(work, "qemu.err")) });
  // A guest outlives a killed lane otherwise (CI's timeout, Ctrl-C): take it down with us.
  // (process.on: Bun ignores process.once for signals.)
  const stop = () => {
    qemu.kill("SIGKILL");
    process.exit(130);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const limitS = kvm ? 600 : 1800;
  const timer = setTimeout(() => qemu.kill("SIGKILL"), limitS * 1000);
  let seen = -1, since = performance.now(), stalled = false;
  const watch = setInterval(() => {
    const n = printed(work);
    if (n !== seen) [seen, since] = [n, performance.now()];
    else if (performance.now() - since > STALL_S * 1000) {
      stalled = true;
      qemu.kill("SIGKILL");
    }
  }, 5000);
  // Nested KVM may hang in the kernel's first instructions (seen here: nothing after the boot
  // stub's "Probing EDD"); then fall back to emulation, and remember it.
  let kvmHung = false;
  const probe = kvm
    ? setTimeout(() => {
        const con = existsSync(join(work, "console.log")) ? readFileSync(join(work, "console.log"), "utf8") : "";
        if (!con.includes("Linux version")) {
          kvmHung = true;
          qemu.kill("SIGKILL");
        }
      }, KVM_PROBE_S * 1000)
    : null;
  await qemu.exited;
  process.off("SIGTERM", stop);
  process.off("SIGINT", stop);
  clearTimeout(timer);
  clearInterval(watch);
  if (probe) clearTimeout(probe);
  const tail = () => (existsSync(join(work, "console.log")) ? readFileSync(join(work, "console.log"), "utf8").split("\n").slice(-5).join(" | ") : "");
  if (kvmHung) {
    console.error(`lane: the guest kernel did not start under KVM within ${KVM_PROBE_S}s (nested KVM); falling back to TCG (rm ${KVM_BROKEN} to retry KVM)`);
    writeFileSync(KVM_BROKEN, `guest kernel hung at boot under KVM, ${new Date().toISOString()}\n`);
    kvm = false;
    return boot(dist, imageDir, tar, work, cpu, t0, imageSeconds, binHash, again);
  }
  if (stalled && !again) {
    console.error(`lane: the ${dist} guest printed nothing for ${STALL_S}s (console: ${tail()}); booting it once more`);
    for (const f of ["console.log", "results.log"]) rmSync(join(work, f), { force: true });
    return boot(dist, imageDir, tar, work, cpu, t0, imageSeconds, binHash, true);
  }
  const r: LaneResult = {
    dist, cpu: qemuCpu, accel, binary: binHash, binaryName: binArg, info: [], times: {}, checks: [],
    seconds: { image: Math.round(imageSeconds), boot: 0, total: 0 },
  };
  const text = existsSync(join(work, "results.log")) ? readFileSync(join(work, "results.log"), "utf8") : "";
  if (!parse(text, r)) {
    const why = stalled ? `nothing printed for ${STALL_S}s, twice` : `no LANE-END within ${limitS}s`;
    r.checks.push({ status: "FAIL", context: "lane", name: "guest-finished", detail: `${why}; console: ${tail()}` });
  }
  r.seconds.boot = Math.round(r.times.boot ?? 0);
  r.seconds.total = Math.round((performance.now() - t0) / 1000);
  r.times.qemu = Math.round((performance.now() - tBoot) / 100) / 10;
  return r;
}

const dists = arg("dist", "bookworm").split(",");
const binArg = arg("binary", "dist/jailx");
const binary = binArg.startsWith("/") ? binArg : join(ROOT, binArg);
const cpu = arg("cpu", "host");
let passed = 0, failed = 0;
const all: LaneResult[] = [];
for (const dist of dists) {
  const r = await runGuest(dist, binary, cpu);
  all.push(r);
  for (const i of r.info) console.log(`# ${dist}: ${i}`);
  for (const c of r.checks) {
    console.log(`${c.status === "PASS" ? "ok  " : c.status === "SKIP" ? "skip" : "FAIL"} ${dist} ${c.context} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
    if (c.status === "PASS") passed++;
    if (c.status === "FAIL") failed++;
  }
  console.log(`# ${dist}: image ${r.seconds.image}s, guest ${r.times.qemu}s (boot ${r.times.boot}s; suite by context: ${Object.entries(r.times).filter(([k]) => !["boot", "qemu"].includes(k)).map(([k, v]) => `${k} ${v}s`).join(", ")})`);
}
if (flag("record")) {
  const file = join(ROOT, "docs/lane-results.json");
  const old: LaneResult[] = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LaneResult[]) : [];
  // One entry per (release, CPU, build): the newest run replaces the older one.
  const same = (a: LaneResult, b: LaneResult) => a.dist === b.dist && a.cpu === b.cpu && (a.binaryName ?? "dist/jailx") === (b.binaryName ?? "dist/jailx");
  const merged = [...old.filter((o) => !all.some((n) => same(n, o))), ...all];
  writeFileSync(file, JSON.stringify(merged.map((x) => ({ ...x, checks: x.checks })), null, 2) + "\n");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
