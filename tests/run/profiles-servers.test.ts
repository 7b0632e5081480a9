// redis-server, python3 -m http.server and jq under their built-in profiles, selected by name:
// the server works from the host, the jail holds it to its view, user and allow-list, SIGTERM
// ends it with nothing left, and another program under the same profile is refused. Rootless
// variants where they apply (http.server and jq; redis-server needs root to become redis).
// redis writes go to scratch copies bound over /var/lib/redis and /var/log/redis in a private
// mount namespace; ports are free ones, given on the command line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { JAILX, jailx, LiveJail, waitUntil } from "../helpers/jail.ts";
import { installRootless, type Rootless } from "../helpers/user.ts";
import { freePort, get, hasProgram, hostUid, privateMounts, processesNamed, scratchCopy, uidOf } from "../helpers/servers.ts";

const statusField = (pid: number, f: string) => new RegExp(`^${f}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!.trim();

const haveRedis = hasProgram("/usr/bin/redis-server") && hasProgram("/usr/bin/redis-cli") && existsSync("/etc/redis/redis.conf");
if (!haveRedis) console.warn("SKIP redis-server profile tests: Debian's redis-server/redis-tools are not installed (scripts/install-deps.sh installs them)");
const havePython = hasProgram("/usr/bin/python3");
if (!havePython) console.warn("SKIP python3 -m http.server profile tests: /usr/bin/python3 is missing");
const haveJq = hasProgram("/usr/bin/jq");
if (!haveJq) console.warn("SKIP jq profile tests: /usr/bin/jq is missing");

describe.skipIf(!haveRedis)("redis-server under its profile", () => {
  let data = "", logs = "", wrap: string[] = [];
  beforeAll(() => {
    data = scratchCopy("/var/lib/redis", "jx-redis-lib");
    logs = scratchCopy("/var/log/redis", "jx-redis-log");
    wrap = privateMounts({ "/var/lib/redis": data, "/var/log/redis": logs });
  });
  afterAll(() => [data, logs].forEach((d) => d && rmSync(d, { recursive: true, force: true })));

  test("Debian's stock configuration daemonizes; PING, BGSAVE, contained, TERM → 0, nothing left", async () => {
    const port = freePort();
    const jail = new LiveJail(["run", "--", "redis-server", "/etc/redis/redis.conf", "--port", String(port)], { wrap });
    const cli = (...a: string[]) => Bun.spawnSync(["redis-cli", "-p", String(port), ...a], { stdout: "pipe", stderr: "pipe" }).stdout.toString().trim();
    try {
      await waitUntil(() => cli("PING") === "PONG", 30_000, "redis to answer PING");
      expect(cli("SET", "k", "v")).toBe("OK");
      expect(cli("BGSAVE")).toBe("Background saving started");
      await waitUntil(() => existsSync(`${data}/dump.rdb`), 20_000, "dump.rdb in the (scratch) data directory");
      // BGSAVE's child carries the server's title until it renames itself: wait for it to be gone.
      await waitUntil(() => processesNamed(jail.pid, /redis-server/).length === 1, 20_000, "one redis-server process");
      const [server] = processesNamed(jail.pid, /redis-server/);
      expect(uidOf(server!)).toBe(hostUid("redis"));
      expect(statusField(server!, "CapEff")).toBe("0000000000000000");
      expect(statusField(server!, "CapBnd")).toBe("0000000000000000");
      expect(statusField(server!, "NoNewPrivs")).toBe("1");
      expect(statusField(server!, "Seccomp")).toBe("2");
      for (const p of ["/etc/shadow", "/etc/passwd", "/root", "/home", "/usr/bin/sh"]) expect(existsSync(`/proc/${server}/root${p}`)).toBe(false);
      jail.kill("SIGTERM");
      const end = await jail.exit();
      expect(end.code).toBe(0);
      expect(existsSync(`/proc/${server}`)).toBe(false);
      expect(readFileSync(`${logs}/redis-server.log`, "utf8")).toContain("Ready to accept connections");
    } finally {
      await jail.dispose();
    }
  }, 60_000);

  test("another program under the redis-server profile is refused", () => {
    const r = jailx(["run", "--profile", "redis-server", "--", "sh", "-c", "cat /etc/passwd"]);
    expect(r.code).toBe(127);
    expect(r.stdout).toBe("");
  });
});

async function httpServer(o: { dir: string; wrap?: string[]; binary?: string; env?: Record<string, string> }) {
  const port = freePort();
  const jail = new LiveJail(["run", "--", "python3", "-m", "http.server", String(port), "--bind", "127.0.0.1"], { cwd: o.dir, wrap: o.wrap, binary: o.binary, env: o.env, inheritEnv: !o.env });
  return { jail, url: `http://127.0.0.1:${port}/` };
}

