// --help of every command wraps to the terminal's width (80 when stdout is not a terminal);
// unknown options and commands name the closest known one; --rlimit takes size suffixes where
// the limit is a size.
import { describe, expect, test } from "bun:test";
import { RUN_OPTIONS, parseRunArgs, runHelp } from "../../jail/options.ts";
import { closest, twoColumns } from "../../jail/cli-text.ts";
import { buildPlan } from "../../jail/plan.ts";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { fakeHost } from "../unit/fake-host.ts";
import { JAILX, jailx, lines } from "../helpers/jail.ts";

const HELPS = [["--help"], ["run", "--help"], ["inspect", "--help"], ["seccomp", "--help"], ["seccomp", "show", "--help"], ["seccomp", "explain", "--help"], ["seccomp", "groups", "--help"],
  ["ps", "--help"], ["exec", "--help"], ["stop", "--help"], ["kill", "--help"], ["logs", "--help"], ["unit", "--help"]];
const widest = (text: string) => Math.max(...text.split("\n").map((l) => l.replace(/\r$/, "").length));

describe("help wraps", () => {
  test("run's help fits every width from 60 to 200 and keeps every word", () => {
    const words = runHelp(1000).split(/\s+/).filter(Boolean);
    for (const w of [60, 72, 80, 100, 132, 200]) {
      const h = runHelp(w);
      expect(widest(h)).toBeLessThanOrEqual(w);
      expect(h.split(/\s+/).filter(Boolean)).toEqual(words);
    }
    // the generic renderer: a new flag with a long help text is wrapped too
    const rows = twoColumns([["--a-flag-added-later VALUE", "x ".repeat(200)]], 80);
    expect(widest(rows.join("\n"))).toBeLessThanOrEqual(80);
  });

  for (const args of HELPS)
    test(`jailx ${args.join(" ")}, stdout not a terminal: at most 80 columns`, () => {
      const r = jailx(args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(lines(r.stdout).length).toBeGreaterThan(1);
      expect(widest(r.stdout)).toBeLessThanOrEqual(80);
    });

  // A real terminal of a given size: the child sets the window size on its pty, then execs jailx.
  const IN_PTY = `
import fcntl, os, pty, struct, sys, termios
cols = int(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode())
`;
  test("jailx --help lists the commands for named jails", () => {
    const out = jailx(["--help"]).stdout;
    for (const c of ["ps", "exec", "stop", "kill", "logs", "unit"]) expect(out).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
  });

  for (const cols of [60, 120])
    test(`in a terminal of ${cols} columns, help uses that width`, () => {
      for (const args of [["run", "--help"], ["seccomp", "show", "--help"], ["exec", "--help"]]) {
        const r = Bun.spawnSync(["python3", "-c", IN_PTY, String(cols), JAILX, ...args], { stdout: "pipe", stderr: "pipe", cwd: "/" });
        const out = r.stdout.toString();
        expect(out).toContain(args[0] === "exec" ? "--user" : "--seccomp-allow");
        expect(widest(out)).toBeLessThanOrEqual(cols);
        // the width is used, not just respected: lines reach past 80 when there is room
        if (cols > 80) expect(widest(out)).toBeGreaterThan(80);
      }
    });
});

describe("unknown options suggest the closest one", () => {
  test("closest()", () => {
    const names = RUN_OPTIONS.map((o) => o.name);
    expect(closest("robind", names)).toBe("ro-bind");
    expect(closest("ro-bnid", names)).toBe("ro-bind");
    expect(closest("memroy", names)).toBe("memory");
    expect(closest("mem", names)).toBe("memory");
    expect(closest("rlimits", names)).toBe("rlimit");
    expect(closest("seccomp_allow", names)).toBe("seccomp-allow");
    expect(closest("zzzzzz", names)).toBeNull();
  });

  test.each([
    [["run", "--robind", "/x", "--", "true"], "unknown option '--robind' (did you mean --ro-bind?): see 'jailx run --help'"],
    [["run", "--memroy=1g", "--", "true"], "unknown option '--memroy' (did you mean --memory?)"],
    [["run", "--zzzzzz", "--", "true"], "unknown option '--zzzzzz': see 'jailx run --help'"],
    [["run", "--no-landlok", "--", "true"], "unknown option '--no-landlok' (did you mean --no-landlock?)"],
    [["inspect", "--jason", "self"], "unknown option '--jason' for 'jailx inspect' (did you mean --json?): see 'jailx inspect --help'"],
    [["seccomp", "show", "--seccomp-alow", "read"], "unknown option '--seccomp-alow' for 'jailx seccomp show' (did you mean --seccomp-allow?)"],
    [["seccomp", "explain", "--pdi", "1"], "unknown option '--pdi' for 'jailx seccomp explain' (did you mean --pid?)"],
    [["seccomp", "groups", "--al"], "unknown option '--al' for 'jailx seccomp groups': see 'jailx seccomp groups --help'"],
    [["seccomp", "shwo"], "unknown command 'shwo' for 'jailx seccomp' (did you mean show?)"],
    [["inpsect", "self"], "unknown command 'inpsect' (did you mean inspect?)"],
    [["--hepl"], "unknown option '--hepl' (did you mean --help?)"],
    [["ps", "--jsn"], "unknown option '--jsn' for 'jailx ps' (did you mean --json?): see 'jailx ps --help'"],
    [["stop", "--tme", "3", "web"], "unknown option '--tme' for 'jailx stop' (did you mean --time?)"],
    [["logs", "--folow", "web"], "unknown option '--folow' for 'jailx logs' (did you mean --follow?)"],
    [["kill", "--sig", "web"], "unknown option '--sig' for 'jailx kill': see 'jailx kill --help'"],
    [["exec", "--usr", "0", "web", "--", "true"], "unknown option '--usr' (did you mean --user?): see 'jailx exec --help'"],
    [["unit", "web", "--memroy", "1g", "--", "/bin/true"], "unknown option '--memroy' (did you mean --memory?)"],
    [["sotp", "web"], "unknown command 'sotp' (did you mean stop?)"],
  ])("jailx %p: one line, exit 125", (args, msg) => {
    const r = jailx(args);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(msg);
    expect(r.stdout).toBe("");
  });
});

test("--verbose is accepted by every command (cmd/main.ts reads it for all)", () => {
  for (const args of [["seccomp", "show"], ["seccomp", "groups"], ["inspect", "self"]]) {
    const r = jailx([...args, "--verbose"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }
});

describe("--rlimit sizes", () => {
  const rl = (spec: string) => buildPlan(parseRunArgs(["--rlimit", spec, "--", "true"]), fakeHost(), seccompPlanFromOptions).rlimits[0];
  test("k, m, g on limits that are sizes (binary units)", () => {
    expect(rl("fsize=1k")).toEqual({ name: "fsize", soft: "1024", hard: "1024" });
    expect(rl("as=512m:2g")).toEqual({ name: "as", soft: String(512 * 2 ** 20), hard: String(2 * 2 ** 30) });
    expect(rl("STACK=8M")!.soft).toBe(String(8 * 2 ** 20));
    for (const n of ["fsize", "data", "stack", "core", "rss", "as", "memlock", "msgqueue"]) expect(rl(`${n}=1g`)!.soft).toBe(String(2 ** 30));
  });
  test("refused on counts and times, with one clear line", () => {
    for (const n of ["nofile", "nproc", "cpu", "locks", "sigpending", "nice", "rtprio", "rttime"])
      expect(() => rl(`${n}=4k`)).toThrow(`--rlimit '${n}=4k': ${n} is not a size, so '4k' takes no k/m/g suffix; give a plain number`);
    expect(() => rl("fsize=1t")).toThrow("'1t' is not a number (bytes, or with k, m, g) or 'inf'");
  });
  test("the kernel gets the bytes (real jail)", () => {
    const r = jailx(["run", "--rlimit", "fsize=1k:2k", "--", "/bin/sh", "-c", "grep 'Max file size' /proc/self/limits"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^Max file size\s+1024\s+2048\s+bytes/);
    const bad = jailx(["run", "--rlimit", "nofile=1k", "--", "true"]);
    expect(bad.code).toBe(125);
    expect(lines(bad.stderr)).toEqual(["jailx: --rlimit 'nofile=1k': nofile is not a size, so '1k' takes no k/m/g suffix; give a plain number (sizes: fsize, data, stack, core, rss, as, memlock, msgqueue)"]);
  });
});
