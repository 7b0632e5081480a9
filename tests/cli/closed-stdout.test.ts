// A closed stdout ends a command quietly, as SIGPIPE ends a Unix tool: no message, no stack
// trace, exit status 0 (everything was written before the reader left) or 141 (128 + SIGPIPE:
// a write found the reader gone). Two ways to close it: a pipe whose read end is closed before
// jailx starts (every write fails: deterministic), and a real `| head -1` (the race).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { JAILX } from "../helpers/jail.ts";

const state = mkdtempSync("/tmp/jx-closed-");
afterAll(() => rmSync(state, { recursive: true, force: true }));

const COMMANDS: string[][] = [
  ["--help"],
  ["seccomp", "groups"],
  ["seccomp", "show"],
  ["run", "--help"],
  ["run", "--dry-run", "--", "/bin/true"],
  ["inspect", "--all"],
  ["inspect", "self", "--json"],
  ["ps", "--help"],
  ["ps"],
  ["exec", "--help"],
  ["unit", "--help"],
  ["unit", "web", "--", "/bin/true"],
];

// Python gives us a pipe with no reader before the child starts.
const CLOSED_READER = `
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE, cwd="/")
sys.stdout.write(str(p.returncode) + "\\n" + p.stderr.decode())
`;

describe("stdout whose reader is already gone", () => {
  for (const args of COMMANDS)
    test(`jailx ${args.join(" ")}: exit 141, nothing on stderr`, () => {
      // `jailx ps` reads a scratch state directory (an empty one: it prints its header), not /run/jailx
      const r = Bun.spawnSync(["python3", "-c", CLOSED_READER, JAILX, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, JAILX_STATE_DIR: state } });
      const [code, ...err] = r.stdout.toString().split("\n");
      expect(err.join("\n")).toBe("");
      expect(code).toBe("141");
    });
});

describe("| head -1, repeated to hit the race", () => {
  for (const args of [["--help"], ["seccomp", "groups"], ["seccomp", "show"]])
    test(`jailx ${args.join(" ")} | head -1`, () => {
      const quoted = args.map((a) => `'${a}'`).join(" ");
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        // pipefail: the status is jailx's unless it is 0 (head's is 0); jailx's stderr is kept.
        const script = `set -o pipefail; e=$(mktemp); '${JAILX}' ${quoted} 2>"$e" | head -1 >/dev/null; s=$?; cat "$e"; rm -f "$e"; echo "status=$s"`;
        const r = Bun.spawnSync(["bash", "-c", script], { stdout: "pipe", stderr: "pipe", cwd: "/" });
        const out = r.stdout.toString();
        const m = /status=(\d+)\n$/.exec(out);
        expect(out.replace(/status=\d+\n$/, "")).toBe("");
        statuses.push(Number(m?.[1]));
      }
      for (const s of statuses) expect([0, 141]).toContain(s);
    });
});
