// Command line of `jailx run`: bad arguments give exactly one line on stderr and exit 125 before
// anything starts; --dry-run prints the plan; --help and --version.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { RUN_OPTIONS } from "../../jail/options.ts";
import { jailx, lines } from "../helpers/jail.ts";

/** [why, arguments after `jailx run`, a word the one line must contain] */
const BAD: [string, string[], string][] = [
  ["unknown flag", ["--no-such-flag", "--", "/bin/true"], "--no-such-flag"],
  ["unknown short flag", ["-x", "--", "/bin/true"], "-x"],
  ["no command", [], "no program"],
  ["no command after --", ["--"], "no program"],
  ["flag without its value", ["--hostname"], "--hostname"],
  ["missing bind source", ["--bind", "/no/such/dir", "--", "/bin/true"], "/no/such/dir"],
  ["missing ro-bind source", ["--ro-bind", "/no/such/file:/x", "--", "/bin/true"], "/no/such/file"],
  ["relative bind source", ["--bind", "relative/dir", "--", "/bin/true"], "relative"],
  ["relative bind destination", ["--ro-bind", "/usr:usr2", "--", "/bin/true"], "usr2"],
  ["relative --chdir", ["--chdir", "tmp", "--", "/bin/true"], "--chdir"],
  ["relative --rootfs", ["--rootfs", "root", "--", "/bin/true"], "--rootfs"],
  ["--rootfs that is not a directory", ["--rootfs", "/etc/passwd", "--", "/bin/true"], "/etc/passwd"],
  ["relative --tmpfs", ["--tmpfs", "scratch", "--", "/bin/true"], "scratch"],
  ["bad --tmpfs option", ["--tmpfs", "/s:mode=1", "--", "/bin/true"], "mode=1"],
  ["bind onto /", ["--bind", "/tmp:/", "--", "/bin/true"], "--rootfs"],
  ["unknown user", ["--user", "no-such-user-jx", "--", "/bin/true"], "no-such-user-jx"],
  ["unknown group", ["--user", "0:no-such-group-jx", "--", "/bin/true"], "no-such-group-jx"],
  ["--hostname with --share uts", ["--hostname", "h", "--share", "uts", "--", "/bin/true"], "uts"],
  ["bad hostname", ["--hostname", "bad name!", "--", "/bin/true"], "bad name!"],
  ["--net bogus", ["--net", "bogus", "--", "/bin/true"], "bogus"],
  ["--share pid", ["--share", "pid", "--", "/bin/true"], "pid"],
  ["unknown capability", ["--cap-add", "NOT_A_CAP", "--", "/bin/true"], "NOT_A_CAP"],
  ["bad rlimit name", ["--rlimit", "bogus=1", "--", "/bin/true"], "bogus=1"],
  ["bad rlimit value", ["--rlimit", "nofile=lots", "--", "/bin/true"], "lots"],
  ["rlimit soft above hard", ["--rlimit", "nofile=100:50", "--", "/bin/true"], "nofile=100:50"],
  ["bad --setenv", ["--setenv", "NOEQUALS", "--", "/bin/true"], "NOEQUALS"],
  ["--pass-fd not open", ["--pass-fd", "77", "--", "/bin/true"], "77"],
  ["--pass-fd not a number", ["--pass-fd", "x", "--", "/bin/true"], "--pass-fd"],
  ["bool flag with a value", ["--as-pid-1=yes", "--", "/bin/true"], "--as-pid-1"],
  ["non-repeatable flag twice", ["--hostname", "a", "--hostname", "b", "--", "/bin/true"], "--hostname"],
  ["--userns-map without --userns", ["--userns-map", "100000:65536", "--", "/bin/true"], "--userns"],
  ["bad --userns-map", ["--userns", "--userns-map", "lots", "--", "/bin/true"], "lots"],
  ["--rootless-map as root", ["--userns", "--rootless-map", "sub", "--", "/bin/true"], "--rootless-map"],
  ["--user outside the userns map", ["--userns", "--userns-map", "200000:10", "--user", "1000", "--", "/bin/true"], "1000"],
  ["--allow-new-privs with a seccomp filter", ["--allow-new-privs", "--", "/bin/true"], "--allow-new-privs"],
  ["bad --timeout", ["--timeout", "soon", "--", "/bin/true"], "soon"],
  ["bad --pids", ["--pids", "many", "--", "/bin/true"], "many"],
  ["bad --tmpfs-size", ["--tmpfs-size", "lots", "--", "/bin/true"], "lots"],
  ["--tmpfs-size 0 (no limit to the kernel)", ["--tmpfs-size", "0", "--", "/bin/true"], "--tmpfs-size '0'"],
];

