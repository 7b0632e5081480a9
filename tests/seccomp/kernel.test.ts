// Integration: the kernel runs jailx's filters. Every process that installs a filter is a
// subprocess (bun test is multi-threaded); C probes reach syscalls a shell cannot.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_CAPS } from "../../sys/caps.ts";
import { compileSeccompPlan, explainFilter, explainFilters, readProcessFilters, seccompPlanFromOptions } from "../../sys/seccomp/index.ts";
import { BUN, ROOT, SINGLE_THREAD_ENV, buildTools, probe, underFilter, type Built } from "./helpers.ts";

let b: Built;
beforeAll(() => {
  b = buildTools();
});
afterAll(() => b?.cleanup());

import { DEFAULT_REFUSALS, SIGSYS, STILL_WORKS } from "./expectations.ts";
import { i386Entry, program, testIf } from "../helpers/kernel.ts";

describe("default policy, as the kernel applies it", () => {
  test("each refused family returns the documented errno, and only because of the filter", () => {
    const cases = [...Object.keys(DEFAULT_REFUSALS), ...STILL_WORKS];
    const filtered = probe(b, [], cases);
    const unfiltered = probe(b, ["--seccomp", "none"], cases);
    for (const [c, want] of Object.entries(DEFAULT_REFUSALS)) {
      expect({ c, got: filtered[c] }).toEqual({ c, got: want });
      expect({ c, unfiltered: unfiltered[c] === want }).toEqual({ c, unfiltered: false });
    }
    for (const c of STILL_WORKS) expect({ c, got: filtered[c] }).toEqual({ c, got: "OK" });
  });

  testIf(i386Entry())("the i386 entry (int 0x80) is closed: ENOSYS even for getpid", () => {
    const cases = ["i386_getpid", "i386_mount", "i386_unshare", "i386_reboot", "i386_keyctl", "i386_socket_alg"];
    const r = probe(b, [], cases);
    for (const c of cases) expect({ c, got: r[c] }).toEqual({ c, got: "ENOSYS" });
    expect(probe(b, ["--seccomp", "none"], ["i386_getpid"]).i386_getpid).toBe("OK");
  });

  testIf(i386Entry())("with @abi-i386 the i386 entry is policed by the same rules", () => {
    const r = probe(b, ["--seccomp-allow", "@abi-i386"], ["i386_getpid", "i386_mount", "i386_unshare", "i386_reboot", "i386_keyctl", "i386_socket_alg", "i386_socketcall"]);
    expect(r).toEqual({ i386_getpid: "OK", i386_mount: "EPERM", i386_unshare: "EPERM", i386_reboot: "EPERM", i386_keyctl: "EPERM", i386_socket_alg: "EPERM", i386_socketcall: "ENOSYS" });
  });

  test("x32 numbers are killed with foreign-abi-action = kill", () => {
    const file = join(b.dir, "foreign-kill.toml");
    writeFileSync(file, `foreign-abi-action = "kill"\n`);
    const r = probe(b, ["--seccomp", file], ["x32_getpid", "x32_mount", "getppid"]);
    expect(r).toEqual({ x32_getpid: SIGSYS, x32_mount: SIGSYS, getppid: "OK" });
  });

  testIf(i386Entry())("i386 calls are killed with foreign-abi-action = kill", () => {
    const file = join(b.dir, "foreign-kill.toml");
    writeFileSync(file, `foreign-abi-action = "kill"\n`);
    expect(probe(b, ["--seccomp", file], ["i386_getpid", "getppid"])).toEqual({ i386_getpid: SIGSYS, getppid: "OK" });
  });
});

/**
 * Run `attempt` (which asserts the call's own result) until the kernel log holds a line matching
 * `re`, within a bound. Without auditd the records go through printk's rate limit ("N callbacks
 * suppressed"), which drops lines when other tests logged just before: each attempt makes a new
 * record, and a pause lets the limit's window pass. Fails when no attempt's line ever appears.
 */
