// Seccomp through `jailx run` (the compiled dist/jailx): the launcher installs the filter last,
// after dropping capabilities and setting no_new_privs, and the kernel applies it to the program.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jailx, LiveJail, programPid, marker, sh } from "../helpers/jail.ts";
import { readProcessFilters, explainFilter } from "../../sys/seccomp/index.ts";
import { buildTools, type Built } from "./helpers.ts";
import { asUser, installRootless } from "../helpers/user.ts";
import { DEFAULT_REFUSALS, I386_CASES, SIGSYS, STILL_WORKS } from "./expectations.ts";
import { i386Entry, program, testIf } from "../helpers/kernel.ts";

let b: Built;
beforeAll(() => {
  b = buildTools();
});
afterAll(() => b?.cleanup());

/** Probe cases inside a jail; the probe's directory is bound read-only. */
function probeInJail(flags: string[], cases: string[]): Record<string, string> {
  const r = jailx(["run", "--ro-bind", b.dir, ...flags, "--", b.probe, ...cases]);
  if (r.code !== 0) throw new Error(`jailx run failed (${r.code}): ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=") as [string, string]));
}

describe("jailx run applies the default seccomp policy", () => {
  test("the program runs with a filter and no_new_privs", () => {
    const r = sh("grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^Seccomp_filters:\s+1$/m);
  });
  test("--seccomp none: no filter", () => {
    expect(sh("grep '^Seccomp:' /proc/self/status", ["--seccomp", "none"]).stdout).toMatch(/^Seccomp:\s+0$/m);
  });
  test("each refused family returns the documented errno; ordinary calls work", () => {
    const r = probeInJail([], [...Object.keys(DEFAULT_REFUSALS), ...STILL_WORKS, ...I386_CASES, "x32_getpid"]);
    for (const [c, want] of Object.entries(DEFAULT_REFUSALS)) expect({ c, got: r[c] }).toEqual({ c, got: want });
    for (const c of STILL_WORKS) expect({ c, got: r[c] }).toEqual({ c, got: "OK" });
    // Without IA32 emulation the kernel has no i386 entry to police: int 0x80 faults (SIGSEGV)
    // before any filter sees it, in the jail as outside (tests/seccomp/kernel.test.ts).
    const i386 = i386Entry().ok ? "ENOSYS" : "SIG11";
    for (const c of I386_CASES) expect({ c, got: r[c] }).toEqual({ c, got: i386 });
    expect(r.x32_getpid).toBe("ENOSYS");
  });
  testIf(i386Entry())("--seccomp-allow @abi-i386 opens int 0x80, still policed", () => {
    const r = probeInJail(["--seccomp-allow", "@abi-i386"], ["i386_getpid", "i386_unshare", "i386_keyctl"]);
    expect(r).toEqual({ i386_getpid: "OK", i386_unshare: "EPERM", i386_keyctl: "EPERM" });
  });
  test("--seccomp-deny with --seccomp-default-action kill: the program dies of SIGSYS", () => {
    const r = probeInJail(["--seccomp-default-action", "kill", "--seccomp-allow", "@system-service"], ["mount", "getppid"]);
    expect(r).toEqual({ mount: SIGSYS, getppid: "OK" });
  });
  test("allow-list mode still runs a shell pipeline and python3", () => {
    const flags = ["--seccomp-default-action", "errno", "--seccomp-allow", "@system-service"];
    expect(sh("echo hello | tr h H", flags)).toMatchObject({ code: 0, stdout: "Hello\n" });
    const py = jailx(["run", ...flags, "--", "python3", "-c", "import json, threading; print(json.dumps([1]))"]);
    expect(py.stderr).toBe("");
    expect(py).toMatchObject({ code: 0, stdout: "[1]\n" });
  });
  testIf(program("nginx"))("nginx -t, under the default policy and an allow-list", () => {
    const nginx = Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin" })!;
    const dirs = ["--tmpfs", "/var/lib/nginx", "--tmpfs", "/run", "--tmpfs", "/var/log/nginx"];
    for (const flags of [[], ["--seccomp-default-action", "errno", "--seccomp-allow", "@system-service"]]) {
      // --no-profile: the default policy is under test, not nginx's built-in profile.
      const r = jailx(["run", "--no-profile", ...dirs, ...flags, "--", nginx, "-t"]);
      expect(r.stderr).toContain("test is successful");
      expect(r.code).toBe(0);
    }
  });
  test("a bad seccomp option is refused before anything runs (exit 125, names the value)", () => {
    const r = jailx(["run", "--seccomp-deny", "mountt", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("unknown syscall 'mountt'");
  });
  test("--dry-run prints the seccomp plan", () => {
    const r = jailx(["run", "--dry-run", "--seccomp-deny", "getppid", "--", "/bin/true"]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.seccomp.syscalls.getppid).toEqual({ action: "errno:1" });
    expect(plan.seccomp.defaultAction).toBe("allow");
  });
});

describe("reading a jail's filter back (what inspect does)", () => {
  test("readProcessFilters + explainFilter on a running jailed program", async () => {
    const mark = marker("seccomp");
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `echo ready; sleep 60; : ${mark}`]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      const filters = readProcessFilters(pid);
      expect(filters).toHaveLength(1);
      const x86 = explainFilter(filters[0]!).abis[0]!;
      const by = new Map(x86.syscalls.map((v) => [v.name, v]));
      expect(by.get("mount")!.action).toBe("errno:EPERM");
      expect(by.get("execve")!.action).toBe("allow");
      const cli = jailx(["seccomp", "explain", "--pid", String(pid)]);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toMatch(/errno:EPERM: .*\bmount\b/);
      // Not root: refused with the reason, and the process is left alone.
      const user = installRootless();
      try {
        const denied = jailx(["seccomp", "explain", "--pid", String(pid)], asUser(user));
        expect(denied.code).toBe(125);
        expect(denied.stderr).toContain("needs root");
      } finally {
        user.cleanup();
      }
      expect(readProcessFilters(pid)).toHaveLength(1);
    } finally {
      await jail.dispose();
    }
  });
});
