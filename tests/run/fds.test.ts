// File descriptors: the program inherits only 0, 1, 2 and those named with --pass-fd — checked
// from inside (/proc/self/fd) and from the host (/proc/PID/fd of the running program).
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { JAILX, LiveJail, lines, marker, programPid } from "../helpers/jail.ts";

/** Run a shell line on the host (so that it can open extra fds before starting jailx). */
function hostSh(script: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["/bin/sh", "-c", script], { cwd: "/", env: { ...process.env, JAILX }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("descriptor inheritance", () => {
  test("fds beyond stdio that jailx inherits do not reach the program", () => {
    // fd 3 is the interesting one: Bun itself marks only fds >= 4 close-on-exec at startup.
    const r = hostSh('exec 3</etc/hostname 7</etc/hostname 9>/dev/null; "$JAILX" run -- /bin/ls /proc/self/fd');
    expect(r.stderr).toBe("");
    // 0, 1, 2, and the one ls opens to read the directory.
    expect(lines(r.stdout)).toEqual(["0", "1", "2", "3"]);
  });

  test("seen from the host, the running program holds only 0, 1, 2", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      expect(readdirSync(`/proc/${programPid(jail.pid, mark)}/fd`).map(Number).sort()).toEqual([0, 1, 2]);
    } finally {
      await jail.dispose();
    }
  });

  test("--pass-fd 3 passes that descriptor (and only it)", () => {
    const r = hostSh('exec 3</etc/hostname 5</etc/hostname; "$JAILX" run --pass-fd 3 -- /bin/sh -c "ls /proc/self/fd | tr \'\\n\' \' \'; echo; cat <&3"');
    expect(r.stderr).toBe("");
    const [fds, content] = lines(r.stdout);
    // 0 1 2 3 (passed) and 4 (ls's directory).
    expect(fds!.trim()).toBe("0 1 2 3 4");
    expect(content).toBe(hostSh("cat /etc/hostname").stdout.trim());
  });

  test("--pass-fd 7 survives jailx's single-thread re-exec (Bun marks fds >= 4 close-on-exec)", () => {
    const r = hostSh('exec 7</etc/hostname 8</etc/hostname; "$JAILX" run --pass-fd=7 -- /bin/sh -c "ls /proc/self/fd | tr \'\\n\' \' \'; echo; cat <&7"');
    expect(r.stderr).toBe("");
    const [fds, content] = lines(r.stdout);
    // 0 1 2, 3 (ls's directory) and 7 (passed); not 8.
    expect(fds!.trim()).toBe("0 1 2 3 7");
    expect(content).toBe(hostSh("cat /etc/hostname").stdout.trim());
  });

  test("--pass-fd 3 or 4 when the caller has no such descriptor is refused (never jailx's own event loop fds)", () => {
    for (const fd of [3, 4]) {
      const r = hostSh(`"$JAILX" run --pass-fd ${fd} -- /bin/ls -l /proc/self/fd/${fd}`);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(`descriptor ${fd} is not open`);
    }
  });

  test("--pass-fd 1 and 2 are accepted (always inherited)", () => {
    const r = hostSh('"$JAILX" run --pass-fd 1 --pass-fd 2 -- /bin/echo ok');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("ok\n");
  });

  test("stdin is passed through", () => {
    const r = hostSh('echo from-stdin | "$JAILX" run -- /bin/cat');
    expect(r.stdout).toBe("from-stdin\n");
  });
});
