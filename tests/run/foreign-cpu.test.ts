// The other binaries, run for real under qemu user-mode emulation: dist/jailx-linux-arm64 with
// Debian's arm64 libc (the libc6-arm64-cross package, /usr/aarch64-linux-gnu) and
// dist/jailx-linux-x64-baseline on an emulated CPU without AVX/AVX2 (-cpu Nehalem). `run` needs a
// kernel of the binary's architecture and is left to the VM lane (docs/TESTING.md).
// Skipped, with the reason printed, when qemu-user or the arm64 libc is missing.
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/build.ts";

const ARM = join(ROOT, "dist/jailx-linux-arm64");
const BASELINE = join(ROOT, "dist/jailx-linux-x64-baseline");
const SYSROOT = "/usr/aarch64-linux-gnu";
const qemu = (arch: string) => [`/usr/bin/qemu-${arch}-static`, `/usr/bin/qemu-${arch}`].find((p) => existsSync(p));
const QEMU_ARM = qemu("aarch64");
const QEMU_X64 = qemu("x86_64");

function missing(what: [boolean, string][]): string | null {
  const m = what.filter(([ok]) => !ok).map(([, why]) => why);
  return m.length ? m.join("; ") : null;
}
const armSkip = missing([[!!QEMU_ARM, "no qemu-aarch64 (apt-get install qemu-user-static)"], [existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`), "no arm64 libc (apt-get install libc6-arm64-cross)"], [existsSync(ARM), "no dist/jailx-linux-arm64 (bun scripts/build.ts)"]]);
const x64Skip = missing([[!!QEMU_X64, "no qemu-x86_64 (apt-get install qemu-user-static)"], [existsSync(BASELINE), "no dist/jailx-linux-x64-baseline (bun scripts/build.ts)"]]);
if (armSkip) console.warn(`SKIP arm64 under qemu-user: ${armSkip}`);
if (x64Skip) console.warn(`SKIP x64 baseline on a CPU without AVX2: ${x64Skip}`);

function run(cmd: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}
const arm = (...args: string[]) => run([QEMU_ARM!, "-L", SYSROOT, ARM, ...args]);
const base = (...args: string[]) => run([QEMU_X64!, "-cpu", "Nehalem", BASELINE, ...args]);

test.skipIf(!!armSkip)("arm64: --help, and the seccomp filter is built for AUDIT_ARCH_AARCH64", () => {
  const help = arm("--help");
  expect(help.code).toBe(0);
  expect(help.out).toContain("USAGE jailx run|inspect|seccomp");
  const show = arm("seccomp", "show");
  expect(show.code).toBe(0);
  expect(show.out).toContain("AUDIT_ARCH_AARCH64");
  expect(show.out).not.toContain("AUDIT_ARCH_X86_64");
}, 60_000);

test.skipIf(!!armSkip)("arm64: inspect reads a live process from /proc (JSON)", () => {
  const sleeper = Bun.spawn(["sleep", "60"]);
  try {
    const r = arm("inspect", "--json", String(sleeper.pid));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { pid?: number; process?: { pid?: number } };
    expect(j.pid ?? j.process?.pid).toBe(sleeper.pid);
  } finally {
    sleeper.kill();
  }
}, 60_000);

test.skipIf(!!x64Skip)("x64 baseline on a CPU without AVX/AVX2 (qemu -cpu Nehalem): --help, seccomp show, inspect", () => {
  expect(base("--help").code).toBe(0);
  const show = base("seccomp", "show");
  expect(show.code).toBe(0);
  expect(show.out).toContain("AUDIT_ARCH_X86_64");
  const r = base("inspect", "--json", "self");
  expect(r.code).toBe(0);
  expect(() => JSON.parse(r.out)).not.toThrow();
}, 60_000);

// Control: the emulated CPU really lacks AVX2 — a program using 256-bit integer AVX2 instructions
// dies of SIGILL there (and runs with -cpu Haswell), so the baseline test above can fail.
test.skipIf(!QEMU_X64 || !Bun.which("gcc"))("control: an AVX2 program gets SIGILL under qemu -cpu Nehalem, runs under -cpu Haswell", () => {
  const dir = mkdtempSync(join(tmpdir(), "jailx-avx2-"));
  try {
    writeFileSync(join(dir, "a.c"), "#include <immintrin.h>\nint main(int c, char **v) { __m256i a = _mm256_set1_epi32(c); a = _mm256_add_epi32(a, a); return _mm256_extract_epi32(a, 0) == 2 * c ? 0 : 1; }\n");
    const cc = Bun.spawnSync(["gcc", "-O0", "-mavx2", join(dir, "a.c"), "-o", join(dir, "a")], { stderr: "pipe" });
    expect(cc.exitCode, cc.stderr.toString()).toBe(0);
    expect(Bun.spawnSync([QEMU_X64!, "-cpu", "Nehalem", join(dir, "a")], { stderr: "pipe" }).signalCode).toBe("SIGILL");
    expect(Bun.spawnSync([QEMU_X64!, "-cpu", "Haswell", join(dir, "a")], { stderr: "pipe" }).exitCode).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
