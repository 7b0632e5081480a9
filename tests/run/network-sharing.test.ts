// With the host's network namespace shared (the default), a jail lives among the host's ports
// and abstract unix socket names. SO_REUSEPORT would let it join a host service's listening
// port (the kernel only asks for the same uid, and a root jail is the host's root): the default
// seccomp policy refuses it. Abstract names: Landlock stops a jail from connecting out, not from
// binding a free name first — only --net none separates the names (shown here as it is).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { LiveJail, baseEnv, type RunOpts } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";

const live: LiveJail[] = [];
const hosts: ReturnType<typeof Bun.spawn>[] = [];
afterEach(async () => {
  for (const j of live.splice(0)) await j.dispose();
  for (const h of hosts.splice(0)) {
    h.kill("SIGKILL");
    await h.exited;
  }
});

/** Listening TCP sockets on 127.0.0.1:port in the host's network namespace (/proc/net/tcp). */
function listeners(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8").split("\n").filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === `0100007F:${hex}` && f[3] === "0A";
  }).length;
}

/** A host process running python3 `code`; resolves with its first output line. */
async function hostPython(code: string, o: RunOpts = {}): Promise<string> {
  const p = Bun.spawn([...(o.wrap ?? []), "python3", "-c", code], { stdout: "pipe", stderr: "inherit", env: baseEnv(o.env, o.inheritEnv ?? true), cwd: "/tmp" });
  hosts.push(p);
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const c = await reader.read();
    if (c.done) throw new Error(`host python exited before printing: ${text}`);
    text += new TextDecoder().decode(c.value);
  }
  return text.split("\n")[0]!;
}

const HOST_LISTENER = [
  "import socket",
  "s = socket.socket()",
  "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)",
  "s.bind(('127.0.0.1', 0)); s.listen(8)",
  "print(s.getsockname()[1], flush=True)",
  "while True: s.accept()[0].close()",
].join("\n");

/** In the jail: try to join `port` with SO_REUSEPORT, say what happened, then stay. */
const joinScript = (port: number) => [
  "import socket, signal",
  "s = socket.socket()",
  "try:",
  "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); print('setsockopt ok')",
  "except OSError as e: print('setsockopt errno', e.errno)",
  "try:",
  `    s.bind(('127.0.0.1', ${port})); s.listen(8); print('joined')`,
  "except OSError as e: print('bind errno', e.errno)",
  "print('done', flush=True)",
  "signal.pause()",
].join("\n");

async function tryJoin(port: number, flags: string[], o: RunOpts = {}): Promise<{ out: string; listeners: number }> {
  const j = new LiveJail(["run", ...flags, "--", "python3", "-c", joinScript(port)], o);
  live.push(j);
  await j.waitForLine(/^done$/);
  // The jail is still alive here: a joined socket would be listed next to the host's.
  return { out: j.output, listeners: listeners(port) };
}

describe("SO_REUSEPORT with the host network", () => {
  test("a root jail cannot join a host root listener's port (EPERM); --allow-reuseport can (control)", async () => {
    const port = Number(await hostPython(HOST_LISTENER));
    expect(listeners(port)).toBe(1);
    const refused = await tryJoin(port, []);
    expect(refused.out).toBe("setsockopt errno 1\nbind errno 98\ndone\n"); // EPERM, then EADDRINUSE
    expect(refused.listeners).toBe(1);
    const joined = await tryJoin(port, ["--allow-reuseport"]);
    expect(joined.out).toBe("setsockopt ok\njoined\ndone\n");
    expect(joined.listeners).toBe(2);
  });

  describe("rootless", () => {
    let rl: Rootless;
    beforeAll(() => (rl = installRootless()));
    afterAll(() => rl?.cleanup());

    test("a rootless jail cannot join its own user's service; --allow-reuseport can (control)", async () => {
      const as = asUser(rl);
      const port = Number(await hostPython(HOST_LISTENER, as));
      const refused = await tryJoin(port, [], as);
      expect(refused.out).toBe("setsockopt errno 1\nbind errno 98\ndone\n");
      expect(refused.listeners).toBe(1);
      const joined = await tryJoin(port, ["--allow-reuseport"], as);
      expect(joined.out).toBe("setsockopt ok\njoined\ndone\n");
      expect(joined.listeners).toBe(2);
    });
  });
});

describe("abstract unix socket names (known limit of Landlock scoping)", () => {
  const name = () => `jx-squat-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const squat = (n: string) => [
    "import socket, signal",
    "s = socket.socket(socket.AF_UNIX)",
    `s.bind('\\0${n}'); s.listen(8); print('bound', flush=True)`,
    "c = s.accept()[0]; print('got', c.recv(64).decode(), flush=True)",
    "signal.pause()",
  ].join("\n");
  const hostClient = (n: string) => [
    "import socket",
    "c = socket.socket(socket.AF_UNIX)",
    "try:",
    `    c.connect('\\0${n}'); c.send(b'secret'); print('sent')`,
    "except OSError as e: print('connect errno', e.errno)",
    "b = socket.socket(socket.AF_UNIX)",
    "try:",
    `    b.bind('\\0${n}'); print('host bind ok')`,
    "except OSError as e: print('host bind errno', e.errno)",
  ].join("\n");
  const runHost = (code: string) => Bun.spawnSync(["python3", "-c", code], { stdout: "pipe", stderr: "pipe" }).stdout.toString();

  test("with the host network a jail can take a name first: the host's bind collides and its client talks to the jail", async () => {
    const n = name();
    const j = new LiveJail(["run", "--", "python3", "-c", squat(n)]);
    live.push(j);
    await j.waitForLine(/^bound$/);
    expect(runHost(hostClient(n))).toBe("sent\nhost bind errno 98\n"); // EADDRINUSE
    expect(await j.waitForLine(/^got /)).toBe("got secret");
  });

  test("with --net none the jail's name is its own: the host cannot reach it and can bind the same name", async () => {
    const n = name();
    const j = new LiveJail(["run", "--net", "none", "--", "python3", "-c", squat(n)]);
    live.push(j);
    await j.waitForLine(/^bound$/);
    expect(runHost(hostClient(n))).toBe("connect errno 111\nhost bind ok\n"); // ECONNREFUSED
    expect(j.output).toBe("bound\n");
  });
});
