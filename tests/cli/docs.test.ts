// Every example in README.md and docs/*.md runs as written, so the docs cannot rot.
//
// Code blocks are labelled: `sh` blocks are commands, each line run by bash with `jailx` on PATH
// (in a scratch directory holding what the examples name: job.py, data/worker); `toml` blocks
// are files, given to the command they document; the `ts` block describes JSON that is checked
// against the real output; `text` blocks (diagrams, synopses, sample output) are listed below
// with what they are. A new block or command that this file does not know is run as written
// (commands) or fails the test (other blocks): nothing is ignored silently.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { JAILX, LiveJail, ROOT, comm, descendants, jailx, lines, waitUntil } from "../helpers/jail.ts";

interface Block {
  doc: string;
  line: number;
  lang: string;
  text: string;
}

const DOCS = ["README.md", ...readdirSync(`${ROOT}/docs`).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];

function blocksOf(doc: string): Block[] {
  const out: Block[] = [];
  const src = readFileSync(`${ROOT}/${doc}`, "utf8").split("\n");
  for (let i = 0; i < src.length; i++) {
    const open = /^```(\S*)\s*$/.exec(src[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < src.length && src[i] !== "```"; i++) body.push(src[i]!);
    out.push({ doc, line: start + 1, lang: open[1]!, text: body.join("\n") });
  }
  return out;
}

const BLOCKS = DOCS.flatMap(blocksOf);
const where = (b: Block) => `${b.doc}:${b.line}`;

