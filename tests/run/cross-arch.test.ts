// The binaries for other CPUs, exercised for real under qemu-user (not only cross-built):
// dist/jailx-linux-arm64 with Debian's aarch64 C library (libc6-arm64-cross), and
// dist/jailx-baseline on an emulated x86-64 CPU without AVX2 (qemu's Nehalem model). `run`
// needs the real kernel's namespaces and seccomp for its own architecture, which qemu-user does
// not emulate: it is tested where the binary's CPU is native (the VM lane, issue 9).
// The binaries come from the full build (tests/run/cross-build.test.ts runs it first under the
// build lock; this file builds them itself when missing).
import { beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT } from "../helpers/build.ts";
import { type Feature, describeIf, program } from "../helpers/kernel.ts";

const ARM = join(ROOT, "dist/jailx-linux-arm64");
const BASELINE = join(ROOT, "dist/jailx-baseline");
const SYSROOT = "/usr/aarch64-linux-gnu";

function both(a: Feature, b: Feature): Feature {
  return a.ok ? b : a;
}
const armLibc: Feature = existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`)
  ? { ok: true, why: "" }
  : { ok: false, why: `no aarch64 C library at ${SYSROOT} (Debian's libc6-arm64-cross; scripts/install-deps.sh installs it)` };

beforeAll(() => {
  if (existsSync(ARM) && existsSync(BASELINE)) return;
  const r = Bun.spawnSync(["flock", join(ROOT, "dist/.build.lock"), BUN, "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`full build failed: ${r.stderr.toString()}`);
}, 180_000);

function qemu(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argv, { cwd: "/tmp", stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The same read-only commands on each foreign binary; `arch` names its seccomp architecture. */
function readOnlyCommands(run: (args: string[]) => ReturnType<typeof qemu>, arch: RegExp): void {
  test("--help lists the commands", () => {
    const r = run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run/);
    expect(r.stdout).toMatch(/inspect/);
  }, 120_000);
  test("seccomp show disassembles the default filter for its own architecture", () => {
    const r = run(["seccomp", "show", "--bpf"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(arch);
  }, 120_000);
  test("inspect reads a real process from /proc (the test runner itself)", () => {
    const r = run(["inspect", "--json", String(process.pid)]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.pid).toBe(process.pid);
    expect(j.namespaces.pid.state).toBe("shared");
  }, 120_000);
}

describeIf(both(program("qemu-aarch64"), armLibc), "arm64 binary under qemu-aarch64", () => {
  readOnlyCommands((args) => qemu(["qemu-aarch64", "-L", SYSROOT, ARM, ...args]), /AUDIT_ARCH_AARCH64/);
});

describeIf(program("qemu-x86_64"), "x64 baseline binary on a CPU without AVX2 (qemu-x86_64 -cpu Nehalem)", () => {
  test("control: the emulated CPU refuses AVX2 (an AVX2 instruction dies of SIGILL there, runs on -cpu max)", () => {
    const dir = mkdtempSync("/tmp/jx-avx2-");
    try {
      writeFileSync(`${dir}/p.c`, 'int main(void){__asm__ volatile("vpaddd %ymm0,%ymm1,%ymm2");return 0;}\n');
      expect(Bun.spawnSync(["gcc", "-o", `${dir}/p`, `${dir}/p.c`]).exitCode).toBe(0);
      expect(Bun.spawnSync(["qemu-x86_64", "-cpu", "Nehalem", `${dir}/p`]).signalCode ?? "").toBe("SIGILL");
      expect(Bun.spawnSync(["qemu-x86_64", "-cpu", "max", `${dir}/p`]).exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  readOnlyCommands((args) => qemu(["qemu-x86_64", "-cpu", "Nehalem", BASELINE, ...args]), /AUDIT_ARCH_X86_64/);
});
