// jailx learn against the real kernel: what a run records (syscalls, paths, network, caps),
// that nothing from outside the jail gets in, that the profile is complete (the same program
// works under it, with unlisted syscalls killing) and tight (another program is refused), and
// that the learner is contained and dies with its jail.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { jailx, LiveJail, marker, processesWith, waitUntil, type Result } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";
import { enforce, parseProfileText, type ProfileData } from "./enforce.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/jx-learn-");
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function learn(name: string, flags: string[], command: string[], o: Parameters<typeof jailx>[1] = {}): { r: Result; p: ProfileData; text: string; file: string } {
  const out = `${dir}/${name}.toml`;
  const r = jailx(["learn", "-o", out, ...flags, "--", ...command], o);
  expect(r.stderr).toContain(`→ ${out}`);
  const text = readFileSync(out, "utf8");
  return { r, p: parseProfileText(text), text, file: out };
}

/** Every path of the profile is a host path that exists, and none is the jail's own. */
function expectOnlyHostPaths(p: ProfileData): void {
  for (const path of [...p.read, ...p.exec, ...p.write.filter((w) => !w.startsWith("tmpfs:"))]) {
    expect(path).toMatch(/^\//);
    expect(existsSync(path)).toBe(true);
    expect(path).not.toMatch(/^\/(proc|dev|tmp)(\/|$)/);
  }
}

const SH = "cat /etc/hostname; ls /usr/share; echo x > /tmp/f; cat /tmp/f";

describe("learning sh", () => {
  let p: ProfileData, r: Result, file: string;
  beforeAll(() => ({ p, r, file } = learn("sh", [], ["sh", "-c", SH])));

  test("the program ran as in a default jail, and the profile names what it did", () => {
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(readFileSync("/etc/hostname", "utf8").trim());
    expect(r.stdout).toContain("x\n");
    for (const s of ["@default", "read", "write", "openat", "getdents64", "wait4"]) expect(p.syscalls).toContain(s);
    expect(p.read).toContain("/etc/hostname");
    expect(p.read).toContain("/usr/share/"); // listed by ls
    for (const e of ["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/dash"]) expect(p.exec).toContain(e);
    // The dynamic loader (opened by the kernel, not by a syscall) and libc.
    expect(p.exec.some((e) => e.endsWith("/ld-linux-x86-64.so.2") || e.endsWith("/ld-linux-aarch64.so.1"))).toBe(true);
    expect(p.exec.some((e) => /\/libc\.so\.6$/.test(e))).toBe(true);
    expect(p.write).toEqual([]); // /tmp is every jail's own
    expect(p.network).toBe("none");
    expect(p.capabilities).toEqual([]);
    expectOnlyHostPaths(p);
  });

  test("complete: the same program works under `run --profile` (unlisted syscalls kill)", () => {
    const e = jailx(["run", ...enforce(file), "--", "sh", "-c", SH]);
    expect(e.stderr).toBe("");
    expect(e.code).toBe(0);
    expect(e.stdout).toBe(r.stdout);
  });

  test("tight: other files and other programs are not there", () => {
    const passwd = jailx(["run", ...enforce(file), "--", "sh", "-c", "cat /etc/passwd"]);
    expect(passwd.code).toBe(1);
    expect(passwd.stderr).toContain("No such file or directory");
    expect(jailx(["run", ...enforce(file), "--", "id"]).code).toBe(127);
    // Control: the default jail has both.
    expect(jailx(["run", "--", "sh", "-c", "cat /etc/passwd >/dev/null && id -u"]).stdout).toBe("0\n");
  });
});

describe("learning python3", () => {
  const PY = "import json, os, socket; print(json.dumps(sorted(os.listdir('/usr/share/zoneinfo'))[:1])); s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()";
  let p: ProfileData, r: Result, file: string;
  beforeAll(() => ({ p, r, file } = learn("python", [], ["/usr/bin/python3", "-c", PY])));

  test("syscalls, libraries, listed directories and the listening socket", () => {
    expect(r.code).toBe(0);
    for (const s of ["socket", "bind", "listen", "getdents64"]) expect(p.syscalls).toContain(s);
    expect(p.exec.some((e) => /\/python3\.\d+$/.test(e))).toBe(true);
    expect(p.read.some((e) => /^\/usr\/lib\/python3\.\d+\/$/.test(e))).toBe(true); // many modules: the directory
    expect(p.read).toContain("/usr/share/zoneinfo/");
    expect(p.network).toBe("host");
    expect(parseProfileText(readFileSync(`${dir}/python.toml`, "utf8")).network).toBe("host");
    expect((Bun.TOML.parse(readFileSync(`${dir}/python.toml`, "utf8")) as { listen: string[] }).listen).toEqual(["tcp:127.0.0.1:0"]);
    expectOnlyHostPaths(p);
  });

  test("complete under the profile; another script is refused", () => {
    const e = jailx(["run", ...enforce(file), "--", "/usr/bin/python3", "-c", PY]);
    expect(e.stderr).toBe("");
    expect(e.code).toBe(0);
    expect(e.stdout).toBe(r.stdout);
    const other = jailx(["run", ...enforce(file), "--", "/usr/bin/python3", "-c", "open('/etc/passwd')"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("FileNotFoundError");
    // A child process needs syscalls the script never made: killed.
    expect(jailx(["run", ...enforce(file), "--", "/usr/bin/python3", "-c", "import os; os.system('true')"]).code).toBe(159);
  });
});

describe("the learner is contained", () => {
  test("symlinks the program plants are resolved inside the jail, never on the host; odd names survive TOML", () => {
    const data = mkdtempSync("/tmp/jx-learn-data-");
    const odd = 'a"b\\c\x7f\tz';
    writeFileSync(`${data}/${odd}`, "odd\n");
    try {
      const script = `ln -s /etc/shadow /tmp/s; cat /tmp/s; ln -s ${data}/secret /tmp/h; cat /tmp/h; cat "/data/$(printf 'a"b\\\\c\\177\\tz')"`;
      writeFileSync(`${data}/secret`, "host secret\n");
      const { r, p } = learn("symlinks", ["--recording", `${dir}/symlinks.json`, "--ro-bind", `${data}:/data`], ["sh", "-c", script]);
      expect(r.stdout).toBe("odd\n");
      // The raw recording, not only the profile: the links resolve to nothing inside the jail.
      const recorded = JSON.stringify(JSON.parse(readFileSync(`${dir}/symlinks.json`, "utf8")).paths);
      expect(recorded).toContain("/etc/ld.so.cache"); // control: paths are recorded
      expect(recorded).not.toContain("shadow");
      expect(recorded).not.toContain("secret");
      expect(p["ro-bind"]).toEqual([`${data}/${odd}:/data/${odd}`]);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  test("SIGKILL of jailx mid-learn ends the jail", async () => {
    const mark = marker("learn-kill");
    const jail = new LiveJail(["learn", "-o", `${dir}/killed.toml`, "--", "sh", "-c", `: ${mark}; echo ready; sleep 600`]);
    try {
      await jail.waitForLine(/^ready$/);
      const inJail = processesWith(mark).filter((p) => p !== jail.pid);
      expect(inJail.length).toBeGreaterThan(0);
      jail.kill("SIGKILL");
      await jail.exit();
      await waitUntil(() => processesWith(mark).length === 0, 20_000, "the jail's processes to end");
      expect(existsSync(`${dir}/killed.toml`)).toBe(false);
    } finally {
      await jail.dispose();
    }
  });

  test("bad input: one line, exit 125, nothing run", () => {
    const none = jailx(["learn", "--", "true"]);
    expect(none.code).toBe(125);
    expect(none.stderr).toBe("jailx: jailx learn needs -o FILE: where to write the profile\n");
    const merge = jailx(["learn", "-o", `${dir}/x.toml`, "--merge", `${dir}/missing.toml`, "--", "true"]);
    expect(merge.code).toBe(125);
    expect(merge.stderr).toContain("--merge");
    expect(jailx(["learn", "-o", `${dir}/x.toml`, "--allow-new-privs", "--", "true"]).code).toBe(125);
    const prof = jailx(["learn", "-o", `${dir}/x.toml`, "--profile", "nginx", "--", "true"]);
    expect(prof.code).toBe(125);
    expect(prof.stderr).toContain("--merge");
    // A program that cannot be started: its status, one line, and no profile.
    const missing = jailx(["learn", "-o", `${dir}/x.toml`, "--", "/no/such/program"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(`${dir}/x.toml`)).toBe(false);
  });
});

describe("--merge", () => {
  test("two runs: the profile allows what each needed", () => {
    const a = learn("m1", [], ["sh", "-c", "cat /etc/hostname"]).p;
    expect(a.exec).not.toContain("/usr/bin/ls");
    const out = `${dir}/m2.toml`;
    const r = jailx(["learn", "-o", out, "--merge", `${dir}/m1.toml`, "--", "sh", "-c", "ls /usr/share >/dev/null"]);
    expect(r.code).toBe(0);
    const m = parseProfileText(readFileSync(out, "utf8"));
    expect(m.read).toContain("/etc/hostname");
    expect(m.exec).toContain("/usr/bin/ls");
    expect(m.exec).toContain("/usr/bin/cat");
    for (const cmd of ["cat /etc/hostname", "ls /usr/share >/dev/null"]) expect(jailx(["run", ...enforce(out), "--", "sh", "-c", cmd]).code).toBe(0);
  });
});

describe("rootless", () => {
  let rl: Rootless;
  beforeAll(() => (rl = installRootless()));
  afterAll(() => rl.cleanup());

  test("an unprivileged user learns a profile that works under enforcement", () => {
    const out = mkdtempSync("/tmp/jx-learn-rl-");
    chmodSync(out, 0o777);
    try {
      const r = jailx(["learn", "-o", `${out}/p.toml`, "--", "sh", "-c", "cat /etc/hostname"], asUser(rl));
      expect(r.stderr).toContain("→");
      expect(r.code).toBe(0);
      const p = parseProfileText(readFileSync(`${out}/p.toml`, "utf8"));
      expect(p.read).toContain("/etc/hostname");
      const e = jailx(["run", ...enforce(`${out}/p.toml`), "--", "sh", "-c", "cat /etc/hostname"], asUser(rl));
      expect(e.code).toBe(0);
      expect(e.stdout).toBe(r.stdout);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
