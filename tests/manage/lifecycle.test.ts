// Named and detached jails: the state directory, run -d, ps, stop, kill, logs (real kernel, root).
// Each test file uses its own scratch state directory (JAILX_STATE_DIR), except the test of the
// default location.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cmdline, descendants, JAILX, jailx, jailxCgroups, lines, marker, processesWith, waitUntil } from "../helpers/jail.ts";

const root = mkdtempSync("/tmp/jx-manage-");
let n = 0;
/** A fresh state directory (0700, ours). */
function stateDir(): string {
  const d = `${root}/s${n++}`;
  mkdirSync(d, { mode: 0o700 });
  return d;
}
const inDir = (dir: string) => ({ env: { JAILX_STATE_DIR: dir } });
const jx = (dir: string, args: string[]) => jailx(args, inDir(dir));
const WAIT = "echo ready; while :; do sleep 1; done";
const ps = (dir: string, all = false) => JSON.parse(jx(dir, ["ps", "--json", ...(all ? ["-a"] : [])]).stdout) as Array<Record<string, any>>;
const entries = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith(".exited.json"));

afterAll(() => {
  // stop whatever a failed test left running, then remove the scratch
  for (const d of readdirSync(root)) {
    const r = jx(`${root}/${d}`, ["ps", "--json"]);
    if (r.code === 0) for (const j of JSON.parse(r.stdout)) jx(`${root}/${d}`, ["stop", j.name, "--time", "0"]);
  }
  rmSync(root, { recursive: true, force: true });
});

