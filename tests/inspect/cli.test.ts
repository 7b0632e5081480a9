// The command: bad input gives exit 125 and one clear line; --threshold and --expect give 1;
// --all lists real processes with the same judging.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ensureTestUser, inspect, removeTestUser, startTarget } from "./live.ts";

const tmp = mkdtempSync(`${tmpdir()}/jailx-inspect-cli-`);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function oneLine125(args: string[], contains: string) {
  const r = inspect(args);
  expect(r.code).toBe(125);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(contains);
}

describe("bad input → 125 with one line", () => {
  test("non-numeric pid", () => oneLine125(["12abc"], "'12abc' is not a process id"));
  test("negative / zero pid", () => oneLine125(["0"], "'0' is not a process id"));
  test("pid that does not exist", () => oneLine125(["4194303"], "no process with pid 4194303"));
  test("no pid at all", () => oneLine125([], "give a process id"));
  test("unknown flag", () => oneLine125(["self", "--jsn"], "unknown option '--jsn'"));
  test("threshold out of range", () => oneLine125(["self", "--threshold", "11"], "--threshold '11'"));
  test("filters without --all", () => oneLine125(["self", "--jailed"], "add --all"));
  test("missing --expect file", () => oneLine125(["self", "--expect", `${tmp}/nope.toml`], "cannot read it (ENOENT)"));
  test("invalid TOML", () => {
    writeFileSync(`${tmp}/bad.toml`, "seccomp = = true\n");
    oneLine125(["self", "--expect", `${tmp}/bad.toml`], "not valid TOML");
  });
  test("unknown key in --expect", () => {
    writeFileSync(`${tmp}/key.toml`, "seccom = true\n");
    oneLine125(["self", "--expect", `${tmp}/key.toml`], "unknown key 'seccom'");
  });
});

describe("verdicts", () => {
  test("--threshold: a host root process is above 5 → exit 1, report still printed", () => {
    const r = inspect(["self", "--threshold", "5"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Exposure");
    expect(r.stderr).toMatch(/exposure 10\.0 is above the threshold 5/);
    expect(inspect(["self", "--threshold", "10"]).code).toBe(0);
  });
  test("--expect lists each violation and exits 1; JSON carries them", () => {
    writeFileSync(`${tmp}/e.toml`, 'separate_namespaces = ["net"]\nforbid_caps = ["sys_admin"]\nseccomp = true\n');
    const r = inspect(["self", "--expect", `${tmp}/e.toml`, "--json"]);
    expect(r.code).toBe(1);
    const errs = r.stderr.trim().split("\n");
    expect(errs).toHaveLength(3);
    expect(errs[0]).toContain("expectation failed: net namespace: shared with the host");
    expect(JSON.parse(r.stdout).violations).toHaveLength(3);
  });
  test("text report is plain (no colour) when stdout is not a terminal", () => {
    const r = inspect(["self"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    for (const h of ["Namespaces", "Credentials", "Capabilities", "System calls", "Filesystem", "Resources", "LSM", "Runtime evidence", "Exposure"])
      expect(r.stdout).toContain(h);
  });
});

describe("--all", () => {
  test("as an unprivileged reader: root processes' namespaces are unknown unless a readable fact proves them", () => {
    const u = ensureTestUser();
    try {
      const r = inspect(["--all", "--json"], u);
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout).processes;
      const rootRows = rows.filter((p: any) => p.user === "root");
      expect(rootRows.length).toBeGreaterThan(0);
      for (const p of rootRows) {
        // nothing anyone can read tells uts, ipc or cgroup namespaces apart
        for (const t of ["uts", "ipc", "cgroup"]) expect(p.ns[t]).toBe("unknown");
        expect(p.ns.user).not.toBe("shared"); // an equal uid_map proves nothing
      }
      // host processes: NSpid (one level) proves the pid namespace shared
      expect(rootRows.filter((p: any) => p.ns.pid === "shared").length).toBeGreaterThan(0);
    } finally {
      if (u.created) removeTestUser();
    }
  });
  test("JSON lists a sandboxed process; --jailed and --min-score filter", async () => {
    const t = await startTarget(["unshare", "--net", "cat"]);
    try {
      const all = JSON.parse(inspect(["--all", "--json"]).stdout);
      expect(all.schema).toBe("jailx.inspect.list/2");
      const row = all.processes.find((p: any) => p.pid === t.pid);
      expect(row).toMatchObject({ comm: "cat", jailed: true, user: "root" });
      expect(row.ns.net).toBe("separate");
      expect(row.ns.pid).toBe("shared");
      const jailed = JSON.parse(inspect(["--all", "--json", "--jailed"]).stdout).processes;
      expect(jailed.some((p: any) => p.pid === t.pid)).toBe(true);
      expect(jailed.every((p: any) => p.jailed)).toBe(true);
      const high = JSON.parse(inspect(["--all", "--json", "--min-score", "9.9"]).stdout).processes;
      expect(high.every((p: any) => p.exposure >= 9.9)).toBe(true);
      expect(high.some((p: any) => p.pid === t.pid)).toBe(false);
      const text = inspect(["--all", "--sort", "score"]).stdout;
      expect(text.split("\n")[0]).toMatch(/^PID\s+USER\s+COMMAND\s+NS/);
      expect(text).toMatch(new RegExp(`^${t.pid}\\s+root\\s+cat\\s+---N----`, "m"));
    } finally {
      await t.stop();
    }
  });
});

describe("hostile process names", () => {
  test("escape sequences and newlines in a command line reach neither the report nor the --all list raw", async () => {
    // argv[0] with a clear-screen sequence and a newline that would forge a report line.
    const evil = "evil\x1b[2J\nBAD  forged line";
    // cat echoes a line we write once it runs: then its command line is the hostile one.
    const p = Bun.spawn(["python3", "-c", `import os; os.execv("/bin/cat", [${JSON.stringify(evil)}])`], { stdin: "pipe", stdout: "pipe" });
    try {
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      (p.stdin as import("bun").FileSink).write("ready\n");
      (p.stdin as import("bun").FileSink).flush();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain("ready");
      const one = inspect([String(p.pid)]);
      const all = inspect(["--all"]);
      for (const out of [one.stdout, all.stdout]) {
        expect(out).not.toContain("\x1b");
        expect(out.split("\n").some((l) => l.startsWith("BAD  forged"))).toBe(false);
      }
      expect(one.stdout).toContain("evil?[2J?BAD  forged line");
      // JSON keeps the real value, escaped by JSON itself
      expect(JSON.parse(inspect([String(p.pid), "--json"]).stdout).cmdline[0]).toBe(evil);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
  });
});
