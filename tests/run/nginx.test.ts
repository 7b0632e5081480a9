// The product's own example: an unmodified nginx inside a default jail (read-only root, its own
// pid/mount/ipc/uts namespaces, dropped capabilities, seccomp), serving from a read-only bind,
// reached from the host, stopped with SIGTERM through jailx.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { LiveJail } from "../helpers/jail.ts";
import { get } from "../helpers/servers.ts";

let dir: string;
const port = 20000 + (process.pid % 20000);

beforeAll(() => {
  dir = mkdtempSync("/tmp/jx-nginx-");
  mkdirSync(`${dir}/www`);
  writeFileSync(`${dir}/www/index.html`, "hello from the jail\n");
  writeFileSync(`${dir}/nginx.conf`, `
daemon off; master_process off; pid /tmp/nginx.pid; error_log stderr;
events {}
http {
  access_log off;
  client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy; fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;
  server { listen 127.0.0.1:${port}; root /srv/www; }
}
`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("jailx run -- nginx serves from a read-only bind and stops on SIGTERM", async () => {
  // --no-profile: this is the generic default jail with a custom configuration; the built-in
  // nginx profile (tests/run/profiles-nginx.test.ts) is made for Debian's stock configuration.
  const jail = new LiveJail(["run", "--no-profile", "--ro-bind", `${dir}:/srv`, "--", "nginx", "-e", "stderr", "-c", "/srv/nginx.conf"]);
  try {
    const r = await get(`http://127.0.0.1:${port}/`, 30_000);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("hello from the jail\n");
    jail.kill("SIGTERM");
    const end = await jail.exit();
    expect(end.code).toBe(0);
    expect(end.stderr).not.toContain("jailx:");
  } finally {
    await jail.dispose();
  }
});
