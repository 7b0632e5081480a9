// scripts/install-deps.sh (run by `npm test`) waits, within a bound, for another process holding
// the dpkg lock, instead of failing at once. The lock is held the way apt and dpkg hold it (an
// fcntl lock on /var/lib/dpkg/lock-frontend). The package asked for is one that is already
// installed (and marked manual), named at its installed version: dpkg -s does not know that
// spelling, so the script takes the apt path, and apt has nothing to do — the machine is left as
// it was.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { ROOT } from "../helpers/jail.ts";

const LOCK = "/var/lib/dpkg/lock-frontend";
const dir = mkdtempSync("/tmp/jx-aptlock-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const out = (argv: string[]) => Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
const manual = new Set(out(["apt-mark", "showmanual"]).stdout.toString().split("\n"));
const pkg = ["procps", "coreutils"].find((p) => manual.has(p));
const version = pkg ? out(["dpkg-query", "-W", "-f=${Version}", pkg]).stdout.toString() : "";
const why = !existsSync(LOCK) ? `no ${LOCK} (not a Debian system)` : !pkg ? "neither procps nor coreutils is a manually installed package here" : "";
if (why) console.warn(`SKIP install-deps lock test: ${why}`);

// Holds the lock, says so, keeps it for the given seconds (it is the "other process"; the test
// waits on its messages, not on time), writes the marker file *before* it lets go, then exits.
const HOLDER = `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
open(sys.argv[3], "w").close()
fcntl.lockf(fd, fcntl.LOCK_UN)
`;

async function holdLock(seconds: number, marker: string) {
  const p = Bun.spawn(["python3", "-c", HOLDER, LOCK, String(seconds), marker], { stdout: "pipe", stderr: "inherit" });
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  if (text !== "held\n") {
    p.kill();
    throw new Error(`the lock holder did not get ${LOCK} (said '${text}')`);
  }
  return p;
}

async function installDeps(lockWait: number) {
  const p = Bun.spawn(["bash", `${ROOT}/scripts/install-deps.sh`, `${pkg}=${version}`], {
    env: { ...process.env, APT_LOCK_WAIT: String(lockWait) }, stdout: "pipe", stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr as ReadableStream).text()]);
  return { code, stderr };
}

describe.skipIf(!!why)("install-deps and a held dpkg lock", () => {
  test("it waits for the holder to let go, then succeeds", async () => {
    const released = `${dir}/released`;
    const holder = await holdLock(4, released);
    try {
      const r = await installDeps(120);
      expect(r.stderr).toContain(`install-deps: installing ${pkg}=${version}`);
      expect(r.code).toBe(0);
      // apt could only get the lock after the holder wrote this file.
      expect(existsSync(released)).toBe(true);
    } finally {
      holder.kill();
      await holder.exited;
    }
  }, 60_000);

  test("control: with no time to wait (APT_LOCK_WAIT=0) it fails on the lock, without touching the apt lists", async () => {
    const holder = await holdLock(30, `${dir}/unused`);
    try {
      const r = await installDeps(0);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Could not get lock /var/lib/dpkg/lock-frontend");
    } finally {
      holder.kill();
      await holder.exited;
    }
  }, 60_000);
});
