// What this machine's kernel can do, found by probing it (never guessed from a machine name or a
// version number). Tests that need a missing feature are skipped visibly: the test's name says
// why, and one line on stderr says it once per feature.
import { describe, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";

export interface Feature {
  ok: boolean;
  /** why it is missing (shown when a test is skipped) */
  why: string;
}

const said = new Set<string>();
function announce(f: Feature): void {
  if (f.ok || said.has(f.why)) return;
  said.add(f.why);
  console.warn(`skipping tests: ${f.why}`);
}

/** `test`, or a visible skip whose name carries the reason. */
/** A feature from a probe the test file made itself. */
export const feature = (ok: boolean, why: string): Feature => ({ ok, why: ok ? "" : why });

export function testIf(f: Feature): (name: string, fn: () => unknown, timeout?: number) => void {
  return (name, fn, timeout) => {
    if (f.ok) return test(name, fn as () => void, timeout);
    announce(f);
    test.skip(`${name} [skipped: ${f.why}]`, fn as () => void);
  };
}

/** `describe`, or a visible skip of the whole block. */
export function describeIf(f: Feature, name: string, fn: () => void): void {
  if (f.ok) return describe(name, fn);
  announce(f);
  describe.skip(`${name} [skipped: ${f.why}]`, fn);
}

let i386: Feature | undefined;
/** The i386 entry (int 0x80) from a 64-bit process: absent without IA32 emulation (it segfaults). */
export function i386Entry(): Feature {
  if (i386) return i386;
  if (process.arch !== "x64") return (i386 = { ok: false, why: `the i386 entry exists only on x86_64 (this is ${process.arch})` });
  if (!Bun.which("gcc")) return (i386 = { ok: false, why: "no gcc to build the i386-entry probe" });
  const dir = mkdtempSync("/tmp/jx-i386-");
  try {
    writeFileSync(`${dir}/p.c`, 'int main(void){long r;__asm__ volatile("int $0x80":"=a"(r):"a"(20L):"memory");return r>0?0:1;}\n');
    const cc = Bun.spawnSync(["gcc", "-o", `${dir}/p`, `${dir}/p.c`], { stderr: "pipe" });
    if (cc.exitCode !== 0) return (i386 = { ok: false, why: `the i386-entry probe did not build: ${cc.stderr.toString().trim()}` });
    const r = Bun.spawnSync([`${dir}/p`]);
    i386 = r.exitCode === 0
      ? { ok: true, why: "" }
      : { ok: false, why: `this kernel has no i386 entry (int 0x80 ${r.signalCode ? `died of ${r.signalCode}` : `failed with ${r.exitCode}`}: no IA32 emulation)` };
    return i386;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let landlock: number | undefined;
/** Landlock's ABI level (0: none), asked of the kernel with landlock_create_ruleset(VERSION). */
export function landlockAbi(): number {
  if (landlock !== undefined) return landlock;
  const nr = process.arch === "x64" || process.arch === "arm64" ? 444 : -1;
  const r = Bun.spawnSync(["python3", "-c", `import ctypes;l=ctypes.CDLL(None,use_errno=True);l.syscall.restype=ctypes.c_long;print(max(0,l.syscall(${nr},None,ctypes.c_size_t(0),ctypes.c_uint32(1))))`], { stdout: "pipe" });
  landlock = Number(r.stdout.toString().trim()) || 0;
  return landlock;
}

/** Landlock scoping of abstract unix sockets and signals (ABI 6, Linux 6.12). */
export function landlockScope(): Feature {
  const abi = landlockAbi();
  return abi >= 6 ? { ok: true, why: "" } : { ok: false, why: `no Landlock scoping in this kernel (Landlock ABI ${abi}, scoping needs 6)` };
}

/** A program on PATH (installed by scripts/install-deps.sh; a machine without it says so). */
export function program(name: string): Feature {
  const found = Bun.which(name, { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" });
  return found ? { ok: true, why: "" } : { ok: false, why: `${name} is not installed (scripts/install-deps.sh installs it)` };
}

/** An I/O weight file in the caller's cgroup (io.weight, io.bfq.weight, blkio.weight, blkio.bfq.weight). */
export function ioWeight(): Feature {
  const dirs: string[] = [];
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [, ctrl, path] = line.split(":");
    if (ctrl === undefined || path === undefined) continue;
    if (ctrl === "") dirs.push(`/sys/fs/cgroup${existsSync("/sys/fs/cgroup/unified") ? "/unified" : ""}${path}`);
    else if (ctrl.split(",").includes("blkio")) dirs.push(`/sys/fs/cgroup/blkio${path}`);
  }
  const files = ["io.weight", "io.bfq.weight", "blkio.weight", "blkio.bfq.weight"];
  const ok = dirs.some((d) => files.some((f) => existsSync(`${d}/${f}`)));
  return ok ? { ok, why: "" } : { ok, why: "no I/O weight file in this machine's cgroups (io.weight needs io.cost, the bfq ones the BFQ scheduler)" };
}

/** TIOCSTI allowed at all (dev.tty.legacy_tiocsti; kernels before 6.2 have no switch and allow it). */
export function legacyTiocsti(): Feature {
  let v = "1";
  try {
    v = readFileSync("/proc/sys/dev/tty/legacy_tiocsti", "utf8").trim();
  } catch {
    /* no switch: always allowed */
  }
  return v === "1" ? { ok: true, why: "" } : { ok: false, why: "this kernel refuses TIOCSTI for everyone (dev.tty.legacy_tiocsti=0)" };
}
