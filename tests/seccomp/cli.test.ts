// `jailx seccomp show|explain|groups` as a user runs them (the entry point, in a subprocess).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "../../sys/seccomp/bpf.ts";
import { BUN, ROOT } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "jailx-seccomp-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = Bun.spawnSync([BUN, join(ROOT, "cmd/jailx.ts"), "seccomp", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("jailx seccomp", () => {
  test("show names the syscalls per ABI, grouped by action; --numbers adds their numbers", () => {
    const r = cli(["show", "--seccomp-deny", "getppid", "--seccomp-allow", "@abi-i386"]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    if (process.arch === "x64") {
      // per ABI: each has its own section, with names of that ABI (i386: its own numbering)
      expect(out).toMatch(/^ {2}x86_64: default → allow/m);
      expect(out).toMatch(/^ {2}i386: default → allow/m);
      expect(out).toContain("x32: every syscall → errno:ENOSYS");
      const x86 = out.slice(out.indexOf("  x86_64:"), out.indexOf("  i386:"));
      const i386 = out.slice(out.indexOf("  i386:"), out.indexOf("  x32:"));
      expect(x86).toMatch(/errno:EPERM: .*\bgetppid\b/);
      expect(i386).toMatch(/errno:EPERM: .*\bgetppid\b/);
      expect(out).not.toMatch(/\bgetppid\(/);
      const n = cli(["show", "--seccomp-deny", "getppid", "--seccomp-allow", "@abi-i386", "--numbers"]).stdout;
      expect(n.slice(n.indexOf("  x86_64:"), n.indexOf("  i386:"))).toMatch(/\bgetppid\(110\)/);
      expect(n.slice(n.indexOf("  i386:"), n.indexOf("  x32:"))).toMatch(/\bgetppid\(64\)/);
    } else {
      expect(out).toMatch(/^ {2}aarch64: default → allow/m);
      expect(cli(["show", "--seccomp-deny", "getppid", "--numbers"]).stdout).toMatch(/\bgetppid\(173\)/);
    }
    // no disassembly unless asked for
    expect(out).not.toContain("ld arch");
    expect(out.trim().split("\n").at(-1)).toMatch(/^# (x86_64|aarch64): \d+ instructions, \d+ bytes/);
  });
  test("show --bpf prints the disassembly and the size; --output writes the same program", () => {
    const out = join(dir, "f.bpf");
    const r = cli(["show", "--bpf", "--seccomp-deny", "getppid", "--output", out]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]!.trim()).toBe("0: ld arch");
    const size = Number(/: (\d+) instructions, (\d+) bytes/.exec(lines.at(-1)!)![1]);
    expect(lines.length - 1).toBe(size);
    expect(lines.at(-1)).toContain(process.arch === "arm64" ? "aarch64" : "x86_64");
    expect(decode(readFileSync(out))).toHaveLength(size);
  });
  test("show --plan prints the plan; --caps adapts it", () => {
    const plain = JSON.parse(cli(["show", "--plan"]).stdout);
    expect(plain.syscalls.mount).toEqual({ action: "errno:1" });
    const admin = JSON.parse(cli(["show", "--plan", "--caps", "sys_admin"]).stdout);
    expect(admin.syscalls.mount).toBeUndefined();
  });
  test("show --seccomp none", () => expect(cli(["show", "--seccomp", "none"]).stdout).toContain("no filter"));
  test.each([
    [["show", "--seccomp-allow", "nosuch"], "unknown syscall 'nosuch'"],
    [["show", "--memory", "1g"], "unknown option '--memory' for 'jailx seccomp show'"],
    [["explain"], "give a filter FILE or --pid PID"],
    [["explain", "/nonexistent.bpf"], "cannot read"],
    [["explain", "--pid", "abc"], "not a process id"],
  ])("%p is a usage error (exit 125)", (args, msg) => {
    const r = cli(args);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(msg);
  });
  test("explain of show's output names the refusals", () => {
    const out = join(dir, "g.bpf");
    expect(cli(["show", "--seccomp-deny", "getppid", "--output", out]).code).toBe(0);
    const r = cli(["explain", out]);
    expect(r.stdout).toMatch(/x86_64: default → allow/);
    expect(r.stdout).toMatch(/errno:EPERM: .*\bgetppid\b/);
    expect(r.stdout).toContain("i386: every syscall → errno:ENOSYS");
    const json = JSON.parse(cli(["explain", out, "--json"]).stdout);
    expect(json[0].summary.abis[0].syscalls.find((v: { name: string }) => v.name === "getppid").action).toBe("errno:EPERM");
  });
  test("groups lists every group with members", () => {
    const r = cli(["groups"]);
    expect(r.stdout).toMatch(/^@mount .*\n\s+chroot fsconfig/m);
    expect(r.stdout).toContain("@abi-i386");
  });
});
