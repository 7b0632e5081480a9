// The binaries for other CPUs, run for real under qemu user-mode emulation (not only cross-built):
// dist/jailx-linux-arm64 with Debian's aarch64 C library (libc6-arm64-cross, /usr/aarch64-linux-gnu),
// and dist/jailx-linux-x64-baseline on an emulated x86-64 CPU without AVX/AVX2 (qemu's Nehalem
// model). `run` needs the real kernel's namespaces and seccomp for the binary's own architecture,
// which qemu-user does not emulate: it is tested where that CPU is native (the VM lane,
// docs/TESTING.md). Skipped visibly, with the reason, when qemu-user or the arm64 libc is missing.
// The binaries come from the full build (tests/run/cross-build.test.ts runs it under the build
// lock); this file builds them itself when missing or older than dist/jailx. Their embedded stage
// (jail/stage/stage.c, built for each CPU) is replayed under the emulator by the hidden
// `jailx __stage-selftest`: namespaces aside, qemu-user runs its raw syscalls for real.
import { beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, JAILX, ROOT } from "../helpers/build.ts";
import { type Feature, describeIf } from "../helpers/kernel.ts";
import { SELFTEST_NAME, expectSelftest } from "../helpers/stage.ts";

const ARM = join(ROOT, "dist/jailx-linux-arm64");
const BASELINE = join(ROOT, "dist/jailx-linux-x64-baseline");
const SYSROOT = "/usr/aarch64-linux-gnu";

/** qemu-ARCH from qemu-user-static or qemu-user, whichever is installed. */
function qemuFor(arch: string): string | undefined {
  return [`/usr/bin/qemu-${arch}-static`, `/usr/bin/qemu-${arch}`].find((p) => existsSync(p));
}
const QEMU_ARM = qemuFor("aarch64");
const QEMU_X64 = qemuFor("x86_64");

function all(...fs: Feature[]): Feature {
  return fs.find((f) => !f.ok) ?? { ok: true, why: "" };
}
const has = (ok: boolean, why: string): Feature => ({ ok, why: ok ? "" : why });
const armQemu = has(!!QEMU_ARM, "no qemu-aarch64 (qemu-user-static; scripts/install-deps.sh installs it)");
const armLibc = has(existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`), `no aarch64 C library at ${SYSROOT} (libc6-arm64-cross; scripts/install-deps.sh installs it)`);
const x64Qemu = has(!!QEMU_X64, "no qemu-x86_64 (qemu-user-static; scripts/install-deps.sh installs it)");
const gcc = has(!!Bun.which("gcc"), "no gcc (scripts/install-deps.sh installs it)");
const current = (f: string) => existsSync(f) && statSync(f).mtimeMs >= statSync(JAILX).mtimeMs;
// The full build needs the arm64 stage, hence the cross compiler (scripts/build.ts refuses without).
const buildable = has(
  (current(ARM) && current(BASELINE)) || !!Bun.which("aarch64-linux-gnu-gcc"),
  "no aarch64-linux-gnu-gcc to build the arm64 stage for the full build (gcc-aarch64-linux-gnu; scripts/install-deps.sh installs it)",
);

beforeAll(() => {
  if ((current(ARM) && current(BASELINE)) || !buildable.ok) return;
  const r = Bun.spawnSync(["flock", join(ROOT, "dist/.build.lock"), BUN, "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`full build failed: ${r.stderr.toString()}`);
}, 180_000);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
function spawn(argv: string[]): Ran {
  const r = Bun.spawnSync(argv, { cwd: "/tmp", stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The same read-only commands on each foreign binary; `own`/`other`: seccomp architectures. */
function readOnlyCommands(run: (args: string[]) => Ran, own: string, other: string): void {
  test("--help lists the commands", () => {
    const r = run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: jailx COMMAND");
    for (const cmd of ["run", "inspect", "seccomp"]) expect(r.stdout).toMatch(new RegExp(`^  ${cmd} `, "m"));
  }, 120_000);
  test(`seccomp show: the default filter by name, and as BPF for ${own} only`, () => {
    const names = run(["seccomp", "show"]);
    expect(names.code, names.stderr).toBe(0);
    expect(names.stdout).toMatch(/\bmount\b/);
    const bpf = run(["seccomp", "show", "--bpf"]);
    expect(bpf.code, bpf.stderr).toBe(0);
    expect(bpf.stdout).toContain(own);
    expect(bpf.stdout).not.toContain(other);
  }, 120_000);
  test("inspect reads real processes from /proc (the test runner, and a sleeping child)", () => {
    const r = run(["inspect", "--json", String(process.pid)]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.pid).toBe(process.pid);
    expect(j.namespaces.pid.state).toBe("shared");
    const sleeper = Bun.spawn(["sleep", "60"]);
    try {
      const s = run(["inspect", "--json", String(sleeper.pid)]);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).pid).toBe(sleeper.pid);
    } finally {
      sleeper.kill();
    }
  }, 240_000);
}

/** The embedded stage of a binary replays its fixed program (cmd/stage-selftest.ts). */
function stageSelftest(run: (args: string[]) => Ran, machine: string): void {
  test(SELFTEST_NAME, () => expectSelftest(run(["__stage-selftest"]), machine), 120_000);
}

describeIf(all(armQemu, armLibc, buildable), "arm64 binary under qemu-aarch64", () => {
  const run = (args: string[]) => spawn([QEMU_ARM!, "-L", SYSROOT, ARM, ...args]);
  readOnlyCommands(run, "AUDIT_ARCH_AARCH64", "AUDIT_ARCH_X86_64");
  stageSelftest(run, "aarch64");
});

describeIf(all(x64Qemu, buildable), "x64 baseline binary on a CPU without AVX2 (qemu-x86_64 -cpu Nehalem)", () => {
  // Control: the emulated CPU really lacks AVX2, so the tests below can fail on an AVX2 binary.
  describeIf(gcc, "control", () => {
    test("an AVX2 program dies of SIGILL on -cpu Nehalem and runs on -cpu Haswell", () => {
      const dir = mkdtempSync("/tmp/jx-avx2-");
      try {
        writeFileSync(
          `${dir}/a.c`,
          "#include <immintrin.h>\nint main(int c, char **v) { __m256i a = _mm256_set1_epi32(c); a = _mm256_add_epi32(a, a); return _mm256_extract_epi32(a, 0) == 2 * c ? 0 : 1; }\n",
        );
        const cc = Bun.spawnSync(["gcc", "-O0", "-mavx2", `${dir}/a.c`, "-o", `${dir}/a`], { stderr: "pipe" });
        expect(cc.exitCode, cc.stderr.toString()).toBe(0);
        expect(Bun.spawnSync([QEMU_X64!, "-cpu", "Nehalem", `${dir}/a`], { stderr: "pipe" }).signalCode ?? "").toBe("SIGILL");
        expect(Bun.spawnSync([QEMU_X64!, "-cpu", "Haswell", `${dir}/a`], { stderr: "pipe" }).exitCode).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });
  const run = (args: string[]) => spawn([QEMU_X64!, "-cpu", "Nehalem", BASELINE, ...args]);
  readOnlyCommands(run, "AUDIT_ARCH_X86_64", "AUDIT_ARCH_AARCH64");
  stageSelftest(run, "x86_64");
});