describe("bad arguments: exactly one line on stderr, status 125, nothing run", () => {
  test.each(BAD)("%s", (_why, args, word) => {
    // The command would print this if it ran.
    const r = jailx(["run", ...args.map((a) => (a === "/bin/true" ? "/bin/echo" : a)), ...(args.includes("/bin/true") ? ["RAN"] : [])]);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(word);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });

  test("an unknown subcommand: one line, 125", () => {
    const r = jailx(["no-such-command"]);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
  });
});

describe("--dry-run", () => {
  test("prints the validated plan as JSON and runs nothing", () => {
    const r = jailx(["run", "--dry-run", "--bind", "/tmp:/data", "--user", "1000:1000", "--hostname", "plan", "--net", "none", "--rlimit", "nofile=64", "--cap-drop", "ALL", "--", "/bin/echo", "RAN"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("RAN\n");
    const plan = JSON.parse(r.stdout);
    expect(plan.command).toEqual(["/bin/echo", "RAN"]);
    expect(plan.namespaces).toMatchObject({ pid: true, mount: true, uts: true, ipc: true, cgroup: true, net: true });
    expect(plan.user).toMatchObject({ uid: 1000, gid: 1000, groups: [] });
    expect(plan.hostname).toBe("plan");
    expect(plan.net).toBe("none");
    expect(plan.caps.keep).toEqual([]);
    expect(plan.noNewPrivs).toBe(true);
    expect(plan.rlimits).toEqual([{ name: "nofile", soft: "64", hard: "64" }]);
    // the default limits are in the plan, marked as defaults
    expect(plan.cgroup).toEqual({ controllers: ["pids"], pidsMax: 2048, defaults: ["pids"] });
    expect(plan.mounts).toContainEqual({ op: "tmpfs", dst: "/tmp", mode: "1777", size: "10%" });
    expect(plan.mounts).toContainEqual({ op: "bind", src: "/tmp", dst: "/data", readonly: false, kind: "dir" });
    expect(plan.mounts).toContainEqual({ op: "proc", dst: "/proc" });
    expect(plan.env.container).toBe("jailx");
  });

  test("the plan is validated: a bad argument fails the dry run too", () => {
    const r = jailx(["run", "--dry-run", "--bind", "/no/such", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe("");
  });
});

describe("help and version", () => {
  test("run --help shows each default limit and how to remove it", () => {
    // Help is wrapped to the terminal's width: read each option's text as one line.
    const help = jailx(["run", "--help"]).stdout.replace(/\n {20,}/g, " ");
    expect(help).toMatch(/--pids N\|unlimited .*default: 2048/);
    expect(help).toMatch(/--tmpfs-size SIZE\|N%\|unlimited .*default: 10%/);
    expect(help).toMatch(/--rlimit .*one value sets soft and hard/);
  });

  test("jailx --help names the commands", () => {
    const r = jailx(["--help"]);
    expect(r.code).toBe(0);
    const text = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, "");
    for (const cmd of ["run", "inspect"]) expect(text).toContain(cmd);
  });

  test("jailx run --help lists every option with its default", () => {
    const r = jailx(["run", "--help"]);
    expect(r.code).toBe(0);
    expect(RUN_OPTIONS.length).toBeGreaterThan(20);
    // An entry is the flag's line and the indented lines below it (help wraps to 80 columns).
    const entries = r.stdout.split(/\n(?=  --|\n)/).map((e) => e.trim().replace(/\s+/g, " "));
    for (const o of RUN_OPTIONS) {
      const entry = entries.find((e) => e.startsWith(`--${o.name}${o.value ? ` ${o.value}` : ""} `));
      expect(entry, `--${o.name} missing from run --help`).toBeDefined();
      if (o.default) expect(entry).toContain(`default: ${o.default}`);
    }
    expect(r.stdout).toMatch(/Exit status/);
  });

  test("-h after -- belongs to the program, not to jailx", () => {
    const r = jailx(["run", "--", "/bin/echo", "-h", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("-h --help\n");
  });

  test("jailx --version prints the package version", () => {
    const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
    const r = jailx(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`jailx ${version}`);
  });
});
