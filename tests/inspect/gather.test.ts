// Gathering from fake procfs trees: a process that exits or is replaced mid-read, a missing pid,
// namespace references, and roots compared by dev:inode (never readlink).
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { gather, GatherContext, NoSuchProcess } from "../../inspect/gather.ts";
import { buildReport } from "../../inspect/json.ts";
import { TreeSource } from "../../inspect/tree-source.ts";
import type { Known } from "../../inspect/snapshot.ts";
import { FakeTree } from "./fakeproc.ts";

let tree: FakeTree;
afterEach(() => tree?.remove());

/** A source that runs `hook` right after the n-th read of the target's files. */
class HookedSource extends TreeSource {
  reads = 0;
  constructor(fs: string, private pid: number, private n: number, private hook: () => void) {
    super(fs, 0);
  }
  override read(pid: number | "self", name: string): Known<string> {
    const r = super.read(pid, name);
    if (pid === this.pid && ++this.reads === this.n) this.hook();
    return r;
  }
}

function host(t: FakeTree): FakeTree {
  return t.process(1, { comm: "init" }).process(2, { comm: "kthreadd" }).process(50, { comm: "reader", ppid: 1 }).self(50);
}

describe("pinning", () => {
  test("a process that exits after its status was read is reported as exited", () => {
    tree = host(new FakeTree()).process(300, { ppid: 1 });
    const src = new HookedSource(tree.fs, 300, 2, () => rmSync(`${tree.fs}/proc/300`, { recursive: true }));
    const s = gather(300, new GatherContext(src));
    expect(s.pin).toMatchObject({ state: "exited" });
    expect(s.mounts).toHaveProperty("unknown"); // read after it vanished: unknown, not empty
    expect(String((s.mounts as { unknown: string }).unknown)).toStartWith("ENOENT");
  });
  test("a process that exits before its status is read is 'no such process'", () => {
    tree = host(new FakeTree()).process(301, { ppid: 1 });
    const src = new HookedSource(tree.fs, 301, 1, () => rmSync(`${tree.fs}/proc/301`, { recursive: true }));
    expect(() => gather(301, new GatherContext(src))).toThrow(NoSuchProcess);
  });
  test("a pid reused by another process during the read is detected by its start time", () => {
    tree = host(new FakeTree()).process(302, { ppid: 1 });
    const src = new HookedSource(tree.fs, 302, 3, () =>
      writeFileSync(`${tree.fs}/proc/302/stat`, "302 (other) S 1 302 302 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999 0 0\n"),
    );
    expect(gather(302, new GatherContext(src)).pin.state).toBe("reused");
  });
  test("a pid that does not exist", () => {
    tree = host(new FakeTree());
    expect(() => gather(4242, new GatherContext(new TreeSource(tree.fs, 0)))).toThrow("no process with pid 4242");
  });
});

describe("references and roots", () => {
  test("PID 1 is the preferred reference; the reader is also compared", () => {
    tree = host(new FakeTree()).process(400, { ppid: 1, ns: { net: 90 } });
    const r = buildReport(gather(400, new GatherContext(new TreeSource(tree.fs, 0))));
    expect(r.namespaces.net).toMatchObject({ state: "separate", reference: "PID 1", vsReader: "separate" });
    expect(r.namespaces.uts).toMatchObject({ state: "shared", reference: "PID 1", vsReader: "shared" });
  });
  test("when PID 1 and kthreadd are unreadable, the reader is the reference and says so", () => {
    tree = host(new FakeTree()).process(401, { ppid: 1, ns: { ipc: 91 } });
    for (const p of [1, 2]) {
      rmSync(`${tree.fs}/proc/${p}/ns`, { recursive: true });
      for (const t of ["user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"]) tree.file(`/proc/${p}/ns/${t}.errno`, "EACCES\n");
    }
    const r = buildReport(gather(401, new GatherContext(new TreeSource(tree.fs, 0))));
    expect(r.namespaces.ipc).toMatchObject({ state: "separate", reference: "reader" });
    expect(r.namespaces.net).toMatchObject({ state: "shared", reference: "reader" });
  });
  test("a root with another dev:inode is separate even though readlink would say '/'", () => {
    tree = host(new FakeTree()).process(402, { ppid: 1, root: "1:77\n", ns: { mnt: 92 } });
    tree.link("/proc/402/root-link-says", "/");
    const r = buildReport(gather(402, new GatherContext(new TreeSource(tree.fs, 0))));
    expect(r.filesystem.rootSeparate).toBe(true);
    expect(r.filesystem.rootMethod).toBe("stat dev:inode");
  });
  test("marker lookups are cached by mount namespace and root, not by the root alone (another /run)", () => {
    // same root directory (dev:inode), different mount namespaces: only one has /run/.containerenv
    tree = host(new FakeTree()).process(405, { ppid: 1, root: "1:77\n", ns: { mnt: 95 } }).process(406, { ppid: 1, root: "1:77\n", ns: { mnt: 96 } });
    tree.file("/proc/405/root/run/.containerenv", "");
    const ctx = new GatherContext(new TreeSource(tree.fs, 0));
    expect(gather(405, ctx).markers["/run/.containerenv"]).toBe(true);
    expect(gather(406, ctx).markers["/run/.containerenv"]).toBe(false);
  });
  test("a marker file in the target's own (separate) root is evidence; in the host's root it is not", () => {
    tree = host(new FakeTree()).process(403, { ppid: 1, root: "1:77\n", ns: { mnt: 93 } }).process(404, { ppid: 1 });
    tree.file("/proc/403/root/.dockerenv", "").file("/proc/404/root/.dockerenv", "");
    const ctx = new GatherContext(new TreeSource(tree.fs, 0));
    expect(buildReport(gather(403, ctx)).runtime.evidence).toContainEqual({ runtime: "docker", source: "marker file", detail: "/.dockerenv inside its root" });
    expect(buildReport(gather(404, ctx)).runtime.evidence).toEqual([]);
  });
});
