// The attacks of attacks*.test.ts repeated in rootless mode: an unprivileged host user (created
// for the test and removed again) whose root exists only inside the jail's user namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { SETUP_STEPS, expectSyscallsRefused, syscallsProbeArgs, killDuringSetup, outliveSupervisor, probe, useProbes } from "../helpers/attack.ts";
import { jailx, sh } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";

const probes = useProbes();

describe("rootless (an unprivileged user; root only inside its user namespace)", () => {
  let user: Rootless;
  beforeAll(() => {
    user = installRootless();
  });
  afterAll(() => user?.cleanup());

  test("the same syscalls are refused, in every ABI", () => {
    expectSyscallsRefused(probe(probes.dir, "syscalls", syscallsProbeArgs(), [], asUser(user)));
  });

  test("signals to jailx's init leave it running", () => {
    const r = sh("trap '' HUP INT QUIT TERM USR1 USR2 WINCH; for s in $(seq 1 64); do kill -$s 1 2>/dev/null; done; kill -0 1 && echo init-alive; exit 7", ["--no-landlock"], asUser(user));
    expect([r.stdout, r.code]).toEqual(["init-alive\n", 7]);
  });

  test("the host's device nodes and uid map cannot be changed", () => {
    const before = statSync("/dev/null");
    const r = sh("chmod 0600 /dev/null; chown 1234 /dev/null; echo '0 0 4294967295' > /proc/self/uid_map; echo allow > /proc/self/setgroups; mknod /tmp/disk b 8 0; echo end", [], asUser(user));
    expect(r.stdout).toBe("end\n");
    expect(r.stderr.split("\n").filter(Boolean).length).toBe(5);
    const now = statSync("/dev/null");
    expect([now.mode, now.uid, now.mtimeMs]).toEqual([before.mode, before.uid, before.mtimeMs]);
  });

  test("the host network cannot be sniffed: AF_PACKET and raw sockets are refused (CAP_NET_RAW counts only inside the user namespace)", () => {
    const r = jailx(["run", "--", "/usr/bin/python3", "-c", [
      "import socket",
      "for fam, typ, proto in ((socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)), (socket.AF_INET, socket.SOCK_RAW, 1)):",
      "    try:",
      "        socket.socket(fam, typ, proto); print('OPENED')",
      "    except PermissionError:",
      "        print('refused')",
    ].join("\n")], asUser(user));
    expect(r.stdout).toBe("refused\nrefused\n");
  });

  test("kill -9 of the supervisor: a double-forked, PDEATHSIG-clearing program does not survive", async () => {
    await outliveSupervisor(probes.dir, [], [], asUser(user));
  });

  test("kill -9 of the supervisor with --as-pid-1: the program does not survive", async () => {
    await outliveSupervisor(probes.dir, ["--as-pid-1"], ["self"], asUser(user));
  });

  for (const step of SETUP_STEPS)
    test(`kill -9 of the supervisor at '${step}': nothing survives`, async () => {
      await killDuringSetup(step, [], asUser(user));
    });
});