describe.skipIf(!havePython)("python3 -m http.server under its profile", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync("/tmp/jx-httpd-");
    chmodSync(dir, 0o755);
    writeFileSync(`${dir}/hello.txt`, "served from the jail\n");
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  test("serves the current directory read-only; the rest of the host is not there; TERM ends it", async () => {
    const { jail, url } = await httpServer({ dir });
    try {
      const r = await get(url + "hello.txt");
      expect(await r.text()).toBe("served from the jail\n");
      const [py] = processesNamed(jail.pid, /python3/);
      expect(statusField(py!, "CapEff")).toBe("0000000000000000");
      expect(statusField(py!, "Seccomp")).toBe("2");
      for (const p of ["/etc/shadow", "/etc/passwd", "/root", "/home", "/usr/bin/sh"]) expect(existsSync(`/proc/${py}/root${p}`)).toBe(false);
      expect(existsSync(`/proc/${py}/root${dir}/hello.txt`)).toBe(true);
      jail.kill("SIGTERM");
      const end = await jail.exit();
      expect(end.code).toBe(128 + 15); // python's default SIGTERM: killed by the signal
      expect(end.stderr).toContain("using the built-in profile 'python3-http.server' for python3");
      expect(existsSync(`/proc/${py}`)).toBe(false);
    } finally {
      await jail.dispose();
    }
  }, 60_000);

  test("another program under the profile is refused", () => {
    const r = jailx(["run", "--profile", "python3-http.server", "--", "sh", "-c", "cat /etc/passwd"]);
    expect(r.code).toBe(127);
  });

  describe("rootless", () => {
    let rl: Rootless, own = "";
    beforeAll(() => {
      rl = installRootless();
      own = mkdtempSync("/tmp/jx-httpd-rootless-");
      writeFileSync(`${own}/hello.txt`, "rootless\n");
      chownSync(own, rl.user.uid, rl.user.gid);
      chownSync(`${own}/hello.txt`, rl.user.uid, rl.user.gid);
    });
    afterAll(() => {
      rl?.cleanup();
      if (own) rmSync(own, { recursive: true, force: true });
    });
    test("an unprivileged user's http.server works under the same profile", async () => {
      const { jail, url } = await httpServer({ dir: own, wrap: rl.wrap, binary: rl.binary, env: rl.env });
      try {
        expect(await (await get(url + "hello.txt")).text()).toBe("rootless\n");
        const [py] = processesNamed(jail.pid, /python3/);
        expect(uidOf(py!)).toBe(rl.user.uid);
        jail.kill("SIGTERM");
        expect((await jail.exit()).code).toBe(128 + 15);
      } finally {
        await jail.dispose();
      }
    }, 60_000);
  });
});

describe.skipIf(!haveJq)("jq under its profile: no network at all", () => {
  test("filters stdin; its jail has its own network namespace with only loopback", () => {
    const r = Bun.spawnSync(["sh", "-c", `echo '{"a":[1,2,3]}' | ${JAILX} run -- jq '.a|length'`], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString()).toBe("3\n");
    const plan = JSON.parse(jailx(["run", "--dry-run", "--", "jq", "."]).stdout);
    expect(plan.net).toBe("none");
    expect(plan.caps.keep).toEqual([]);
  });
  test("rootless", () => {
    const rl = installRootless();
    try {
      const r = Bun.spawnSync([...rl.wrap, "sh", "-c", `echo '[1,2]' | ${rl.binary} run -- jq -c 'map(.*2)'`], { cwd: "/tmp", env: rl.env, stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toContain("using the built-in profile 'jq'");
      expect(r.stdout.toString()).toBe("[2,4]\n");
    } finally {
      rl.cleanup();
    }
  });
});
