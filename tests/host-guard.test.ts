// scripts/host-guard.ts (what `npm test` runs the suite through) fails when a command changes a
// host secret's mode or an account file. Checked in a private mount namespace where a scratch
// directory with fake files stands in for /etc: the real /etc is never touched.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { ROOT } from "./helpers/jail.ts";

let etc: string;
beforeAll(() => {
  etc = mkdtempSync("/tmp/jx-guard-etc-");
  writeFileSync(`${etc}/gshadow`, "fake:!::\n", { mode: 0o640 });
  writeFileSync(`${etc}/passwd`, "root:x:0:0:root:/root:/bin/sh\n", { mode: 0o644 });
});
afterAll(() => rmSync(etc, { recursive: true, force: true }));

function guarded(script: string): { code: number; stderr: string } {
  const bun = `${ROOT}/node_modules/.bin/bun`;
  const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc && exec "$@"', etc,
    bun, `${ROOT}/scripts/host-guard.ts`, "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stderr: r.stderr.toString() };
}

test("a command that changes nothing passes through with its own status", () => {
  expect(guarded("exit 0")).toEqual({ code: 0, stderr: "" });
  expect(guarded("exit 3").code).toBe(3);
});

test("a secret made world-readable by rename fails the run, naming the file and both states", () => {
  const r = guarded("cp /etc/gshadow /etc/g.new && chmod 644 /etc/g.new && mv /etc/g.new /etc/gshadow");
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("/etc/gshadow changed during the test run: was mode 640");
  expect(r.stderr).toContain("now mode 644");
});

test("an account left behind fails the run; one removed again does not", () => {
  expect(guarded("echo 'jx:x:5000:5000::/:/bin/sh' >> /etc/passwd").code).toBe(1);
  writeFileSync(`${etc}/passwd`, "root:x:0:0:root:/root:/bin/sh\n", { mode: 0o644 });
  expect(guarded("cp /etc/passwd /tmp/jx-guard-keep; echo 'jx:x:5000:5000::/:/bin/sh' >> /etc/passwd; cat /tmp/jx-guard-keep > /etc/passwd; rm /tmp/jx-guard-keep").code).toBe(0);
});
