// `jailx run -- nginx`, literally: Debian's nginx-light with its stock configuration, as root,
// no flags. The built-in profile is selected by the name; nginx daemonizes and jailx follows
// the master (--pid-file from the profile). Checked from the host: the welcome page, workers
// as www-data, the master's capabilities, no_new_privs, the allow-list filter, the view
// (/etc/shadow, /root, /home absent; only the log, lib and private dirs writable), `jailx
// inspect`'s verdict against a default jail, reload on SIGHUP, stop on SIGTERM with exit 0 and
// nothing left. And from inside: a path outside the view is ENOENT to nginx, and another
// program under the same profile cannot even start.
//
// The host is not changed: /var/log/nginx and /var/lib/nginx are scratch copies bound over the
// real ones in a private mount namespace. Port 80 is used when free (the literal case);
// otherwise — another test or helper holds it — a scratch copy of the stock site, with only
// its port changed, is bound over sites-available/default, and the test says so.
// Rootless: does not apply (port 80 and switching workers to www-data need root).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { jailx, LiveJail, waitUntil } from "../helpers/jail.ts";
import { freePort, get, hasProgram, hostUid, mountsOf, portFree, privateMounts, processesNamed, scratchCopy, uidOf } from "../helpers/servers.ts";

const SITE = "/etc/nginx/sites-available/default";
const have = hasProgram("/usr/sbin/nginx") && existsSync(SITE) && existsSync("/var/lib/nginx");
if (!have) console.warn("SKIP profiles-nginx: Debian's nginx-light is not installed (scripts/install-deps.sh installs it)");

let log = "", lib = "", site = "", port = 80;
let wrap: string[] = [];
beforeAll(() => {
  if (!have) return;
  log = scratchCopy("/var/log/nginx", "jx-nginx-log");
  lib = scratchCopy("/var/lib/nginx", "jx-nginx-lib");
  const binds: Record<string, string> = { "/var/log/nginx": log, "/var/lib/nginx": lib };
  if (!portFree(80)) {
    port = freePort();
    console.warn(`profiles-nginx: port 80 is in use on this host; nginx's stock site is moved to port ${port} for this test (only its listen lines change)`);
    site = `${log}.site`;
    writeFileSync(site, readFileSync(SITE, "utf8").replace(/listen (\[::\]:)?80 default_server/g, (_m, v6) => `listen ${v6 ?? ""}${port} default_server`));
    binds[SITE] = site;
  }
  wrap = privateMounts(binds);
});
afterAll(() => {
  for (const d of [log, lib, site]) if (d) rmSync(d, { recursive: true, force: true });
});

