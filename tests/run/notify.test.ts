// systemd's readiness protocol through the jail: with NOTIFY_SOCKET naming the manager's
// datagram socket (a path), jailx binds it into the jail at its own path, so a Type=notify
// program's READY=1 reaches the manager — with the host network and with --net none. A
// host-side socket in a scratch directory stands in for systemd's /run/systemd/notify.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { jailx } from "../helpers/jail.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/jx-notify-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SEND = 'import os,socket\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.connect(os.environ["NOTIFY_SOCKET"])\ns.send(b"READY=1\\nSTATUS=up")\nprint("sent")';

/** A listener on `path` that prints what the first datagram said (or "timeout"). */
async function listener(path: string) {
  const p = Bun.spawn(["python3", "-c", `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\ns.settimeout(30)\ntry: print(s.recv(200).decode(),end="")\nexcept socket.timeout: print("timeout")`, path], { stdout: "pipe" });
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  // Until the listener says it is bound (its output may come in pieces).
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  expect(text.slice(0, text.indexOf("\n") + 1)).toBe("bound\n");
  text = text.slice(text.indexOf("\n") + 1);
  return {
    async received(): Promise<string> {
      for (;;) {
        const r = await reader.read();
        if (r.done) return text;
        text += new TextDecoder().decode(r.value);
      }
    },
    kill: () => p.kill(9),
  };
}

for (const net of [[], ["--net", "none"]]) {
  test(`READY=1 from the jailed program reaches the manager's socket (${net.length ? "--net none" : "host network"})`, async () => {
    const path = `${dir}/notify-${net.length}`;
    const l = await listener(path);
    try {
      const r = jailx(["run", ...net, "--", "python3", "-c", SEND], { cwd: "/", env: { NOTIFY_SOCKET: path } });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("sent\n");
      expect(await l.received()).toBe("READY=1\nSTATUS=up");
    } finally {
      l.kill();
    }
  });
}

test("control: without NOTIFY_SOCKET nothing is bound (the path does not exist in the jail)", () => {
  const r = jailx(["run", "--", "sh", "-c", `ls ${dir} 2>&1 | head -1; echo "n=\${NOTIFY_SOCKET:-none}"`], { cwd: "/", env: { NOTIFY_SOCKET: undefined } });
  expect(r.stdout).toMatch(/No such file/);
  expect(r.stdout).toContain("n=none");
});

test("jailx unit --notify writes Type=notify with NotifyAccess=all (the program, not jailx, sends READY=1)", () => {
  const r = jailx(["unit", "web", "--notify", "--net", "none", "--", "/usr/bin/true"], { cwd: "/" });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("\nType=notify\nNotifyAccess=all\n");
  expect(r.stdout).not.toContain("--notify");
  const plain = jailx(["unit", "web", "--", "/usr/bin/true"], { cwd: "/" });
  expect(plain.stdout).toContain("\nType=exec\n");
});
