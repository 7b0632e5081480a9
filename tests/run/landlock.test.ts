// Landlock scoping (Linux ≥ 6.12): with the host's network namespace shared (the default), the
// host's abstract unix sockets would be reachable from the jail (the containerd-shim class of
// escape); Landlock's scope refuses connecting to them, and signalling anything outside the jail.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jailx } from "../helpers/jail.ts";
import { landlockScope, testIf } from "../helpers/kernel.ts";

const NAME = `jx-abstract-${process.pid}`;
let server: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  // A host process listening on an abstract socket; it prints "listening" once bound.
  server = Bun.spawn(["python3", "-c", `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind("\\0${NAME}")\ns.listen(8)\nprint("listening", flush=True)\nwhile True:\n  c,_=s.accept(); c.close()`], { stdout: "pipe" });
  const reader = (server.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain("listening");
});
afterAll(async () => {
  server.kill("SIGKILL");
  await server.exited;
});

const connect = `import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect("\\0${NAME}"); print("connected")\nexcept OSError as e: print("refused", e.errno)`;

testIf(landlockScope())("the host's abstract unix sockets are out of reach by default, reachable with --no-landlock", () => {
  expect(jailx(["run", "--", "python3", "-c", connect]).stdout).toBe("refused 1\n");
  expect(jailx(["run", "--no-landlock", "--", "python3", "-c", connect]).stdout).toBe("connected\n");
});

test("abstract sockets inside the jail still work between its own processes", () => {
  const py = `import socket,os\nn="\\0jx-inner"\ns=socket.socket(socket.AF_UNIX); s.bind(n); s.listen(1)\nif os.fork()==0:\n  c=socket.socket(socket.AF_UNIX); c.connect(n); c.send(b"hi"); os._exit(0)\na,_=s.accept(); print(a.recv(2).decode()); os.wait()`;
  expect(jailx(["run", "--", "python3", "-c", py]).stdout).toBe("hi\n");
});
