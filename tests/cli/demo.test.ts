// `npm run demo` (the README's first command): builds, runs the demo jail, installs nothing.
// apt-get, apt and dpkg are shadowed by stubs that leave a mark: the demo must not call them.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { ROOT } from "../helpers/jail.ts";

const dir = mkdtempSync("/tmp/jx-demo-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const tool of ["apt-get", "apt", "dpkg", "dpkg-query"]) {
  writeFileSync(`${dir}/${tool}`, `#!/bin/sh\necho "$0 $*" >> ${dir}/called\nexit 1\n`);
  chmodSync(`${dir}/${tool}`, 0o755);
}

test("npm run demo: no package tool called; the jail shows its pid 1, loopback only, a read-only root and its private /tmp", () => {
  const r = Bun.spawnSync(["npm", "run", "--silent", "demo"], {
    cwd: ROOT, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, stdout: "pipe", stderr: "pipe", timeout: 120_000,
  });
  const out = r.stdout.toString();
  expect(r.stderr.toString()).toMatch(/^\$ jailx run --net none --hostname demo --memory 64m --pids 64 --setenv NOTE=jailx-demo-\d+ -- \/bin\/sh -c '…'\n$/m);
  expect(r.exitCode).toBe(0);
  expect(existsSync(`${dir}/called`)).toBe(false);
  expect(out).toContain("== processes (a new pid namespace: jailx init is PID 1)\n  1 jailx-init\n");
  expect(out).toContain("== hostname\ndemo\n");
  expect(out).toMatch(/== network \(only loopback\)\n\s+lo\n==/);
  // the mount list reaches /tmp (it was cut before it)
  expect(out).toMatch(/^ {2}\/ ro tmpfs$/m);
  expect(out).toMatch(/^ {2}\/tmp rw tmpfs$/m);
  expect(out).toMatch(/== a private \/tmp: empty, writable, gone with the jail\n {2}entries before: 0\n {2}wrote \/tmp\/jailx-demo-\d+: hello\n/);
  expect(out).toMatch(/no \/tmp\/jailx-demo-\d+ on the host: the jail's \/tmp was its own\n$/);
  expect(out).toContain("touch: cannot touch '/hello': Read-only file system");
});
