// The helper ELF (jail/stage/helper.c) for tests, and a driver for the process harness that runs it
// (tests/helpers/stage-helper-harness.py).
//
// helperPath(): the binary embedded in the build (jail/stage/blobs.gen.ts, written by
// scripts/build-stage.ts) when that file has it, else helper.c compiled here once with the same
// flags. Either way a 0755 file in a 0755 temp dir (an unprivileged uid must be able to exec it),
// removed by removeHelpers().
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./build.ts";

type Arch = "x64" | "arm64";
const SOURCE = join(ROOT, "jail/stage/helper.c");
const BLOBS = join(ROOT, "jail/stage/blobs.gen.ts");
/** This machine's architecture: the helper the process tests run natively. */
export const NATIVE: Arch = process.arch === "arm64" ? "arm64" : "x64";
const COMPILERS: Record<Arch, string> = NATIVE === "x64"
  ? { x64: "gcc", arm64: "aarch64-linux-gnu-gcc" }
  : { x64: "x86_64-linux-gnu-gcc", arm64: "gcc" };
const PACKAGES: Record<string, string> = { gcc: "gcc", "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "x86_64-linux-gnu-gcc": "gcc-x86-64-linux-gnu" };
/** scripts/build-stage.ts's helper flags (COMMON + HELPER_FLAGS there). */
export const HELPER_FLAGS = ["-Os", "-ffreestanding", "-nostdlib", "-fno-stack-protector", "-fno-builtin",
  "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-Wall", "-Wextra", "-Werror",
  "-static", "-Wl,-e,_start", "-Wl,--build-id=none", "-Wl,-z,noexecstack", "-s", `-I${join(ROOT, "jail/stage")}`];

let dir: string | undefined;
const made = new Map<Arch, string>();

function tempDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), "jailx-helper-test-"));
    chmodSync(dir, 0o755);
  }
  return dir;
}

/** Remove the helper files (call from afterAll: `bun test` runs no process exit handlers). */
export function removeHelpers(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  made.clear();
}

/** The embedded blob of `arch`, when the build made one. */
async function embedded(arch: Arch): Promise<Buffer | undefined> {
  if (!existsSync(BLOBS)) return undefined;
  const mod = (await import(BLOBS)) as { BLOBS?: Partial<Record<Arch, { helper?: string }>> };
  const b64 = mod.BLOBS?.[arch]?.helper;
  return b64 ? Buffer.from(b64, "base64") : undefined;
}

/** Why the helper for `arch` can't be had here, or "" when it can. */
export function helperUnavailable(arch: Arch = NATIVE): string {
  if (Bun.which(COMPILERS[arch])) return "";
  if (existsSync(BLOBS) && new RegExp(`^  ${arch}: \\{.*helper: "`, "m").test(readFileSync(BLOBS, "utf8"))) return "";
  return `no ${COMPILERS[arch]} (Debian package ${PACKAGES[COMPILERS[arch]]}) to build the ${arch} helper`;
}

/** Path of an executable helper ELF for `arch` (this machine's by default). */
export async function helperPath(arch: Arch = NATIVE): Promise<string> {
  const have = made.get(arch);
  if (have) return have;
  const out = join(tempDir(), `helper-${arch}`);
  const blob = await embedded(arch);
  if (blob) {
    writeFileSync(out, blob, { mode: 0o755 });
  } else {
    const r = Bun.spawnSync([COMPILERS[arch], ...HELPER_FLAGS, SOURCE, "-o", out], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`compiling ${SOURCE} for ${arch} failed:\n${r.stderr.toString()}`);
  }
  chmodSync(out, 0o755);
  made.set(arch, out);
  return out;
}

export type Event = Record<string, unknown> & { ev: string };

/** One run of the harness: its events as they come, its stdin for commands. */
export class Harness {
  /** Every harness started, for the tests' clean-up of what a failed test left running. */
  static readonly all: Harness[] = [];
  readonly proc;
  readonly events: Event[] = [];
  private buffered = "";
  private waiters: (() => void)[] = [];
  private ended = false;
  readonly done: Promise<void>;

  constructor(mode: "init" | "wait" | "guard" | "victims", helper: string, config: Record<string, unknown>, argv0: string[] = []) {
    const script = join(ROOT, "tests/helpers/stage-helper-harness.py");
    this.proc = Bun.spawn(["python3", script, mode, helper, JSON.stringify(config)], {
      stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, HELPER_PREFIX: argv0.join(" ") },
    });
    this.done = this.pump();
    Harness.all.push(this);
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      this.buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = this.buffered.indexOf("\n")) >= 0) {
        this.events.push(JSON.parse(this.buffered.slice(0, nl)) as Event);
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.wake();
    }
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first event matching, waiting for it; throws if the output ends without one. */
  async next(ev: string, match: (e: Event) => boolean = () => true): Promise<Event> {
    for (;;) {
      const found = this.events.find((e) => e.ev === ev && match(e));
      if (found) return found;
      if (this.ended) throw new Error(`harness ended without a "${ev}" event; events: ${JSON.stringify(this.events)}; stderr: ${await new Response(this.proc.stderr).text()}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  send(line: string): void {
    this.proc.stdin.write(line + "\n");
    this.proc.stdin.flush();
  }

  /** Wait for the end of the harness (and of every process holding its stdout). */
  async finish(): Promise<{ code: number; stderr: string }> {
    const code = await this.proc.exited;
    await this.done;
    return { code, stderr: await new Response(this.proc.stderr).text() };
  }
}