function expectAuditLine(attempt: () => void, re: RegExp, boundMs = 30_000): void {
  const end = Date.now() + boundMs;
  for (;;) {
    attempt();
    const dmesg = Bun.spawnSync(["dmesg"], { stdout: "pipe" }).stdout.toString();
    if (re.test(dmesg)) return;
    if (Date.now() > end) expect(dmesg).toMatch(re);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
}

describe("actions", () => {
  test("kill kills the process with SIGSYS", () => {
    const file = join(b.dir, "kill.toml");
    writeFileSync(file, `deny-action = "kill"\ndeny = ["getppid"]\n`);
    expect(probe(b, ["--seccomp", file], ["getppid", "socket_unix"])).toEqual({ getppid: SIGSYS, socket_unix: "OK" });
  });
  test("allow-list with kill as default: ordinary shell work still runs, the rest dies", () => {
    const r = underFilter(b, ["--seccomp-default-action", "kill", "--seccomp-allow", "@system-service"], ["/bin/sh", "-c", "echo hello | tr h H; cat /etc/hostname >/dev/null"]);
    expect(r.stdout).toBe("Hello\n");
    expect(r.exitCode).toBe(0);
    expect(probe(b, ["--seccomp-default-action", "kill", "--seccomp-allow", "@system-service"], ["mount", "getppid"])).toEqual({ mount: SIGSYS, getppid: "OK" });
  });
  test("errno:N returns that errno", () => {
    expect(probe(b, ["--seccomp-default-action", "errno:EACCES", "--seccomp-allow", "@system-service"], ["swapon"])).toEqual({ swapon: "EACCES" });
  });
  test("log lets the syscall run and writes an audit record to the kernel log", () => {
    // A uniquely named copy of the probe so its audit line (comm=…) can be found.
    const name = `seclog${process.pid % 100000}`;
    const exe = join(b.dir, name);
    copyFileSync(b.probe, exe);
    const file = join(b.dir, "log.toml");
    writeFileSync(file, `deny-action = "log"\ndeny = ["getppid"]\n`);
    // type=1326 is AUDIT_SECCOMP; syscall 110 is getppid; 0x7ffc0000 is SECCOMP_RET_LOG.
    expectAuditLine(() => expect(probe(b, ["--seccomp", file], ["getppid"], exe)).toEqual({ getppid: "OK" }),
      new RegExp(`type=1326 .*comm="${name}".* syscall=110 .*code=0x7ffc0000`));
  });
  test("--seccomp-log: refusals are written to the kernel log", () => {
    const name = `secerr${process.pid % 100000}`;
    const exe = join(b.dir, name);
    copyFileSync(b.probe, exe);
    // syscall 167 is swapon; 0x50000 is SECCOMP_RET_ERRNO (the audit record drops the errno).
    expectAuditLine(() => expect(probe(b, ["--seccomp-log"], ["swapon"], exe)).toEqual({ swapon: "EPERM" }),
      new RegExp(`type=1326 .*comm="${name}".* syscall=167 .*code=0x50000`));
  });
  test("--seccomp-default-action log: nothing is refused", () => {
    expect(probe(b, ["--seccomp-default-action", "log"], ["getppid", "socket_unix"])).toEqual({ getppid: "OK", socket_unix: "OK" });
  });
});

describe("ordinary programs still work under the default policy", () => {
  test("a shell pipeline", () => {
    const r = underFilter(b, [], ["/bin/sh", "-c", "seq 1 1000 | sort -rn | head -1 | tr -d '\\n'; ls / >/dev/null"]);
    expect(r).toMatchObject({ exitCode: 0, stdout: "1000" });
  });
  test("python3", () => {
    const r = underFilter(b, [], ["python3", "-c", "import os, threading, subprocess; t=threading.Thread(target=lambda: None); t.start(); t.join(); print(subprocess.run(['true']).returncode, os.getppid() > 0)"]);
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ exitCode: 0, stdout: "0 True\n" });
  });
  testIf(program("nginx"))("nginx -t", () => {
    const nginx = Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" })!;
    const r = underFilter(b, [], [nginx, "-t"]);
    expect(r.stderr).toContain("test is successful");
    expect(r.exitCode).toBe(0);
  });
});

