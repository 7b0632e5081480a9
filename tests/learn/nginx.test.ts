// Learning Debian's nginx with its stock configuration, moved to a loopback port (a copy of
// /etc/nginx in a scratch directory, bound over /etc/nginx: port 80 belongs to the machine),
// then serving under the learned profile alone, and refusing another program.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cmdline, descendants, jailx, LiveJail, waitUntil } from "../helpers/jail.ts";
import { enforce, parseProfileText, type ProfileData } from "./enforce.ts";

const HAVE_NGINX = existsSync("/usr/sbin/nginx") && existsSync("/etc/nginx/sites-available/default");
if (!HAVE_NGINX) console.warn("SKIP tests/learn/nginx.test.ts: Debian's nginx is not installed (scripts/install-deps.sh installs nginx-light)");
const HAVE_V6 = existsSync("/proc/net/if_inet6") && /\blo$/m.test(readFileSync("/proc/net/if_inet6", "utf8"));

let dir: string;
const port = 20000 + ((process.pid * 7) % 20000);

beforeAll(() => {
  dir = mkdtempSync("/tmp/jx-learn-nginx-");
  if (!HAVE_NGINX) return;
  cpSync("/etc/nginx", `${dir}/nginx`, { recursive: true, dereference: true });
  const site = `${dir}/nginx/sites-enabled/default`;
  rmSync(site, { force: true });
  const stock = readFileSync("/etc/nginx/sites-available/default", "utf8");
  writeFileSync(site, stock
    .replace(/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`)
    .replace(/listen \[::\]:80 default_server;/, HAVE_V6 ? `listen [::1]:${port} default_server;` : ""));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const JAIL = () => ["--ro-bind", `${dir}/nginx:/etc/nginx`, "--ro-bind", "/var/www", "--tmpfs", "/var/log/nginx", "--tmpfs", "/var/lib/nginx"];

async function get(deadline: number): Promise<Response> {
  for (;;) {
    try {
      return await fetch(`http://127.0.0.1:${port}/`);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(25);
    }
  }
}

const workers = (supervisor: number) => descendants(supervisor).filter((p) => cmdline(p)?.[0]?.startsWith("nginx: worker"));

/**
 * Start nginx (foreground) through jailx ARGS, fetch the welcome page, reload it with SIGHUP
 * (wait until every worker is a new one), fetch again, stop it with SIGTERM.
 */
async function serve(args: string[], command = ["nginx", "-g", "daemon off;"]): Promise<{ status: number; body: string; code: number; stderr: string }> {
  const jail = new LiveJail([...args, "--", ...command]);
  try {
    const r = await get(Date.now() + 30_000);
    const body = await r.text();
    const before = workers(jail.pid);
    expect(before.length).toBeGreaterThan(0);
    jail.kill("SIGHUP");
    await waitUntil(() => {
      const now = workers(jail.pid);
      return now.length > 0 && now.every((p) => !before.includes(p));
    }, 20_000, "nginx's workers to be replaced after SIGHUP");
    expect((await get(Date.now() + 10_000)).status).toBe(200);
    jail.kill("SIGTERM");
    const end = await jail.exit();
    return { status: r.status, body, code: end.code, stderr: end.stderr };
  } finally {
    await jail.dispose();
  }
}

test.skipIf(!HAVE_NGINX)("nginx: learn (start, serve, reload, stop), then the same under the profile alone; another program is refused", async () => {
  const out = `${dir}/nginx.toml`;
  const learned = await serve(["learn", "-o", out, ...JAIL()]);
  expect(learned.status).toBe(200);
  expect(learned.body).toContain("Welcome to nginx");
  expect(learned.code).toBe(0);
  const p: ProfileData & { listen: string[] } = parseProfileText(readFileSync(out, "utf8")) as never;

  for (const s of ["socket", "bind", "listen", "accept4", "epoll_wait", "setuid", "setgid"]) expect(p.syscalls).toContain(s);
  expect(p.listen).toContain(`tcp:127.0.0.1:${port}`);
  expect(p.network).toBe("host");
  // The master starts its workers as www-data (the stock `user` line) and chowns its temp dirs.
  expect(p.capabilities).toContain("setuid");
  expect(p.capabilities).toContain("setgid");
  expect(p.capabilities).not.toContain("net_bind_service"); // a high port
  expect(p.exec).toContain("/usr/sbin/nginx");
  expect(p.read).toContain("/var/www/html/index.nginx-debian.html");
  for (const w of ["tmpfs:/var/log/nginx", "tmpfs:/var/lib/nginx", "tmpfs:/run"]) expect(p.write).toContain(w);
  expect((p["ro-bind"] ?? []).some((b) => b.startsWith(`${dir}/nginx/nginx.conf:`))).toBe(true);
  for (const path of [...p.read, ...p.exec]) expect(path).not.toMatch(/^\/(proc|dev|tmp)\//);

  const enforced = await serve(["run", ...enforce(out)]);
  expect(enforced.stderr).toBe("");
  expect(enforced.status).toBe(200);
  expect(enforced.body).toBe(learned.body);
  expect(enforced.code).toBe(0);

  const other = jailx(["run", ...enforce(out), "--", "sh", "-c", "cat /etc/passwd"]);
  expect(other.code).toBe(127); // no shell in nginx's view
  // nginx reads /etc/passwd (its `user` line): another file of /etc is not there.
  const peek = jailx(["run", ...enforce(out), "--", "nginx", "-g", "daemon off;", "-c", "/etc/os-release"]);
  expect(peek.code).not.toBe(0);
  expect(peek.stderr).toContain("No such file or directory");
}, 90_000);

test.skipIf(!HAVE_NGINX)("nginx as a daemon (no -g): learned with --forking, the profile keeps it, and the daemon serves under it", async () => {
  const out = `${dir}/nginx-forking.toml`;
  const learned = await serve(["learn", "-o", out, "--forking", ...JAIL()], ["nginx"]);
  expect(learned.status).toBe(200);
  expect(learned.code).toBe(0);
  const text = readFileSync(out, "utf8");
  expect(text).toContain("\nforking = true\n");
  const p = parseProfileText(text);
  expect(p.syscalls).toContain("setsid"); // daemonizing
  const enforced = await serve(["run", ...enforce(out)], ["nginx"]);
  expect(enforced.stderr).toBe("");
  expect(enforced.status).toBe(200);
  expect(enforced.code).toBe(0);
}, 90_000);
