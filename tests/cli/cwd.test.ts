// Without --chdir the program starts in the caller's directory when the jail binds it at its own
// path; otherwise in /, and jailx says so in one line with the fix (issue: `python3 job.py` failed
// with "can't open file '//job.py'" and no hint).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan } from "../../jail/plan.ts";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { fakeHost } from "../unit/fake-host.ts";
import { lines, sh } from "../helpers/jail.ts";

const cwdInJail = (args: string[], cwd: string) =>
  buildPlan(parseRunArgs([...args, "--", "true"]), fakeHost({ cwd, paths: { "/data": "dir", "/srv": "dir", "/srv/app": "dir" } }), seccompPlanFromOptions).cwdInJail;

describe("which working directories the jail has (plan)", () => {
  test("a bind of the directory or a parent at its own path", () => {
    expect(cwdInJail(["--ro-bind", "/srv/app"], "/srv/app")).toBe(true);
    expect(cwdInJail(["--bind", "/srv"], "/srv/app")).toBe(true);
    expect(cwdInJail([], "/usr/share")).toBe(true);
    expect(cwdInJail([], "/etc/ssl")).toBe(true);
  });
  test("not: unbound, bound elsewhere, private tmpfs, hidden, under a later tmpfs", () => {
    expect(cwdInJail([], "/srv/app")).toBe(false);
    expect(cwdInJail(["--ro-bind", "/srv/app:/app"], "/srv/app")).toBe(false);
    expect(cwdInJail(["--ro-bind", "/data:/srv/app"], "/srv/app")).toBe(false);
    expect(cwdInJail([], "/tmp")).toBe(false);
    expect(cwdInJail([], "/etc/ssl/private")).toBe(false);
    expect(cwdInJail(["--bind", "/srv", "--tmpfs", "/srv/app"], "/srv/app")).toBe(false);
  });
});

const dir = mkdtempSync("/var/tmp/jx-cwd-");
writeFileSync(`${dir}/job.py`, "print('job ran')\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NOTE = `jailx: warning: the current directory ${dir} is not in the jail, so the program starts in /; bind it (--ro-bind "$PWD") or choose one (--chdir DIR)`;

describe("jailx run from a directory (real jails)", () => {
  test("not in the jail: one line on stderr with the fix; the program starts in /", () => {
    const r = sh("pwd", [], { cwd: dir, env: { PWD: dir } }); // PWD as a shell started there sets it
    expect(r.stdout).toBe("/\n");
    expect(lines(r.stderr)).toEqual([NOTE]);
  });
  test("the issue's case: python3 job.py fails, and stderr says why first", () => {
    const r = sh("python3 job.py", [], { cwd: dir, env: { PWD: dir } });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)[0]).toBe(NOTE);
  });
  test("bound with --ro-bind \"$PWD\": quiet, and the job runs there", () => {
    const r = sh("pwd; python3 job.py", ["--ro-bind", dir], { cwd: dir });
    expect(r.stdout).toBe(`${dir}\njob ran\n`);
    expect(r.stderr).toBe("");
  });
  test("--chdir given: quiet", () => {
    const r = sh("pwd", ["--chdir", "/usr"], { cwd: dir });
    expect(r.stdout).toBe("/usr\n");
    expect(r.stderr).toBe("");
  });
  test("a directory of the system binds (/usr/bin): quiet, starts there", () => {
    const r = sh("pwd", [], { cwd: "/usr/bin" });
    expect(r.stdout).toBe("/usr/bin\n");
    expect(r.stderr).toBe("");
  });
  test("reached through a symlink: the note names the real path, and binding that works", () => {
    const link = `${dir}-link`;
    symlinkSync(dir, link);
    try {
      // as a shell started there would: PWD is the symlink path, the kernel's cwd the real one
      const r = sh("pwd", [], { cwd: link, env: { PWD: link } });
      expect(lines(r.stderr)).toEqual([NOTE.replace('"$PWD"', dir)]);
      const ok = sh("pwd", ["--ro-bind", dir], { cwd: link, env: { PWD: link } });
      expect(ok.stdout).toBe(`${dir}\n`);
      expect(ok.stderr).toBe("");
    } finally {
      rmSync(link);
    }
  });
  test("/tmp: the jail's /tmp is private, not the caller's: the note, and /", () => {
    const r = sh("pwd", [], { cwd: "/tmp", env: { PWD: "/tmp" } });
    expect(r.stdout).toBe("/\n");
    expect(lines(r.stderr)).toEqual([NOTE.replace(dir, "/tmp")]);
  });
});