/** Commands of an sh block: one per line (a trailing backslash continues it), comments dropped. */
function commandsOf(b: Block): string[] {
  const cmds: string[] = [];
  let cur = "";
  for (const raw of b.text.split("\n")) {
    const l = raw.trim();
    if (!cur && (l === "" || l.startsWith("#"))) continue;
    if (l.endsWith("\\")) cur += l.slice(0, -1) + " ";
    else {
      cmds.push((cur + l).replace(/\s+#[^'"]*$/, "").trim());
      cur = "";
    }
  }
  return cmds;
}

// ---- text blocks: what each is (keyed by document and first line) ---------------------------
const TEXT_BLOCKS: Record<string, string> = {
  "docs/ARCHITECTURE.md: cmd/                 one file per command; the only place that prints": "a diagram of the source tree",
  "docs/ARCHITECTURE.md: jailx (the supervisor: Bun until the program is ready to start, then the helper in `wait` mode)": "a diagram of a run's processes",
  "docs/CGROUPS.md: jailx: --pids: the pids controller is not available on this system (mounted: …); enable it in the kernel or drop --pids": "sample output (a kernel without these controllers; the messages are tested in tests/cgroup)",
  "docs/CGROUPS.md: jailx: --memory: cannot enable the memory controller below cgroup /sys/fs/cgroup/user.slice/…/session-2.scope:": "sample output (pure cgroup v2 under systemd; tested in tests/cgroup/jail-fake.test.ts)",
  "docs/CGROUPS.md: jailx: --memory: cgroup /user.slice/… (v2) is not delegated to uid 1000 (not writable)": "sample output (rootless; tested in tests/cli/cgroup-refusal.test.ts)",
  "docs/CGROUPS.md: jailx: 9.7 ms: the default --pids 2048 is not applied (cgroup / (v1 pids) is not delegated to uid 1000 (not writable)); --pids unlimited removes it": "sample output (--verbose, rootless without delegation; tested in tests/cgroup/run-limits.test.ts)",
  "docs/PROFILES.md: # jailx run -- nginx": "sample output (the profile note; tested in tests/run/profiles.test.ts)",
  "docs/LEARN.md: jailx learn -o FILE [--merge FILE]… [--notify-all] [--recording FILE.json] [run options] -- PROGRAM ARGS…": "synopsis: its options are checked against --help below",
  "docs/LEARN.md: cp -rL /etc/nginx /srv/nginx-conf      # the stock configuration, moved to a free port": "a walk-through with a server that runs until stopped (tests/learn/nginx.test.ts does these steps)",
  "docs/INSPECT.md: jailx inspect PID | self        [--json] [--threshold N] [--expect FILE.toml] [--verbose]": "synopsis: its options are checked against --help below",
  "docs/SECCOMP.md: jailx seccomp show [policy flags] [--caps a,b] [--arch A] [--all] [--numbers] [--bpf] [--plan] [--output FILE]": "synopsis: its options are checked against --help below",
  "docs/SECCOMP.md: ld arch ; jeq AUDIT_ARCH_X86_64 → native ; jeq AUDIT_ARCH_I386 → i386 ; ret KILL": "a sketch of the filter's layout (the disassembly is tested in tests/seccomp)",
};
const textKey = (b: Block) => `${b.doc}: ${b.text.split("\n")[0]}`;

// ---- commands that are not run as plain commands, with why -----------------------------------
/** The README's nginx example serves the host's default site on port 80. */
const NGINX = "jailx run --no-profile --ro-bind /var/www --tmpfs /var/lib/nginx --tmpfs /var/log/nginx -- nginx -g 'daemon off;'";
const SKIP: Record<string, string> = {
  "npm ci && npm run demo": "npm ci would replace node_modules under the running suite; tests/cli/demo.test.ts runs `npm run demo`",
  "npm ci && npm test": "this is the suite itself (it would run this test again)",
  "jailx run -- nginx": "serves port 80 until stopped: tests/run/profiles-nginx.test.ts runs exactly this (page, HUP, TERM, nothing left)",
  "jailx run --profile ./server.toml -- server": "a placeholder profile and program: tests/run/profiles.test.ts runs profile files",
  "jailx learn -o server.toml -- server": "a placeholder program: tests/learn/learn.test.ts learns real ones (sh, python3, nginx)",
  "jailx exec -t web -- sh": "needs a terminal: tests/manage/exec.test.ts runs exec -t in a pty (job control, Ctrl-C)",
  "jailx logs -f web": "follows until the jail ends: tests/manage/lifecycle.test.ts ('logs -f follows a running jail's output')",
  "jailx kill web HUP": "would end the example's python3 before 'stop': tests/manage/lifecycle.test.ts ('kill NAME HUP reaches the program')",
  "jailx unit web --memory 256m -- nginx -g 'daemon off;' > /etc/systemd/system/jailx-web.service":
    "installs a unit on the host: tests/manage/unit.test.ts checks the unit with systemd-analyze verify and runs its ExecStart (HUP, TERM)",
  // The VM lane boots Debian guests under qemu for minutes: .ci/run runs it (one guest).
  "npm run test:servers": "the VM lane itself (minutes of qemu): .ci/run runs it; its guest checks are scripts/vm/guest/*",
  "bun scripts/vm/lane.ts --dist bookworm,bullseye": "the VM lane on two guests: scripts/vm/lane.ts, run on demand (docs/TESTING.md)",
  "bun scripts/vm/lane.ts --binary dist/jailx-linux-x64-baseline --cpu Nehalem": "the VM lane on an emulated Nehalem CPU: scripts/vm/lane.ts, run on demand; tests/run/foreign-cpu.test.ts runs this binary on -cpu Nehalem",
};
/** Placeholders in examples, replaced visibly: `jailx inspect 1234` needs a live process. */
const PLACEHOLDERS: Record<string, (pid: number) => string> = {
  "jailx inspect 1234": (pid) => `jailx inspect ${pid}`,
};
/** What the output of some commands must show (every command must exit 0 without a jailx: line). */
const EXPECT_STDOUT: Record<string, RegExp> = {
  "jailx run --net none --user nobody --ro-bind $PWD -- python3 job.py": /^job ran as uid 65534 in \/tmp\/jx-docs-\w+, network: lo\n$/,
  "jailx run --bind $PWD/data:/data --chdir /data --memory 256m --pids 100 --timeout 5m -- ./worker": /^worker ran in \/data\n$/,
  "jailx run --dry-run -- /bin/true": /"command": \[\s*"\/bin\/true"\s*\]/,
  "jailx inspect 1234": /\bprocess \d+ \(sh\)/i,
  "jailx seccomp show": /^ {4}errno:EPERM: .*\bmount\b/m,
  "jailx seccomp show --seccomp-deny getppid --numbers": /errno:EPERM: .*\bgetppid\(\d+\)/,
  "jailx run -d --name web --no-profile --net none --memory 256m --chdir /usr/share/doc -- python3 -m http.server -b 127.0.0.1 8000": /^web\n$/,
  "jailx ps": /^web +\d+ .* running +python3 -m http\.server/m,
  "jailx exec web -- hostname": /^jailx\n$/,
};

let scratch: string;
let bin: string;
beforeAll(() => {
  scratch = mkdtempSync("/tmp/jx-docs-");
  chmodSync(scratch, 0o755); // the job.py example runs as nobody
  writeFileSync(`${scratch}/job.py`, [
    "import os",
    "links = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]",
    "print(f'job ran as uid {os.getuid()} in {os.getcwd()}, network: {\" \".join(links)}')",
  ].join("\n") + "\n");
  mkdirSync(`${scratch}/data`);
  writeFileSync(`${scratch}/data/worker`, "#!/bin/sh\necho \"worker ran in $(pwd)\"\n");
  chmodSync(`${scratch}/data/worker`, 0o755);
  mkdirSync(`${scratch}/bin`);
  bin = `${scratch}/bin`;
  symlinkSync(JAILX, `${bin}/jailx`);
});
afterAll(() => {
  // The README's named jails live in the scratch state directory; one an example failed to stop
  // is stopped here, so nothing keeps running.
  for (const f of existsSync(stateDir()) ? readdirSync(stateDir()) : [])
    if (/^[^.]+\.json$/.test(f)) jailx(["stop", f.slice(0, -5), "--time", "0"], { env: { JAILX_STATE_DIR: stateDir() } });
  rmSync(scratch, { recursive: true, force: true });
});
/** Named jails of the examples go here, not to /run/jailx. */
const stateDir = () => `${scratch}/state`;

/** A jailed shell that said "ready" and waits (it exists before it speaks). */
const WAITING_SHELL = ["/bin/sh", "-c", "echo ready; while :; do sleep 1; done"];
const shellIn = (jail: LiveJail) => descendants(jail.pid).find((p) => comm(p) === "sh");

/** Run one documented command line with bash, `jailx` being dist/jailx. */
function runLine(cmd: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["bash", "-c", cmd], {
    cwd: scratch, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, JAILX_STATE_DIR: stateDir() }, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 60_000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("code blocks", () => {
  test("every block has a known language; every text block is listed with what it is", () => {
    for (const b of BLOCKS) {
      expect(["sh", "toml", "ts", "text"], `${where(b)}: label the block (sh, toml, ts or text)`).toContain(b.lang);
      if (b.lang === "text") expect(TEXT_BLOCKS[textKey(b)], `${where(b)}: a text block this test does not list`).toBeDefined();
    }
    const texts = new Set(BLOCKS.filter((b) => b.lang === "text").map(textKey));
    for (const k of Object.keys(TEXT_BLOCKS)) expect(texts.has(k), `stale entry: ${k}`).toBe(true);
    const cmds = new Set(BLOCKS.filter((b) => b.lang === "sh").flatMap(commandsOf));
    for (const k of [...Object.keys(SKIP), ...Object.keys(PLACEHOLDERS), ...Object.keys(EXPECT_STDOUT), NGINX])
      expect(cmds.has(k), `stale entry (no longer in the docs): ${k}`).toBe(true);
  });

  test("synopses name only options the commands have", () => {
    for (const b of BLOCKS.filter((x) => x.lang === "text" && TEXT_BLOCKS[textKey(x)]!.startsWith("synopsis")))
      for (const l of b.text.split("\n")) {
        const words = /^jailx ((?:[a-z]+ ?)+)/.exec(l)?.[1]?.trim().split(" ").filter((w) => !/^[A-Z]/.test(w)) ?? [];
        if (!words.length) continue;
        const help = jailx([...words, "--help"]);
        expect(help.code, l).toBe(0);
        for (const flag of l.match(/--[a-z][a-z-]*/g) ?? []) expect(help.stdout, `${where(b)}: ${flag}`).toContain(flag);
      }
  });
});

describe("sh examples run as written", () => {
  const all = BLOCKS.filter((b) => b.lang === "sh").flatMap((b) => commandsOf(b).map((cmd) => ({ b, cmd })));
  for (const { b, cmd } of all) {
    if (cmd === NGINX) continue; // below: a server
    if (SKIP[cmd]) {
      test.skip(`${where(b)}: ${cmd} — skipped: ${SKIP[cmd]}`, () => {});
      continue;
    }
    test(`${where(b)}: ${cmd}`, async () => {
      let target: LiveJail | null = null;
      let line = cmd;
      try {
        if (PLACEHOLDERS[cmd]) {
          // A jailed process to look at.
          target = new LiveJail(["run", "--", ...WAITING_SHELL]);
          await target.waitForLine(/^ready$/);
          const pid = shellIn(target);
          expect(pid, "the jailed shell to inspect").toBeDefined();
          line = PLACEHOLDERS[cmd]!(pid!);
        }
        const r = runLine(line);
        expect(r.stderr.split("\n").filter((l) => l.startsWith("jailx:"))).toEqual([]);
        expect(r.code).toBe(0);
        if (EXPECT_STDOUT[cmd]) expect(r.stdout).toMatch(EXPECT_STDOUT[cmd]!);
      } finally {
        target?.kill("SIGKILL");
        await target?.dispose();
      }
    });
  }
});

describe("the nginx example", () => {
  // The example listens on port 80 of the host network. The test gives it a network namespace
  // of its own (loopback only) to stand for the host's, so that no other nginx on this machine
  // (the Debian package starts one where it can) can take the port, and reaches it there.
  const why = !Bun.which("nginx") ? "nginx is not installed (scripts/install-deps.sh installs nginx-light)"
    : !existsSync("/var/www/html") ? "no /var/www/html (the Debian nginx package's default site)" : "";
  if (why) console.warn(`SKIP the README's nginx example: ${why}`);
  const GET = `
import sys, time, urllib.request, urllib.error
deadline = time.time() + 30
while True:
    try:
        r = urllib.request.urlopen("http://127.0.0.1:80/", timeout=5)
        print(r.status); sys.stdout.write(r.read().decode()); break
    except urllib.error.HTTPError as e:
        print(e.code); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.025)  # until nginx listens
`;
  test.skipIf(!!why)(`README.md: ${NGINX} — serves the default site over loopback, stops on SIGTERM`, async () => {
    const argv = ["run", "--no-profile", "--ro-bind", "/var/www", "--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx", "--", "nginx", "-g", "daemon off;"];
    // The same words as the README line (bash's word splitting of it), started without a shell so it can be stopped.
    expect(JSON.parse(runLine(`python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' ${NGINX.replace(/^jailx /, "")}`).stdout)).toEqual(argv);
    const jail = new LiveJail(argv, { wrap: ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] });
    try {
      // Until unshare has made the namespace, nsenter would enter the host's and ask whatever
      // listens on the host's port 80 (another lane's nginx, here): wait for a namespace of its own.
      const hostNet = readlinkSync("/proc/self/ns/net");
      await waitUntil(() => {
        try {
          return readlinkSync(`/proc/${jail.pid}/ns/net`) !== hostNet;
        } catch {
          return false;
        }
      }, 20_000, "the example's own network namespace");
      const got = Bun.spawnSync(["nsenter", `--net=/proc/${jail.pid}/ns/net`, "python3", "-c", GET], { stdout: "pipe", stderr: "pipe", timeout: 45_000 });
      const out = got.stdout.toString();
      expect(got.stderr.toString()).toBe("");
      const index = readdirSync("/var/www/html").find((f) => f.startsWith("index"));
      expect(out).toBe(`200\n${readFileSync(`/var/www/html/${index}`, "utf8")}`);
      jail.kill("SIGTERM");
      const end = await jail.exit();
      expect(end.code).toBe(0);
      expect(lines(end.stderr).filter((l) => l.startsWith("jailx:"))).toEqual([]);
    } finally {
      await jail.dispose();
    }
  }, 60_000);
});

describe("toml and ts blocks", () => {
  const only = (doc: string, lang: string) => {
    const found = BLOCKS.filter((b) => b.doc === doc && b.lang === lang);
    expect(found.length, `${doc}: one ${lang} block`).toBe(1);
    return found[0]!;
  };
  test("every toml and ts block is one of those checked here", () => {
    expect(BLOCKS.filter((b) => b.lang === "toml" || b.lang === "ts").map((b) => `${b.doc} ${b.lang}`).sort())
      .toEqual(["docs/INSPECT.md toml", "docs/PROFILES.md toml", "docs/SECCOMP.md toml", "docs/SECCOMP.md ts"]);
  });

  test("docs/PROFILES.md: the example profile is accepted and merged (profile show names its keys)", () => {
    const file = `${scratch}/example-profile.toml`;
    writeFileSync(file, only("docs/PROFILES.md", "toml").text);
    const show = jailx(["profile", "show", file]);
    expect(show.stderr).toBe("");
    expect(show.code).toBe(0);
    for (const key of ["hostname", "tmpfs", "memory"]) expect(show.stdout).toContain(key);
  });

  test("docs/SECCOMP.md: the policy file is accepted by seccomp show and runs a program", () => {
    const file = `${scratch}/policy.toml`;
    writeFileSync(file, only("docs/SECCOMP.md", "toml").text);
    const show = jailx(["seccomp", "show", "--seccomp", file]);
    expect(show.stderr).toBe("");
    expect(show.code).toBe(0);
    const run = jailx(["run", "--seccomp", file, "--", "/bin/sh", "-c", "echo ran"]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("ran\n");
  });

  test("docs/INSPECT.md: a jail made to meet the --expect example meets it (exit 0)", async () => {
    const file = `${scratch}/expect.toml`;
    writeFileSync(file, only("docs/INSPECT.md", "toml").text);
    const jail = new LiveJail(["run", "--userns", "--net", "none", "--memory", "64m", "--pids", "64", "--", ...WAITING_SHELL]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = shellIn(jail);
      expect(pid).toBeDefined();
      const r = jailx(["inspect", String(pid), "--expect", file]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // control: the same expectations fail for a process that is not jailed
      expect(jailx(["inspect", "self", "--expect", file]).code).toBe(1);
    } finally {
      jail.kill("SIGKILL");
      await jail.dispose();
    }
  });

  test("docs/SECCOMP.md: the FilterSummary interfaces are the keys of 'seccomp explain --json'", () => {
    const ts = only("docs/SECCOMP.md", "ts").text;
    const fields = new Map<string, { name: string; optional: boolean }[]>();
    for (const m of ts.matchAll(/interface (\w+) \{([^}]*)\}/g))
      fields.set(m[1]!, [...m[2]!.replace(/\/\/.*$/gm, "").matchAll(/(\w+)(\??):/g)].map((f) => ({ name: f[1]!, optional: f[2] === "?" })));
    const filter = `${scratch}/f.bpf`;
    expect(jailx(["seccomp", "show", "--seccomp-deny", "getppid", "--output", filter]).code).toBe(0);
    const [{ summary }] = JSON.parse(jailx(["seccomp", "explain", filter, "--json"]).stdout);
    const check = (iface: string, obj: Record<string, unknown>) => {
      const f = fields.get(iface)!;
      expect(f, iface).toBeDefined();
      for (const k of Object.keys(obj)) expect(f.map((x) => x.name), `${iface}.${k} is not documented`).toContain(k);
      for (const x of f) if (!x.optional) expect(Object.keys(obj), `${iface}.${x.name} is documented but missing`).toContain(x.name);
    };
    check("FilterSummary", summary);
    for (const abi of summary.abis) {
      check("AbiSummary", abi);
      for (const v of abi.syscalls) check("SyscallVerdict", v);
    }
  });
});
