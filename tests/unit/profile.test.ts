// Profiles as pure logic: loading, includes, merging with flags, the learned keys' translation
// into run options, every kind of bad file, which program selects which built-in, and the
// daemon rules of --forking (with a fake view of init's children).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadProfile } from "../../jail/profile.ts";
import { mergeFlags, profileOptions, blameProfile } from "../../jail/profile-options.ts";
import { BUILTIN_PROFILES, profileChoice, profileFor } from "../../jail/profiles/index.ts";
import { Daemon } from "../../jail/daemon.ts";
import { UsageError } from "../../sys/errors.ts";

let dir: string;
beforeAll(() => (dir = mkdtempSync("/tmp/jx-profile-unit-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const host = {
  cwd: "/srv/site",
  stat: (p: string) => (p.startsWith("/missing") ? null : p.endsWith("/") || !p.includes(".") ? "dir" : "file") as "dir" | "file" | null,
  readlink: (p: string) => ({ "/lib": "usr/lib", "/bin": "usr/bin" })[p] ?? null,
};

function loadError(text: string): string {
  const p = file(`bad-${Math.random().toString(36).slice(2)}.toml`, text);
  try {
    loadProfile(p, dir);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("no error");
}

describe("loading and merging", () => {
  test("run options keep their types; numbers become the strings a flag would give", () => {
    const p = loadProfile(file("a.toml", `net = "none"\nclearenv = true\nsetenv = ["A=1"]\npids = 64\n`), dir);
    expect(p.settings).toEqual({ net: "none", clearenv: true, setenv: ["A=1"], pids: "64" });
  });
  test("includes: earlier first, later and the including file override scalars, lists concatenate", () => {
    file("base.toml", `hostname = "base"\nsetenv = ["A=1"]\nmemory = "1g"\n`);
    file("mid.toml", `hostname = "mid"\nsetenv = ["B=2"]\n`);
    const p = loadProfile(file("top.toml", `include = ["base.toml", "mid.toml"]\nsetenv = ["C=3"]\nmemory = "2g"\n`), dir);
    expect(p.settings).toMatchObject({ hostname: "mid", setenv: ["A=1", "B=2", "C=3"], memory: "2g" });
    expect(p.sources).toEqual([join(dir, "base.toml"), join(dir, "mid.toml"), join(dir, "top.toml")]);
  });
  test("a file may include a built-in by name", () => {
    const p = loadProfile(file("s.toml", `include = ["strict"]\nnet = "host"\n`), dir);
    expect(p.settings.net).toBe("host");
    expect(p.settings["cap-drop"]).toEqual(["ALL"]);
  });
  test("flags override scalars and add to repeatable options (profile first)", () => {
    const merged = mergeFlags({ net: "none", "ro-bind": ["/a"], hostname: "p" }, { net: "host", "ro-bind": ["/b"] });
    expect(merged).toEqual({ net: "host", "ro-bind": ["/a", "/b"], hostname: "p" });
  });
});

describe("learned keys become run options", () => {
  const opts = (text: string) => profileOptions(loadProfile(file(`l-${Math.random()}.toml`, text), dir), host);
  test("syscalls: an allow-list with EPERM unless the profile says otherwise", () => {
    expect(opts(`syscalls = ["read", "@basic-io"]`).options).toEqual({ "seccomp-allow": ["read", "@basic-io"], "seccomp-default-action": "errno" });
    expect(opts(`syscalls = ["read"]\nseccomp-default-action = "kill"`).options["seccomp-default-action"]).toBe("kill");
  });
  test("capabilities: exactly that set; network: none and loopback are a private namespace", () => {
    expect(opts(`capabilities = ["setuid"]\nnetwork = "loopback"`).options).toEqual({ "cap-drop": ["ALL"], "cap-add": ["setuid"], net: "none" });
    expect(opts(`capabilities = []\nnetwork = "host"`).options).toEqual({ "cap-drop": ["ALL"], net: "host" });
  });
  test("read/exec/write: only those paths (no system binds), host links kept, missing paths skipped, $PWD", () => {
    const r = opts(`read = ["/etc/app/", "$PWD/", "/missing/x"]\nexec = ["/usr/bin/app.bin"]\nwrite = ["/var/log/app/", "tmpfs:/var/cache/app"]`);
    expect(r.options).toEqual({
      "no-system-binds": true,
      symlink: ["usr/bin:/bin", "usr/lib:/lib"],
      "ro-bind": ["/etc/app", "/srv/site", "/usr/bin/app.bin"],
      bind: ["/var/log/app"],
      tmpfs: ["/var/cache/app"],
    });
    expect(r.skipped).toEqual(["/missing/x"]);
  });
  test("a directory without a trailing '/' is the directory itself: empty and read-only, or just the parent of entries below it", () => {
    const r = opts(`read = ["/usr/local", "/etc/app", "/etc/app/conf.d/x.conf", "/var/www/"]\nexec = ["/opt/tool"]\nwrite = ["/var/log/app"]`);
    expect(r.options["tmpfs"]).toEqual(["/usr/local:ro", "/opt/tool:ro"]);
    expect(r.options["ro-bind"]).toEqual(["/etc/app/conf.d/x.conf", "/var/www"]);
    // write: a directory to write into is bound whole, '/' or not.
    expect(r.options["bind"]).toEqual(["/var/log/app"]);
  });
  test("$PWD from / never binds the whole host", () => {
    const r = profileOptions(loadProfile(file("pwd.toml", `read = ["$PWD/"]`), dir), { ...host, cwd: "/" });
    expect(r.options["ro-bind"]).toBeUndefined();
    expect(r.skipped).toEqual(["$PWD/"]);
  });
  test("a plan error about a profile's value names the profile and key, unless a flag set it", () => {
    const p = loadProfile(file("mem.toml", `memory = "12q"`), dir);
    const { origin } = profileOptions(p, host);
    const err = new UsageError("--memory '12q': use a size like 64m");
    expect((blameProfile(err, origin, {}) as Error).message).toBe(`profile ${join(dir, "mem.toml")}: key 'memory': --memory '12q': use a size like 64m`);
    expect(blameProfile(err, origin, { memory: "12q" })).toBe(err);
  });
});

describe("bad profile files: one line naming the file and the key", () => {
  test("unknown key, with the closest valid one", () => {
    expect(loadError(`tmpfss = ["/x"]`)).toMatch(/bad-\w+\.toml: key 'tmpfss': unknown key; did you mean 'tmpfs'\?/);
    expect(loadError(`syscall = ["read"]`)).toContain("did you mean 'syscalls'?");
  });
  test("wrong type", () => {
    expect(loadError(`net = true`)).toMatch(/key 'net': expected a string, got boolean true; write net = "…"/);
    expect(loadError(`bind = "/x"`)).toMatch(/key 'bind': expected an array of strings/);
    expect(loadError(`clearenv = "yes"`)).toMatch(/key 'clearenv': expected true or false/);
  });
  test("bad values the loader can check", () => {
    expect(loadError(`network = "wifi"`)).toMatch(/key 'network': 'wifi' is not a network mode/);
    expect(loadError(`read = ["etc/x"]`)).toMatch(/key 'read': 'etc\/x' is not an absolute path/);
    expect(loadError(`listen = ["80"]`)).toMatch(/key 'listen': '80' is not an endpoint/);
  });
  test("flags that belong to one invocation are refused", () => {
    expect(loadError(`dry-run = true`)).toMatch(/key 'dry-run': --dry-run is a command-line flag only/);
  });
  test("missing include and include cycles", () => {
    expect(loadError(`include = ["nope.toml"]`)).toMatch(/key 'include': 'nope.toml' is neither a built-in profile nor a file/);
    file("c1.toml", `include = ["c2.toml"]`);
    file("c2.toml", `include = ["c1.toml"]`);
    expect(() => loadProfile(join(dir, "c1.toml"), dir)).toThrow(/key 'include': 'c1.toml' includes itself \(cycle: .*c1.toml → .*c2.toml → .*c1.toml\)/);
  });
  test("not TOML, and a missing profile file", () => {
    expect(loadError(`net = `)).toMatch(/: not valid TOML/);
    expect(() => loadProfile("nosuch.toml", dir)).toThrow(/--profile 'nosuch.toml': cannot read .*nosuch.toml \(ENOENT\)/);
  });
  test("every message is one line", () => {
    for (const t of [`tmpfss = 1`, `clearenv = 1`, `include = ["x.toml"]`, `network = "x"`]) expect(loadError(t)).not.toContain("\n");
  });
});

describe("built-in profiles", () => {
  test("every built-in loads, and says how it was made", () => {
    for (const name of Object.keys(BUILTIN_PROFILES)) {
      const p = loadProfile(name, "/");
      expect(p.sources).toEqual([`built-in '${name}'`]);
    }
    // Each per-program built-in says how it was made and that it was reviewed.
    for (const name of ["nginx", "redis-server", "python3-http.server", "jq"]) expect(BUILTIN_PROFILES[name]!.text).toMatch(/produced by `jailx learn`[^]*reviewed by hand|strace -f[^]*reviewed/);
    expect(BUILTIN_PROFILES["nginx"]!.text).toContain("produced by `jailx learn`");
  });
  test("a program that needs no network gets none (issue 8 item 4); servers get the host's", () => {
    expect(loadProfile("jq", "/").settings.network).toBe("none");
    expect(loadProfile("strict", "/").settings.net).toBe("none");
    for (const s of ["nginx", "redis-server", "python3-http.server"]) expect(loadProfile(s, "/").settings.network).toBe("host");
  });
  test("selection by the program's name", () => {
    expect(profileFor(["nginx"])).toBe("nginx");
    expect(profileFor(["/usr/sbin/nginx", "-g", "daemon off;"])).toBe("nginx");
    expect(profileFor(["redis-server", "/etc/redis/redis.conf"])).toBe("redis-server");
    expect(profileFor(["python3", "-m", "http.server", "8000"])).toBe("python3-http.server");
    expect(profileFor(["/usr/bin/python3.11", "-u", "-mhttp.server"])).toBe("python3-http.server");
    expect(profileFor(["python3", "script.py", "-m", "http.server"])).toBeNull();
    expect(profileFor(["python3", "-m", "http.client"])).toBeNull();
    expect(profileFor(["python3"])).toBeNull();
    expect(profileFor(["sh", "-c", "nginx"])).toBeNull();
    expect(profileFor(["nginx-debug"])).toBeNull();
  });
});

describe("which profile a run uses", () => {
  test("--profile wins; --no-profile means none; else the name decides; both flags are refused", () => {
    expect(profileChoice({ profile: "strict" }, ["nginx"])).toEqual({ ref: "strict", auto: false });
    expect(profileChoice({ "no-profile": true }, ["nginx"])).toBeNull();
    expect(profileChoice({}, ["nginx"])).toEqual({ ref: "nginx", auto: true });
    expect(profileChoice({}, ["/bin/true"])).toBeNull();
    expect(() => profileChoice({ profile: "strict", "no-profile": true }, ["nginx"])).toThrow(/give one of them/);
  });
});

describe("--forking: the daemon's main process", () => {
  const view = (kids: number[], pidFile: string | null) => ({ children: () => kids, readPidFile: () => pidFile });
  test("from the pid file, only when it names one of init's children", () => {
    expect(new Daemon("/run/d.pid", view([7, 9], "9\n")).mainPid()).toBe(9);
    expect(new Daemon("/run/d.pid", view([7, 9], "1\n")).mainPid()).toBeNull();
    expect(new Daemon("/run/d.pid", view([7, 9], "4242")).mainPid()).toBeNull();
    expect(new Daemon("/run/d.pid", view([7, 9], "9; rm -rf /")).mainPid()).toBeNull();
  });
  test("else init's only child; signals go to every child while unknown", () => {
    expect(new Daemon(null, view([5], null)).mainPid()).toBe(5);
    const d = new Daemon(null, view([5, 6], null));
    expect(d.mainPid()).toBeNull();
    expect(d.signalTargets()).toEqual([5, 6]);
  });
  test("the main process's end is the daemon's end", () => {
    const kids = [5];
    const d = new Daemon(null, { children: () => kids, readPidFile: () => null });
    expect(d.mainPid()).toBe(5);
    kids.length = 0;
    expect(d.ended(7, true)).toBe(false);
    expect(d.ended(5, true)).toBe(true);
  });
  test("a double fork: the guessed middle process exits 0 leaving the real daemon, which takes over", () => {
    const kids = [5];
    const d = new Daemon(null, { children: () => kids, readPidFile: () => null });
    expect(d.mainPid()).toBe(5);
    kids.splice(0, 1, 6);
    expect(d.ended(5, true)).toBe(false);
    expect(d.mainPid()).toBe(6);
    kids.length = 0;
    expect(d.ended(6, false)).toBe(true);
  });
  test("a guess gives way to the pid file once it names a child; the pid file's main always ends it", () => {
    const kids = [5, 6];
    let file: string | null = null;
    const d = new Daemon("/run/d.pid", { children: () => kids, readPidFile: () => file });
    kids.splice(1);
    expect(d.mainPid()).toBe(5);
    kids.push(6);
    file = "6\n";
    expect(d.mainPid()).toBe(6);
    expect(d.ended(6, true)).toBe(true);
  });
});
