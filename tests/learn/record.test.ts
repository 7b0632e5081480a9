// What jailx learn records across threads, fork, #! scripts, id changes and sockets — each
// checked in the profile, and (where the program needs it to work) enforced with --profile.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { jailx } from "../helpers/jail.ts";
import { enforce, parseProfileText, type ProfileData } from "./enforce.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/jx-learn-rec-");
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function learn(flags: string[], command: string[]): { p: ProfileData & { listen?: string[]; connect?: string[] }; out: string; stdout: string } {
  const out = `${dir}/p${n++}.toml`;
  const r = jailx(["learn", "-o", out, ...flags, "--", ...command]);
  expect(r.stderr).toContain(`→ ${out}`);
  expect(r.code).toBe(0);
  return { p: parseProfileText(readFileSync(out, "utf8")), out, stdout: r.stdout };
}

const PY = "/usr/bin/python3";

test("a thread's and a forked child's files are recorded (and a symlink's target with its name)", () => {
  const script = [
    "import os, threading",
    "t = threading.Thread(target=lambda: open('/etc/hostname').read()); t.start(); t.join()",
    "pid = os.fork()",
    "if pid == 0:",
    "    open('/etc/os-release').read(); os._exit(0)",
    "os.waitpid(pid, 0); print('done')",
  ].join("\n");
  const { p, out, stdout } = learn([], [PY, "-c", script]);
  expect(p.read).toContain("/etc/hostname"); // opened by the second thread only
  expect(p.read).toContain("/etc/os-release"); // by the child only: the name it used…
  expect(p.read).toContain("/usr/lib/os-release"); // …and the file the link leads to
  for (const s of ["clone", "wait4"]) expect(p.syscalls.some((x) => x === s || x === "clone3")).toBe(true);
  const e = jailx(["run", ...enforce(out), "--", PY, "-c", script]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe(stdout);
});

test("a #! script: the interpreter the kernel starts (no syscall names it) is in the profile", () => {
  const scripts = mkdtempSync(`${dir}/s-`);
  chmodSync(scripts, 0o755);
  writeFileSync(`${scripts}/hello`, "#!/bin/sh\necho hello\n", { mode: 0o755 });
  const { p, out } = learn(["--ro-bind", `${scripts}:/s`], ["/s/hello"]);
  expect(p.exec).toContain("/usr/bin/sh"); // /bin/sh through the /bin link
  expect(p.exec.some((e) => e.endsWith("/dash"))).toBe(true);
  expect(p["ro-bind"]).toEqual([`${scripts}/hello:/s/hello`]);
  const e = jailx(["run", ...enforce(out), "--", "/s/hello"]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("hello\n");
});

test("id changes and chown: setuid, setgid, chown capabilities; nothing else kept", () => {
  const script = "import os; open('/tmp/f', 'w').close(); os.chown('/tmp/f', 33, 33); os.setgroups([]); os.setgid(33); os.setuid(33); print(os.getuid())";
  const { p, out } = learn([], [PY, "-c", script]);
  expect(p.capabilities).toEqual(["chown", "setgid", "setuid"]);
  for (const s of ["setuid", "setgid", "setgroups", "chown"]) expect(p.syscalls.some((x) => x === s || x === "@setuid" || x === "@chown")).toBe(true);
  const e = jailx(["run", ...enforce(out), "--", PY, "-c", script]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("33\n");
  // Control: the same profile without setuid fails at setuid().
  const less = out.replace(/\.toml$/, "-less.toml");
  writeFileSync(less, readFileSync(out, "utf8").replace('capabilities = ["chown", "setgid", "setuid"]', 'capabilities = ["chown", "setgid"]'));
  const c = jailx(["run", ...enforce(less), "--", PY, "-c", script]);
  expect(c.code).toBe(1);
  expect(c.stderr).toContain("PermissionError");
});

test("root working on another user's private file: dac_override and fowner", () => {
  const script = "import os; f = '/tmp/p'; open(f, 'w').write('x'); os.chown(f, 33, 33); os.chmod(f, 0o600); print(open(f).read())";
  const { p, out } = learn([], [PY, "-c", script]);
  expect(p.capabilities).toEqual(["chown", "dac_override", "fowner"]);
  const e = jailx(["run", ...enforce(out), "--", PY, "-c", script]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("x\n");
  // Control: without dac_override the read is refused.
  const less = out.replace(/\.toml$/, "-less.toml");
  writeFileSync(less, readFileSync(out, "utf8").replace('"dac_override", ', ""));
  const c = jailx(["run", ...enforce(less), "--", PY, "-c", script]);
  expect(c.code).toBe(1);
  expect(c.stderr).toContain("PermissionError");
});

test("a port below 1024 in a private network: net_bind_service, a loopback network, endpoints listed", () => {
  const script = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 80)); s.listen(); c = socket.create_connection(('127.0.0.1', 80)); print('ok')";
  const { p, out } = learn(["--net", "none"], [PY, "-c", script]);
  expect(p.capabilities).toEqual(["net_bind_service"]);
  expect(p.network).toBe("loopback");
  expect(p.listen).toEqual(["tcp:127.0.0.1:80"]);
  expect(p.connect).toEqual(["tcp:127.0.0.1:80"]);
  const e = jailx(["run", ...enforce(out), "--", PY, "-c", script]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("ok\n");
});

test("learned as another user: the profile runs the program as that user", () => {
  const { p, out } = learn(["--user", "65534"], ["/bin/sh", "-c", "id -u; cat /etc/hostname >/dev/null"]);
  expect((p as unknown as { user: string }).user).toBe("65534");
  expect(p.capabilities).toEqual([]);
  const e = jailx(["run", ...enforce(out), "--", "/bin/sh", "-c", "id -u; cat /etc/hostname >/dev/null"]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("65534\n");
});

test("no inet socket: network none; --as-pid-1 learns the same way", () => {
  const { p } = learn(["--as-pid-1"], ["/bin/sh", "-c", "cat /etc/hostname"]);
  expect(p.network).toBe("none");
  expect(p.read).toContain("/etc/hostname");
  expect(p.exec).toContain("/usr/bin/cat");
});

// The i386 entry point (int 0x80) from a 64-bit program: a path only it names, with the ABI
// opened for the learning run (the default jail refuses it). Needs gcc and i386 emulation.
const I386_SRC = `#include <stdio.h>
static const char path[] = "/etc/hostname"; /* non-PIE: a 32-bit address */
int main(void) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(33 /* i386 access */), "b"(path), "c"(4 /* R_OK */) : "memory");
  printf("%ld\\n", r);
  return 0;
}
`;

// Probed when the file loads (skipIf needs the answer then): its own scratch directory.
const i386Scratch = mkdtempSync("/tmp/jx-learn-i386-");
afterAll(() => rmSync(i386Scratch, { recursive: true, force: true }));

function i386Probe(): string | null {
  const d = i386Scratch;
  chmodSync(d, 0o755);
  writeFileSync(`${d}/p.c`, I386_SRC);
  const cc = Bun.spawnSync(["gcc", "-O1", "-no-pie", "-o", `${d}/p`, `${d}/p.c`], { stdout: "ignore", stderr: "pipe" });
  if (cc.exitCode !== 0) return null;
  const run = Bun.spawnSync([`${d}/p`], { stdout: "pipe", stderr: "ignore" });
  return run.exitCode === 0 && run.stdout.toString() === "0\n" ? d : null;
}

const i386Dir = Bun.which("gcc") ? i386Probe() : null;
if (!i386Dir) console.warn("SKIP i386 learning test: no gcc, or no i386 emulation (int 0x80) on this kernel");

test.skipIf(!i386Dir)("the i386 ABI: its calls and paths are recorded per ABI, and the profile opens it", () => {
  const { p, out } = learn(["--seccomp-allow", "@abi-i386", "--ro-bind", `${i386Dir}:/t`], ["/t/p"]);
  expect(p.syscalls).toContain("@abi-i386");
  expect(p.read).toContain("/etc/hostname"); // named only through int 0x80
  const rec = jailx(["learn", "-o", `${out}.2`, "--recording", `${out}.json`, "--seccomp-allow", "@abi-i386", "--ro-bind", `${i386Dir}:/t`, "--", "/t/p"]);
  expect(rec.code).toBe(0);
  expect(JSON.parse(readFileSync(`${out}.json`, "utf8")).syscalls.i386).toEqual(["access"]);
  const e = jailx(["run", ...enforce(out), "--", "/t/p"]);
  expect(e.stderr).toBe("");
  expect(e.stdout).toBe("0\n");
  // Control: without the ABI in the profile, int 0x80 gets the default jail's answer (ENOSYS).
  const closed = out.replace(/\.toml$/, "-no-i386.toml");
  writeFileSync(closed, readFileSync(out, "utf8").replace('"@abi-i386", ', ""));
  expect(jailx(["run", "--profile", closed, "--", "/t/p"]).stdout).not.toBe("0\n");
});
