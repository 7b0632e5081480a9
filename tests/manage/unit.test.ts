// `jailx unit`: the printed service passes systemd's own parser (systemd-analyze verify; systemd
// is not PID 1 on this machine, so the unit is not started by systemd here), and its ExecStart
// line, split the way systemd splits it, runs the named jail in the foreground: SIGHUP (what
// ExecReload sends) reaches the program, SIGTERM (what 'systemctl stop' sends with KillMode=mixed)
// ends the jail and removes its entry.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { jailx, lines, marker, processesWith, waitUntil } from "../helpers/jail.ts";
import { program, testIf } from "../helpers/kernel.ts";

const root = mkdtempSync("/tmp/jx-unit-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** ExecStart= words as systemd reads them: quotes, backslash escapes, $$ → $, %% → %. */
function splitExec(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const w = m[1] !== undefined ? m[1].replace(/\\(.)/g, (_, c: string) => ({ n: "\n", t: "\t" })[c] ?? c) : m[2]!;
    words.push(w.replace(/\$\$/g, "$").replace(/%%/g, "%"));
  }
  return words;
}

describe("jailx unit", () => {
  testIf(program("systemd-analyze"))("the unit passes 'systemd-analyze verify' (control: a broken copy does not)", () => {
    const r = jailx(["unit", "web", "--memory", "64m", "--", "/bin/sh", "-c", "echo $HOME 100% \"q\""]);
    expect(r.code).toBe(0);
    const dir = `${root}/units`;
    mkdirSync(dir);
    writeFileSync(`${dir}/jailx-web.service`, r.stdout);
    const ok = Bun.spawnSync(["systemd-analyze", "verify", "--man=no", `${dir}/jailx-web.service`], { stdout: "pipe", stderr: "pipe" });
    expect(ok.stderr.toString()).toBe("");
    expect(ok.exitCode).toBe(0);
    writeFileSync(`${dir}/jailx-bad.service`, r.stdout.replace(/^ExecStart=\S+/m, "ExecStart=no/such/relative"));
    const bad = Bun.spawnSync(["systemd-analyze", "verify", "--man=no", `${dir}/jailx-bad.service`], { stdout: "pipe", stderr: "pipe" });
    expect(bad.exitCode).not.toBe(0);
  });

  test("ExecStart runs the jail by name; HUP is passed on; TERM stops it and removes the entry", async () => {
    const dir = `${root}/state`;
    mkdirSync(dir, { mode: 0o700 });
    const m = marker();
    const r = jailx(["unit", "svc", "--", "/bin/sh", "-c", `trap 'echo reload-${m}' HUP; trap 'echo stop; exit 0' TERM; echo ready; while :; do sleep 0.1; done`]);
    expect(r.code).toBe(0);
    const exec = splitExec(/^ExecStart=(.*)$/m.exec(r.stdout)![1]!);
    expect(exec.slice(1, 4)).toEqual(["run", "--name", "svc"]);
    const p = Bun.spawn(exec, { env: { ...process.env, JAILX_STATE_DIR: dir }, stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: "/" });
    try {
      await waitUntil(() => readdirSync(dir).includes("svc.json") && JSON.parse(readFileSync(`${dir}/svc.json`, "utf8")).recordFd !== null, 20_000, "svc registered");
      // The entry appears once the program has been executed; its traps are set once it says so.
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      let out = "";
      while (!out.includes("ready\n")) {
        const c = await reader.read();
        if (c.done) break;
        out += new TextDecoder().decode(c.value);
      }
      process.kill(p.pid, "SIGHUP");
      for (;;) {
        if (out.includes(`reload-${m}\n`)) break;
        const c = await reader.read();
        if (c.done) break;
        out += new TextDecoder().decode(c.value);
      }
      p.kill("SIGTERM");
      for (;;) {
        const c = await reader.read();
        if (c.done) break;
        out += new TextDecoder().decode(c.value);
      }
      expect(await p.exited).toBe(0);
      expect(lines(out)).toEqual(["ready", `reload-${m}`, "stop"]);
      expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toEqual([]);
      expect(processesWith(m)).toEqual([]);
    } finally {
      p.kill("SIGKILL");
    }
  }, 60_000);

  test("bad input: one line, 125", () => {
    for (const args of [["unit", "a/b", "--", "true"], ["unit", "web", "--bogus", "--", "true"], ["unit", "web", "-d", "--", "true"], ["unit", "web"]]) {
      const r = jailx(args);
      expect(r.code).toBe(125);
      expect(lines(r.stderr)).toHaveLength(1);
    }
  });
});
