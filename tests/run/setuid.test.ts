// A jail's root owns what it writes through --bind, and the host's mounts are not nosuid: a
// setuid-root binary, a file capability or a device node left there would be host root for any
// host user. The default jail refuses all three (seccomp guards on the setuid/setgid mode bits,
// no CAP_SETFCAP, no CAP_MKNOD); checked inside and on the host's files.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { sh } from "../helpers/jail.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync("/tmp/jx-suid-");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SUID_SGID = 0o6000;
const bind = () => ["--bind", `${dir}:/x`];

describe("setuid and setgid files", () => {
  test("chmod u+s / g+s on a file in a --bind directory is refused; the host's copy stays plain", () => {
    const r = sh("cp /bin/true /x/t && chmod 4755 /x/t; echo u=$?; chmod 2755 /x/t; echo g=$?; chmod 0700 /x/t; echo plain=$?", bind());
    expect(r.stdout).toBe("u=1\ng=1\nplain=0\n");
    expect(statSync(`${dir}/t`).mode & 0o7777).toBe(0o700);
  });

  test("creating a file with a setuid mode is refused (open with O_CREAT, and O_TMPFILE)", () => {
    const py = [
      "import os",
      "for name, flags, path in [('creat', os.O_CREAT | os.O_WRONLY, '/x/n'), ('tmpfile', os.O_TMPFILE | os.O_WRONLY, '/x')]:",
      "    try:",
      "        os.close(os.open(path, flags, 0o4755)); print(name, 'made')",
      "    except PermissionError:",
      "        print(name, 'refused')",
      "os.close(os.open('/x/plain', os.O_CREAT | os.O_WRONLY, 0o644)); print('plain made')",
    ].join("\n");
    const r = sh(`python3 -c "${py.replace(/"/g, '\\"')}"`, bind());
    expect(r.stdout).toBe("creat refused\ntmpfile refused\nplain made\n");
    expect(existsSync(`${dir}/n`)).toBe(false);
    expect(statSync(`${dir}/plain`).mode & SUID_SGID).toBe(0);
  });

  test("--seccomp-allow chmod lifts the guard: the refusal is policy, not accident", () => {
    const r = sh("cp /bin/true /x/t && chmod 4755 /x/t; echo u=$?", [...bind(), "--seccomp-allow", "chmod", "--seccomp-allow", "fchmodat"]);
    expect(r.stdout).toBe("u=0\n");
    expect(statSync(`${dir}/t`).mode & 0o4000).toBe(0o4000);
  });
});

describe("file capabilities and device nodes", () => {
  test("setcap on a file in a --bind directory fails (no CAP_SETFCAP); the host sees no capability", () => {
    const r = sh("cp /usr/bin/id /x/c && /usr/sbin/setcap cap_sys_admin+ep /x/c; echo rc=$?", bind());
    expect(r.stdout).toMatch(/rc=[1-9]/);
    const get = Bun.spawnSync(["/usr/sbin/getcap", `${dir}/c`], { stdout: "pipe", stderr: "pipe" });
    expect(get.exitCode).toBe(0);
    expect(get.stdout.toString()).toBe("");
  });

  test("mknod of a block device in a --bind directory is refused (no CAP_MKNOD)", () => {
    const r = sh("mknod /x/disk b 254 0; echo rc=$?", bind());
    expect(r.stdout).toBe("rc=1\n");
    expect(existsSync(`${dir}/disk`)).toBe(false);
  });
});