const CAP = { chown: 0, dac_override: 1, setgid: 6, setuid: 7, net_bind_service: 10 };
const capMask = (pid: number, set: string) => BigInt("0x" + new RegExp(`^${set}:\\s*([0-9a-f]+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const statusField = (pid: number, f: string) => new RegExp(`^${f}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!.trim();

function inspectJson(pid: number): { exposure: number; results: { id: string; status: string; detail?: string }[] } {
  const r = jailx(["inspect", "--json", String(pid)]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).score;
}

describe.skipIf(!have)("jailx run -- nginx (Debian's stock nginx)", () => {
  test("starts, serves, is contained, reloads on HUP, stops on TERM with exit 0 and nothing left", async () => {
    const jail = new LiveJail(["run", "--", "nginx"], { wrap });
    const reference = new LiveJail(["run", "--no-profile", "--", "/bin/sleep", "120"]);
    try {
      // The literal command line of the issue when port 80 is free: http://127.0.0.1/
      const url = port === 80 ? "http://127.0.0.1/" : `http://127.0.0.1:${port}/`;
      const r = await get(url);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("<title>Welcome to nginx!</title>");

      // A worker just forked still carries the master's title until it has set itself up
      // (ids, then its title): wait until the titles have settled on one master.
      await waitUntil(() => processesNamed(jail.pid, /^nginx: master process/).length === 1, 20_000, "one nginx master");
      const [master] = processesNamed(jail.pid, /^nginx: master process/);
      const workers = processesNamed(jail.pid, /^nginx: worker process/);
      expect(workers.length).toBeGreaterThan(0);
      // Workers as www-data with nothing; the master as root with exactly its five capabilities.
      for (const w of workers) {
        expect(uidOf(w)).toBe(hostUid("www-data"));
        expect(capMask(w, "CapEff")).toBe(0n);
      }
      const want = Object.values(CAP).reduce((m, b) => m | (1n << BigInt(b)), 0n);
      expect(uidOf(master!)).toBe(0);
      for (const set of ["CapEff", "CapPrm", "CapBnd"]) expect(capMask(master!, set)).toBe(want);
      expect(statusField(master!, "NoNewPrivs")).toBe("1");
      expect(statusField(master!, "Seccomp")).toBe("2");

      // The view, from the host through the master's root: only what the profile lists.
      const root = `/proc/${master}/root`;
      for (const p of ["/etc/shadow", "/etc/hostname", "/root", "/home", "/usr/bin/sh", "/usr/bin/cat"]) expect(existsSync(root + p)).toBe(false);
      for (const p of ["/etc/nginx/nginx.conf", "/var/www/html", "/usr/sbin/nginx", "/var/log/nginx"]) expect(existsSync(root + p)).toBe(true);
      const mounts = mountsOf(master!);
      const writable = mounts.filter((m) => !m.readonly).map((m) => m.path);
      // the host's log and temp dirs; the jail's own private /run, /tmp, /dev, /dev/shm; proc, devpts
      for (const w of writable) expect(["/var/log/nginx", "/var/lib/nginx", "/run", "/tmp", "/dev", "/dev/shm", "/dev/pts", "/proc"]).toContain(w);
      expect(writable).toEqual(expect.arrayContaining(["/var/log/nginx", "/var/lib/nginx", "/run"]));
      for (const ro of ["/", "/etc/nginx", "/usr/sbin/nginx", "/var/www/html"]) expect(mounts.find((m) => m.path === ro)?.readonly).toBe(true);
      // It wrote its access log through the writable bind (the scratch copy, seen from the host).
      await waitUntil(() => readFileSync(`${log}/access.log`, "utf8").includes('"GET / HTTP/1.1" 200'), 10_000, "the access log line");

      // jailx inspect: an allow-list, how many calls, and a better score than a default jail.
      const score = inspectJson(master!);
      const allow = score.results.find((x) => x.id === "seccomp.allowlist")!;
      expect(allow.status).toBe("good");
      const n = Number(/allow-list, (\d+) system calls allowed/.exec(allow.detail ?? "")?.[1]);
      expect(n).toBeGreaterThan(50);
      expect(n).toBeLessThan(150);
      await waitUntil(() => processesNamed(reference.pid, /sleep$/).length === 1, 20_000, "the reference jail's sleep");
      const ref = inspectJson(processesNamed(reference.pid, /sleep$/)[0]!);
      expect(ref.results.find((x) => x.id === "seccomp.allowlist")!.status).toBe("bad");
      expect(score.exposure).toBeLessThan(ref.exposure);

      // SIGHUP to jailx reaches the master: new workers, same master, jail still running.
      jail.kill("SIGHUP");
      await waitUntil(() => {
        const now = processesNamed(jail.pid, /^nginx: worker process/);
        return now.length > 0 && now.every((w) => !workers.includes(w));
      }, 20_000, "new workers after the reload");
      await waitUntil(() => processesNamed(jail.pid, /^nginx: master process/).length === 1, 20_000, "one nginx master after the reload");
      expect(processesNamed(jail.pid, /^nginx: master process/)).toEqual([master!]);
      expect((await get(url)).status).toBe(200);

      // SIGTERM: nginx's fast shutdown, exit 0, nothing left.
      jail.kill("SIGTERM");
      const end = await jail.exit();
      expect(end.code).toBe(0);
      expect(end.stderr).toBe("jailx: using the built-in profile 'nginx' for nginx ('jailx profile show nginx'; --no-profile to run without it)\n");
      for (const p of [master!, ...workers]) expect(existsSync(`/proc/${p}`)).toBe(false);
    } finally {
      await jail.dispose();
      await reference.dispose();
    }
  }, 90_000);

  test("inside: a path outside the view is ENOENT to nginx (control: the default jail has it)", () => {
    const r = jailx(["run", "--", "nginx", "-t", "-c", "/etc/hostname"], { wrap });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('open() "/etc/hostname" failed (2: No such file or directory)');
    const control = jailx(["run", "--no-profile", "--", "nginx", "-t", "-c", "/etc/hostname"], { wrap });
    expect(control.stderr).not.toContain("No such file or directory");
  });

  test("first start on a fresh host: nginx creates its temp dirs and hands them to www-data", () => {
    const empty = mkdtempSync("/tmp/jx-nginx-fresh-");
    try {
      chmodSync(empty, 0o755);
      const r = jailx(["run", "--", "nginx", "-t"], { wrap: privateMounts({ "/var/log/nginx": log, "/var/lib/nginx": empty }) });
      expect(r.stderr).toContain("test is successful");
      expect(r.code).toBe(0);
      for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) expect(statSync(`${empty}/${d}`).uid).toBe(hostUid("www-data"));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("another program under the nginx profile is refused (not even in the view)", () => {
    const r = jailx(["run", "--profile", "nginx", "--", "sh", "-c", "cat /etc/passwd"]);
    expect(r.code).toBe(127);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("sh: command not found inside the jail");
    // control: the same command in a default jail runs
    expect(jailx(["run", "--no-profile", "--", "sh", "-c", "cat /etc/passwd"]).stdout).toContain("root:");
  });
});