describe("run -d and the state entry", () => {
  test("run -d returns once the program runs, prints the name; the entry is written atomically and holds the supervisor", () => {
    const dir = stateDir();
    const m = marker();
    const r = jx(dir, ["run", "-d", "--name", "web", "--", "/bin/sh", "-c", `echo ${m}; ${WAIT}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("web\n");
    expect(entries(dir)).toEqual(["web.json"]);
    expect(statSync(`${dir}/web.json`).mode & 0o777).toBe(0o600);
    const e = JSON.parse(readFileSync(`${dir}/web.json`, "utf8"));
    // the supervisor: once the program runs, the embedded helper waiting in its place
    expect(cmdline(e.supervisor.pid)?.slice(0, 2)).toEqual(["jailx-wait", "wait"]);
    expect(e.recordFd).toBeGreaterThanOrEqual(0);
    const rows = ps(dir);
    expect(rows.map((x) => [x.name, x.state])).toEqual([["web", "running"]]);
    expect(cmdline(rows[0]!.pid)).toEqual(["/bin/sh", "-c", `echo ${m}; ${WAIT}`]);
    expect(typeof rows[0]!.exposure).toBe("number");
    expect(jx(dir, ["stop", "web", "--time", "0"]).code).toBe(0);
    expect(processesWith(m)).toEqual([]);
    expect(entries(dir)).toEqual([]);
  });

  test("run -d after a note on stderr (profile, cwd): no process of the jail keeps the caller's stdout or stderr", () => {
    const dir = stateDir();
    const out = `${root}/caller-out-${n}`, err = `${root}/caller-err-${n}`;
    const [o, e] = [openSync(out, "w"), openSync(err, "w")];
    // from a directory the jail lacks: the cwd warning comes just before the fork
    const r = Bun.spawnSync([JAILX, "run", "-d", "--name", "noted", "--", "/bin/sh", "-c", WAIT], {
      cwd: root, env: { ...process.env, JAILX_STATE_DIR: dir }, stdin: "ignore", stdout: o, stderr: e,
    });
    closeSync(o);
    closeSync(e);
    try {
      expect(r.exitCode).toBe(0);
      expect(readFileSync(out, "utf8")).toBe("noted\n");
      expect(readFileSync(err, "utf8")).toContain("is not in the jail");
      const sup = JSON.parse(readFileSync(`${dir}/noted.json`, "utf8")).supervisor.pid as number;
      const procs = [sup, ...descendants(sup)];
      expect(procs.length).toBeGreaterThan(2); // supervisor, its helpers, the jail
      const fdsOf = (p: number) => {
        try {
          return readdirSync(`/proc/${p}/fd`);
        } catch {
          return []; // gone meanwhile (a run's short-lived helper)
        }
      };
      const holding = procs.flatMap((p) => fdsOf(p).map((fd) => {
        try {
          return readlinkSync(`/proc/${p}/fd/${fd}`);
        } catch {
          return "";
        }
      })).filter((l) => l === out || l === err);
      expect(holding).toEqual([]);
    } finally {
      expect(jx(dir, ["stop", "noted", "--time", "0"]).code).toBe(0);
    }
  });

  test("without --name a detached jail gets a generated name; a live name cannot be reused (125)", () => {
    const dir = stateDir();
    const r = jx(dir, ["run", "-d", "--", "/bin/sh", "-c", WAIT]);
    expect(r.code).toBe(0);
    const name = r.stdout.trim();
    expect(name).toMatch(/^jx-[a-z0-9]{6}$/);
    const again = jx(dir, ["run", "-d", "--name", name, "--", "/bin/true"]);
    expect(again.code).toBe(125);
    expect(lines(again.stderr)).toEqual([`jailx: jail name "${name}" is in use (supervisor pid ${ps(dir)[0]!.supervisorPid}); choose another --name or run 'jailx stop ${name}'`]);
    const fg = jx(dir, ["run", "--name", name, "--", "/bin/true"]);
    expect(fg.code).toBe(125);
    expect(jx(dir, ["stop", name, "--time", "0"]).code).toBe(0);
    // control: once stopped, the name is free again
    expect(jx(dir, ["run", "--name", name, "--", "/bin/true"]).code).toBe(0);
  });

  test("a detached start that fails gives the foreground's one line and exit code", () => {
    const dir = stateDir();
    const fg = jailx(["run", "--", "/no/such/prog"]);
    const bg = jx(dir, ["run", "-d", "--name", "x", "--", "/no/such/prog"]);
    expect(fg.code).toBe(127);
    expect(bg.code).toBe(127);
    expect(bg.stderr).toBe(fg.stderr);
    expect(bg.stdout).toBe("");
    expect(entries(dir)).toEqual([]);
  });

  test("a foreground --name run is listed while it runs and removes its entry when it ends", async () => {
    const dir = stateDir();
    const m = marker();
    const p = Bun.spawn([JAILX, "run", "--name", "fg", "--", "/bin/sh", "-c", `echo ${m}; ${WAIT}`], {
      env: { ...process.env, JAILX_STATE_DIR: dir }, stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: "/",
    });
    try {
      await waitUntil(() => ps(dir).some((r) => r.name === "fg" && r.state === "running"), 20_000, "fg listed");
      expect(ps(dir)[0]!.detached).toBe(false);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(143);
      expect(entries(dir)).toEqual([]);
    } finally {
      p.kill("SIGKILL");
    }
  });

  test("names: '/', control characters and over-long names are refused with one line (125)", () => {
    const dir = stateDir();
    for (const bad of ["a/b", "../x", "a\x1b[31mb", "x".repeat(64), "-x", ""]) {
      const r = jx(dir, ["run", "--name", bad, "--", "/bin/true"]);
      expect(r.code).toBe(125);
      expect(lines(r.stderr).length).toBe(1);
      expect(r.stderr).not.toContain("\x1b");
    }
    expect(jx(dir, ["run", "--name", "ok.name_1-x", "--", "/bin/true"]).code).toBe(0);
  });

  test("the default state directory for root is /run/jailx", () => {
    const name = `t-${process.pid}`;
    const existed = existsSync("/run/jailx");
    const r = jailx(["run", "-d", "--name", name, "--", "/bin/sh", "-c", WAIT], { env: { JAILX_STATE_DIR: undefined } });
    try {
      expect(r.code).toBe(0);
      expect(existsSync(`/run/jailx/${name}.json`)).toBe(true);
      expect(statSync("/run/jailx").mode & 0o077).toBe(0);
    } finally {
      expect(jailx(["stop", name, "--time", "0"], { env: { JAILX_STATE_DIR: undefined } }).code).toBe(0);
      rmSync(`/run/jailx/${name}.exited.json`, { force: true });
      rmSync(`/run/jailx/${name}.log`, { force: true });
    }
    expect(existsSync(`/run/jailx/${name}.json`)).toBe(false);
    // leave the host as it was: the directory goes if this test created it and nothing else uses it
    if (!existed && readdirSync("/run/jailx").length === 0) rmSync("/run/jailx", { recursive: true });
  });
});

describe("state directory checks", () => {
  test("a directory another user owns, or group/world-writable, is refused with one line (125); nothing runs", () => {
    const other = stateDir();
    chownSync(other, 65534, 65534);
    const open = stateDir();
    chmodSync(open, 0o777);
    const m = marker();
    for (const [dir, want] of [[other, "belongs to uid 65534"], [open, "is writable by group or others"]] as const) {
      for (const args of [["run", "-d", "--name", "a", "--", "/bin/sh", "-c", `echo ${m}`], ["ps"], ["stop", "a"], ["exec", "a", "--", "/bin/true"]]) {
        const r = jx(dir, args);
        expect(r.code).toBe(125);
        expect(lines(r.stderr)).toHaveLength(1);
        expect(r.stderr).toContain(want);
      }
    }
    expect(processesWith(m)).toEqual([]);
  });

  test("a symlink instead of the directory is refused", () => {
    const dir = `${root}/link${n++}`;
    Bun.spawnSync(["ln", "-s", "/tmp", dir]);
    const r = jx(dir, ["ps"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("is not a directory");
  });
});

describe("stale entries are never trusted", () => {
  test("an entry whose supervisor is gone is removed by the next command, and stop says so (125)", () => {
    const dir = stateDir();
    const dead = Bun.spawnSync(["sh", "-c", "echo $$"]).stdout.toString().trim();
    writeFileSync(`${dir}/old.json`, JSON.stringify({ v: 1, name: "old", supervisor: { pid: Number(dead), start: "1" }, recordFd: 3, startedAt: 0, detached: true, log: null, command: ["x"] }));
    const r = jx(dir, ["stop", "old"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("is not running");
    expect(entries(dir)).toEqual([]);
  });

  test("a reused pid (a live host process, wrong start time or no sealed record) is not signalled", async () => {
    const dir = stateDir();
    const victim = Bun.spawn(["sleep", "1000"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      const stat = readFileSync(`/proc/${victim.pid}/stat`, "utf8");
      const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
      // the right start time too: only the sealed record can make it a jail
      for (const [name, s] of [["a", "1"], ["b", start]] as const) {
        writeFileSync(`${dir}/${name}.json`, JSON.stringify({ v: 1, name, supervisor: { pid: victim.pid, start: s }, recordFd: 0, startedAt: 0, detached: true, log: null, command: ["x"] }));
        for (const args of [["stop", name, "--time", "0"], ["kill", name, "KILL"], ["exec", name, "--", "/bin/true"]]) {
          const r = jx(dir, args);
          expect(r.code).toBe(125);
          expect(lines(r.stderr)).toHaveLength(1);
        }
      }
      expect(victim.exitCode).toBeNull();
      expect(victim.signalCode).toBeNull();
      expect(entries(dir)).toEqual([]);
    } finally {
      victim.kill("SIGKILL");
    }
  });
});

describe("stop, kill, logs", () => {
  test("stop: TERM first (the program's handler runs, its exit code recorded), then everything is gone", () => {
    const dir = stateDir();
    const m = marker();
    expect(jx(dir, ["run", "-d", "--name", "t", "--memory", "64m", "--", "/bin/sh", "-c", `trap 'echo bye-${m}; exit 7' TERM; echo ready; while :; do sleep 0.1; done`]).code).toBe(0);
    const cgroupsBefore: string[] = ps(dir)[0]!.cgroups;
    expect(cgroupsBefore.length).toBeGreaterThan(0);
    expect(jailxCgroups().filter((c) => cgroupsBefore.includes(c)).length).toBe(cgroupsBefore.length);
    const r = jx(dir, ["stop", "t"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(processesWith(m)).toEqual([]);
    expect(jailxCgroups().filter((c) => cgroupsBefore.includes(c))).toEqual([]);
    expect(entries(dir)).toEqual([]);
    expect(jx(dir, ["logs", "t"]).stdout).toBe(`ready\nbye-${m}\n`);
    const exited = ps(dir, true).find((x) => x.name === "t")!;
    expect([exited.state, exited.status]).toEqual(["exited", 7]);
  });

  test("run -d --forking: the daemon keeps the detached jail; kill HUP reaches it; stop TERMs it; nothing left", async () => {
    const dir = stateDir();
    const m = marker("dfork");
    const daemon = `trap 'echo hup-${m}' HUP; trap 'echo term-${m}; exit 0' TERM; echo ready-${m}; while :; do sleep 1 & wait \\$!; done`;
    const r = jx(dir, ["run", "-d", "--name", "dmn", "--forking", "--", "/bin/sh", "-c", `setsid /bin/sh -c "${daemon}" & exit 0`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const log = () => jx(dir, ["logs", "dmn"]).stdout;
    await waitUntil(() => log().includes(`ready-${m}`), 20_000, "the daemon ready");
    // the start process has exited 0; the daemon (its own session) keeps the jail (jailx's own
    // processes carry the script in their argv too: only /bin/sh processes count)
    const shells = () => processesWith(m).map((p) => cmdline(p) ?? []).filter((a) => a[0] === "/bin/sh");
    await waitUntil(() => !shells().some((a) => a.at(-1)!.endsWith("& exit 0")), 20_000, "the start process to exit");
    expect(shells().length).toBe(1);
    expect(ps(dir).map((x) => [x.name, x.state])).toEqual([["dmn", "running"]]);
    expect(jx(dir, ["kill", "dmn", "HUP"]).code).toBe(0);
    await waitUntil(() => log().includes(`hup-${m}`), 20_000, "HUP in the daemon");
    const stop = jx(dir, ["stop", "dmn"]);
    expect(stop.stderr).toBe("");
    expect(stop.code).toBe(0);
    expect(processesWith(m)).toEqual([]);
    expect(entries(dir)).toEqual([]);
    expect(ps(dir, true).map((x) => [x.name, x.state, x.status])).toEqual([["dmn", "exited", 0]]); // the daemon's status, as jailx's
  }, 60_000);

  test("stop --time: a program that ignores TERM is killed after the grace time", () => {
    const dir = stateDir();
    const m = marker();
    expect(jx(dir, ["run", "-d", "--name", "t", "--", "/bin/sh", "-c", `trap '' TERM; echo ${m}; while :; do sleep 0.1; done`]).code).toBe(0);
    expect(jx(dir, ["stop", "t", "--time", "0.5"]).code).toBe(0);
    expect(processesWith(m)).toEqual([]);
    expect(ps(dir, true)[0]!.status).toBe(137);
  });

  test("kill NAME HUP reaches the program; kill NAME (KILL) ends the jail", () => {
    const dir = stateDir();
    const m = marker();
    expect(jx(dir, ["run", "-d", "--name", "k", "--", "/bin/sh", "-c", `trap 'echo hup-${m}' HUP; echo ready; while :; do sleep 0.1; done`]).code).toBe(0);
    expect(jx(dir, ["kill", "k", "HUP"]).code).toBe(0);
    const logged = () => readFileSync(`${dir}/k.log`, "utf8").includes(`hup-${m}`);
    return waitUntil(logged, 20_000, "HUP logged").then(() => {
      expect(jx(dir, ["kill", "k"]).code).toBe(0);
      return waitUntil(() => entries(dir).length === 0 && processesWith(m).length === 0, 20_000, "jail gone");
    });
  });

  test("logs -f follows a running jail's output and returns when the jail ends", async () => {
    const dir = stateDir();
    const m = marker();
    expect(jx(dir, ["run", "-d", "--name", "f", "--", "/bin/sh", "-c", `trap 'echo two-${m}; exit 0' USR1; echo one-${m}; while :; do sleep 0.1; done`]).code).toBe(0);
    const p = Bun.spawn([JAILX, "logs", "-f", "f"], { env: { ...process.env, JAILX_STATE_DIR: dir }, stdout: "pipe", stderr: "pipe" });
    const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes(`one-${m}\n`)) {
      const c = await reader.read();
      if (c.done) break;
      text += new TextDecoder().decode(c.value);
    }
    expect(text).toBe(`one-${m}\n`);
    expect(jx(dir, ["kill", "f", "USR1"]).code).toBe(0);
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      text += new TextDecoder().decode(c.value);
    }
    expect(await p.exited).toBe(0);
    expect(text).toBe(`one-${m}\ntwo-${m}\n`);
  }, 60_000);

  test("the log is bounded: 1 MiB per file, one rotated file", () => {
    const dir = stateDir();
    const r = jx(dir, ["run", "-d", "--name", "big", "--", "/bin/sh", "-c", "head -c 3500000 /dev/zero | tr '\\0' x; echo; echo end"]);
    expect(r.code).toBe(0);
    return waitUntil(() => ps(dir).length === 0 && ps(dir, true).length === 1, 20_000, "big ended").then(() => {
      // -f returns at once for an ended jail, after printing what is left
      const f = jx(dir, ["logs", "big", "-f"]);
      expect(f.stdout.endsWith("end\n")).toBe(true);
      expect(statSync(`${dir}/big.log`).size).toBeLessThanOrEqual(1 << 20);
      expect(statSync(`${dir}/big.log.1`).size).toBe(1 << 20);
    });
  });

  test("supervisor SIGKILLed: the jail dies, its cgroup and entry are removed", async () => {
    const dir = stateDir();
    const m = marker();
    expect(jx(dir, ["run", "-d", "--name", "s", "--memory", "64m", "--", "/bin/sh", "-c", `echo ${m}; ${WAIT}`]).code).toBe(0);
    const row = ps(dir)[0]!;
    const before: string[] = row.cgroups;
    expect(before.length).toBeGreaterThan(0);
    process.kill(row.supervisorPid, "SIGKILL");
    await waitUntil(() => processesWith(m).length === 0, 20_000, "jail gone");
    await waitUntil(() => entries(dir).length === 0, 20_000, "entry removed");
    await waitUntil(() => jailxCgroups().filter((c) => before.includes(c)).length === 0, 20_000, "cgroup removed");
    expect(ps(dir, true)[0]!.status).toBe(137);
  }, 60_000);

  test("unknown names: one line, 125", () => {
    const dir = stateDir();
    for (const args of [["stop", "nope"], ["kill", "nope"], ["logs", "nope"], ["exec", "nope", "--", "/bin/true"]]) {
      const r = jx(dir, args);
      expect(r.code).toBe(125);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain('"nope"');
    }
  });
});