describe("reading filters back from a process (PTRACE_SECCOMP_GET_FILTER)", () => {
  test("readProcessFilters returns exactly what was installed; explain decodes it", async () => {
    const proc = Bun.spawn([BUN, b.harness, "--", "/bin/sh", "-c", "echo ready; exec sleep 60"], {
      env: { ...process.env, ...SINGLE_THREAD_ENV },
      stdout: "pipe",
    });
    try {
      const reader = proc.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("ready\n");
      const filters = readProcessFilters(proc.pid);
      expect(filters).toHaveLength(1);
      const expected = compileSeccompPlan(seccompPlanFromOptions({}, DEFAULT_CAPS)!);
      expect(filters[0]!.equals(expected)).toBe(true);
      const s = explainFilter(filters[0]!);
      expect(s.abis[0]!.syscalls.find((v) => v.name === "mount")!.action).toBe("errno:EPERM");
      // The process was resumed after the read: it still runs and is not traced.
      const status = await Bun.file(`/proc/${proc.pid}/status`).text();
      expect(status).toMatch(/TracerPid:\s+0\n/);
      expect(status).not.toMatch(/State:\s+t/);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });
  test("a stack of two filters: read back oldest first, combined like the kernel combines them", async () => {
    const inner = join(b.dir, "inner.toml");
    writeFileSync(inner, `base = "empty"\ndeny-action = "errno:EACCES"\ndeny = ["getppid", "mount"]\n`);
    const env = { ...process.env, ...SINGLE_THREAD_ENV };
    // The kernel's answer: getppid EACCES (inner), mount EPERM (outer and inner both refuse; equal
    // severity, the newest filter's errno wins → EACCES), unshare EPERM (outer only).
    // The outer harness strips Bun's variables from its program's environment: give them back.
    const single = Object.entries(SINGLE_THREAD_ENV).map(([k, v]) => `${k}=${v}`);
    const nested = (cmd: string[]) => [BUN, b.harness, "--", "/usr/bin/env", ...single, BUN, b.harness, "--seccomp", inner, "--", ...cmd];
    const r = Bun.spawnSync(nested([b.probe, "getppid", "mount", "unshare", "socket_unix"]), { env, stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString()).toBe("getppid=EACCES\nmount=EACCES\nunshare=EPERM\nsocket_unix=OK\n");
    const proc = Bun.spawn(nested(["/bin/sh", "-c", "echo ready; exec sleep 60"]), { env, stdout: "pipe" });
    try {
      const first = await proc.stdout.getReader().read();
      expect(new TextDecoder().decode(first.value)).toBe("ready\n");
      const filters = readProcessFilters(proc.pid);
      expect(filters).toHaveLength(2);
      expect(filters[0]!.equals(compileSeccompPlan(seccompPlanFromOptions({}, DEFAULT_CAPS)!))).toBe(true);
      const x86 = explainFilters(filters).abis[0]!;
      const by = new Map(x86.syscalls.map((v) => [v.name, v.action]));
      expect([by.get("getppid"), by.get("mount"), by.get("unshare"), by.get("read")]).toEqual(["errno:EACCES", "errno:EACCES", "errno:EPERM", "allow"]);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });
  test("a process without a filter has none", () => {
    expect(readProcessFilters(process.pid)).toEqual([]);
  });
  test("jailx seccomp explain decodes a libseccomp-built filter", () => {
    const out = Bun.spawnSync([b.libseccompExport, "--guards", "mount", "getppid=13", "clone3=38"], { stdout: "pipe" });
    const file = join(b.dir, "libseccomp.bpf");
    writeFileSync(file, out.stdout);
    const r = Bun.spawnSync([BUN, join(ROOT, "cmd/jailx.ts"), "seccomp", "explain", file], { stdout: "pipe", stderr: "pipe" });
    const text = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(text).toContain("errno:EACCES: getppid");
    expect(text).toMatch(/depends on arguments \(allow \| errno:EPERM\): .*ioctl/);
    expect(text).toContain("errno:ENOSYS: clone3");
  });
});
