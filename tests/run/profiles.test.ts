// Profiles through the binary: selection by the program's name (and opting out), --profile with
// files, flags over the profile, bad files (one line, exit 125, nothing started), `jailx profile
// list|show`, and the enforcement of a learned-style profile against the real kernel: only the
// listed paths exist (ENOENT), writes outside the writable ones fail, an unlisted syscall fails
// with EPERM, or kills with --seccomp-default-action kill, and --seccomp-log names it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jailx, lines, waitUntil } from "../helpers/jail.ts";
import { asUser, installRootless } from "../helpers/user.ts";

let dir: string;
beforeAll(() => (dir = mkdtempSync("/tmp/jx-profiles-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

const plan = (args: string[]) => {
  const r = jailx(["run", "--dry-run", ...args]);
  expect(r.code).toBe(0);
  return { plan: JSON.parse(r.stdout), stderr: r.stderr };
};

describe("which profile a run uses", () => {
  test("a program's name selects its built-in profile, with one line on stderr saying how to opt out", () => {
    const { plan: p, stderr } = plan(["--", "jq", "."]);
    expect(p.profile).toBe("jq");
    expect(p.net).toBe("none");
    expect(lines(stderr)).toEqual(["jailx: using the built-in profile 'jq' for jq ('jailx profile show jq'; --no-profile to run without it)"]);
  });
  test("--no-profile: today's default jail, silently (control)", () => {
    const { plan: p, stderr } = plan(["--no-profile", "--", "jq", "."]);
    expect(p.profile).toBeNull();
    expect(p.net).toBe("host");
    expect(p.mounts.some((m: { dst: string }) => m.dst === "/usr")).toBe(true);
    expect(stderr).toBe("");
  });
  test("other programs get no profile", () => {
    const { plan: p, stderr } = plan(["--", "sh", "-c", "nginx"]);
    expect(p.profile).toBeNull();
    expect(stderr).toBe("");
  });
  test("--profile NAME: no notice (asked for); flags override it and add to its lists", () => {
    const { plan: p, stderr } = plan(["--profile", "strict", "--net", "host", "--tmpfs", "/scratch", "--", "/bin/true"]);
    expect(stderr).toBe("");
    expect(p.profile).toBe("strict");
    expect(p.net).toBe("host");
    expect(p.caps.keep).toEqual([]);
    expect(p.seccomp.defaultAction).toBe("errno:1");
    const tmpfs = p.mounts.filter((m: { op: string }) => m.op === "tmpfs").map((m: { dst: string }) => m.dst);
    expect(tmpfs).toContain("/scratch");
    for (const d of ["/tmp", "/run", "/dev/shm"]) expect(p.mounts.find((m: { dst: string; size?: string }) => m.dst === d)?.size).toBe("64m");
  });
  test("--profile FILE with an include; the plan is the merged one", () => {
    const f = file("web.toml", `include = ["strict"]\nhostname = "web"\nsetenv = ["MODE=web"]\n`);
    const { plan: p } = plan(["--profile", f, "--setenv", "X=1", "--", "/bin/true"]);
    expect(p.hostname).toBe("web");
    expect(p.env.MODE).toBe("web");
    expect(p.env.X).toBe("1");
    expect(p.net).toBe("none");
  });
  test("--profile and --no-profile together are refused", () => {
    const r = jailx(["run", "--profile", "strict", "--no-profile", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("give one of them");
  });
});

describe("the strict built-in", () => {
  test("no network but loopback, no capabilities, an allow-list, a sized /tmp; ordinary tools still work", () => {
    const r = jailx(["run", "--profile", "strict", "--", "/bin/sh", "-c",
      "grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; df -k /tmp | tail -1 | tr -s ' ' | cut -d' ' -f2; ls / >/dev/null && echo ls-ok"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(["CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "Seccomp:\t2", "lo", "65536", "ls-ok"]);
  });
});

describe("bad profiles: one line with file and key, exit 125, nothing started", () => {
  const cases: [string, string, RegExp][] = [
    ["unknown key", `tmpfss = ["/x"]`, /key 'tmpfss': unknown key; did you mean 'tmpfs'\?/],
    ["wrong type", `memory = true`, /key 'memory': expected a string, got boolean true/],
    ["bad value (checked by the plan)", `memory = "12q"`, /key 'memory': --memory '12q'/],
    ["bad syscall name", `syscalls = ["reed"]`, /key 'syscalls': --seccomp-allow: unknown syscall 'reed'/],
    ["bad capability", `capabilities = ["net_bind_servce"]`, /key 'capabilities': .*net_bind_servce/],
    ["missing include", `include = ["gone.toml"]`, /key 'include': 'gone.toml' is neither a built-in profile nor a file/],
    ["include cycle", `include = ["loop.toml"]`, /key 'include': 'loop.toml' includes itself/],
  ];
  for (const [what, text, re] of cases)
    test(what, () => {
      const name = `bad-${what.replace(/\W+/g, "-")}.toml`;
      const f = file(what === "include cycle" ? "loop.toml" : name, text);
      const mark = join(dir, `started-${name}`);
      const r = jailx(["run", "--profile", f, "--", "/bin/sh", "-c", `touch ${mark}`]);
      expect(r.code).toBe(125);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toContain(f);
      expect(existsSync(mark)).toBe(false);
    });
  test("control: the same run with a good profile starts the program", () => {
    const mark = join(dir, "started-good");
    const r = jailx(["run", "--profile", file("good.toml", `hostname = "ok"\n`), "--bind", dir, "--", "/bin/sh", "-c", `touch ${mark}`]);
    expect(r.code).toBe(0);
    expect(existsSync(mark)).toBe(true);
  });
  test("a missing profile file", () => {
    const r = jailx(["run", "--profile", "./nope.toml", "--", "/bin/true"], { cwd: dir });
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toEqual([`jailx: --profile './nope.toml': cannot read ${dir}/nope.toml (ENOENT): give a built-in name (default, strict, nginx, redis-server, python3-http.server, jq) or an existing file`]);
  });
});

describe("jailx profile list|show", () => {
  test("list names every built-in and what selects it", () => {
    const r = jailx(["profile", "list"]);
    expect(r.code).toBe(0);
    for (const n of ["default", "strict", "nginx", "redis-server", "python3-http.server", "jq"]) expect(r.stdout).toMatch(new RegExp(`^${n.replace(".", "\\.")}\\s`, "m"));
    expect(r.stdout).toContain("python3[.N] -m http.server");
  });
  test("show: the merged settings and the run options they become", () => {
    const f = file("show.toml", `include = ["jq"]\nmemory = "64m"\n`);
    const r = jailx(["profile", "show", f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`# profile ${f}: built-in 'jq' + ${f}`);
    expect(r.stdout).toMatch(/^network = "none"\s+# from built-in 'jq'$/m);
    expect(r.stdout).toMatch(/^memory = "64m"\s+# from .*show\.toml$/m);
    expect(r.stdout).toContain("#   --net none");
    expect(r.stdout).toContain("#   --ro-bind /usr/bin/jq");
  });
  test("show --source: the built-in as written, review comments included", () => {
    const r = jailx(["profile", "show", "--source", "nginx"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("produced by `jailx learn`");
    expect(r.stdout).toMatch(/"dac_override",\s+# /);
  });
  test("show: a bad file is the same one line, exit 125", () => {
    const r = jailx(["profile", "show", file("bad-show.toml", `nett = "none"`)]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/key 'nett': unknown key; did you mean 'net'\?/);
  });
});

// A profile written the way `jailx learn` writes them, for coreutils: the listed paths only, a
// private writable /data, and the system calls cat, ls, touch and mkdir make — but not mkdir's.
const COREUTILS = `
exec = ["/usr/bin/"]
read = ["/usr/lib/x86_64-linux-gnu/", "/usr/lib/aarch64-linux-gnu/", "/usr/lib64/", "/usr/lib/ld-linux-aarch64.so.1", "/etc/ld.so.cache", "/etc/hostname"]
write = ["tmpfs:/data"]
network = "none"
capabilities = []
syscalls = ["openat", "close", "read", "pread64", "write", "newfstatat", "statx", "statfs", "access", "ioctl",
            "getdents64", "fadvise64", "dup2", "utimensat", "fcntl", "lseek", "readlink"]
`;

describe("enforcement of a learned-style profile", () => {
  let prof: string, withMkdir: string;
  beforeAll(() => {
    prof = file("coreutils.toml", COREUTILS);
    withMkdir = file("coreutils-mkdir.toml", `include = ["coreutils.toml"]\nsyscalls = ["mkdir", "mkdirat"]\n`);
  });
  const run = (profile: string, argv: string[], flags: string[] = []) => jailx(["run", "--profile", profile, ...flags, "--", ...argv]);

  test("what the profile lists is there and works", () => {
    const r = run(prof, ["/usr/bin/cat", "/etc/hostname"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
  test("everything else does not exist: ENOENT, not EACCES", () => {
    for (const p of ["/etc/shadow", "/etc/passwd", "/root", "/home", "/var"]) {
      const r = run(prof, ["/usr/bin/ls", "-d", p]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("No such file or directory");
    }
  });
  test("writes outside the writable paths fail; inside they work", () => {
    const out = run(prof, ["/usr/bin/touch", "/usr/bin/planted", "/etc/planted"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/planted.*Read-only file system/);
    expect(run(prof, ["/usr/bin/touch", "/data/ok"]).code).toBe(0);
  });
  test("an unlisted system call fails with EPERM; listed (control), it works", () => {
    const r = run(prof, ["/usr/bin/mkdir", "/data/d"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Operation not permitted");
    expect(run(withMkdir, ["/usr/bin/mkdir", "/data/d"]).code).toBe(0);
  });
  test("a directory listed without '/' is there, empty and read-only; with '/' (control) its content is there", () => {
    // A scratch tree on the host (not under /tmp: the jail has its own /tmp).
    const host = mkdtempSync("/var/tmp/jx-profiles-dir-");
    try {
      mkdirSync(`${host}/d/sub`, { recursive: true });
      writeFileSync(`${host}/d/secret`, "content\n");
      const bare = file("dir-bare.toml", `include = ["coreutils.toml"]\nread = ["${host}/d"]\n`);
      const r = run(bare, ["/usr/bin/ls", "-a", `${host}/d`]);
      expect([r.code, lines(r.stdout), r.stderr]).toEqual([0, [".", ".."], ""]);
      const w = run(bare, ["/usr/bin/touch", `${host}/d/planted`]);
      expect(w.code).not.toBe(0);
      expect(w.stderr).toContain("Read-only file system");
      const whole = file("dir-whole.toml", `include = ["coreutils.toml"]\nread = ["${host}/d/"]\n`);
      const c = run(whole, ["/usr/bin/ls", "-a", `${host}/d`]);
      expect([c.code, lines(c.stdout)]).toEqual([0, [".", "..", "secret", "sub"]]);
      // An entry below it makes the directory anyway: only that entry is inside.
      const below = file("dir-below.toml", `include = ["coreutils.toml"]\nread = ["${host}/d", "${host}/d/secret"]\n`);
      const b = run(below, ["/usr/bin/ls", "-a", `${host}/d`]);
      expect([b.code, lines(b.stdout)]).toEqual([0, [".", "..", "secret"]]);
      expect(existsSync(`${host}/d/planted`)).toBe(false);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });
  test("--seccomp-default-action kill: the unlisted call kills (SIGSYS)", () => {
    const r = run(prof, ["/usr/bin/mkdir", "/data/d"], ["--seccomp-default-action", "kill"]);
    expect(r.code).toBe(128 + 31);
  });
  test("rootless: the same view and allow-list hold for an unprivileged user", () => {
    const rl = installRootless();
    try {
      // The profile where the user can read it.
      const pub = join(rl.user.home, "coreutils.toml");
      writeFileSync(pub, COREUTILS, { mode: 0o644 });
      const as = (argv: string[]) => jailx(["run", "--profile", pub, "--", ...argv], asUser(rl));
      expect(as(["/usr/bin/cat", "/etc/hostname"]).code).toBe(0);
      const hidden = as(["/usr/bin/ls", "-d", "/etc/passwd", "/home"]);
      expect(hidden.code).toBe(2);
      expect(lines(hidden.stderr).filter((l) => l.includes("No such file or directory"))).toHaveLength(2);
      const refused = as(["/usr/bin/mkdir", "/data/d"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("Operation not permitted");
    } finally {
      rl.cleanup();
    }
  });
  test("--seccomp-log names the refused call in the kernel log", async () => {
    // A command name of our own, so the log line found is this run's.
    const name = `mkd${process.pid % 100000}`;
    const bin = join(dir, name);
    Bun.spawnSync(["cp", "/usr/bin/mkdir", bin]);
    const r = jailx(["run", "--profile", prof, "--ro-bind", `${bin}:/usr/local/bin/${name}`, "--seccomp-log", "--", `/usr/local/bin/${name}`, "/data/d"]);
    expect(r.stderr).toContain("Operation not permitted");
    // syscall 83 is mkdir, 258 mkdirat (x86_64); 34 mkdirat (aarch64). 0x50000: SECCOMP_RET_ERRNO.
    // Without auditd the record reaches the kernel log through kauditd, a moment later.
    const re = new RegExp(`type=1326 .*comm="${name}".* syscall=(83|258|34) .*code=0x50000`);
    await waitUntil(() => re.test(Bun.spawnSync(["dmesg"], { stdout: "pipe" }).stdout.toString()), 10_000, `a seccomp audit record for ${name}`);
  });
});
