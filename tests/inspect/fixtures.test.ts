// Judging on captured /proc snapshots: each layer as it was configured when captured (see CMD).
import { describe, expect, test } from "bun:test";
import { NS_TYPES } from "../../inspect/snapshot.ts";
import { fixtureReport } from "./fixtures.ts";

const result = (r: ReturnType<typeof fixtureReport>, id: string) => r.score.results.find((c) => c.id === id)!;

describe("privileged host process", () => {
  const r = fixtureReport("privileged");
  test("every namespace shared with the host, compared with a named reference", () => {
    for (const t of NS_TYPES) {
      expect(r.namespaces[t].state).toBe("shared");
      expect(r.namespaces[t].reference).toBe("kthreadd (PID 2)"); // PID 1 refuses even root here
    }
  });
  test("root on the host with all capabilities, nothing filtered", () => {
    expect(r.credentials.identity).toBe("host-root");
    expect(r.capabilities.scope).toBe("host");
    expect(r.capabilities.effective).toContain("sys_admin");
    expect(r.seccomp.mode).toBe("disabled");
    expect(r.noNewPrivs).toBe(false);
  });
  test("the host's root, writable; the stray /.dockerenv is not taken as container evidence", () => {
    expect(r.filesystem.rootSeparate).toBe(false);
    expect(r.filesystem.rootMethod).toBe("stat dev:inode");
    expect(r.filesystem.rootReadOnly).toBe(false);
    expect(r.runtime.evidence.some((e) => e.runtime === "docker")).toBe(false);
    expect(r.runtime.looksLike).toContain("host process");
  });
  test("scores at the top of the scale", () => {
    expect(r.score.exposure).toBeGreaterThanOrEqual(9.5);
    expect(r.score.label).toBe("UNSAFE");
    // captured before inspect read device nodes and devices.list: only those two are unknown
    expect(r.score.results.filter((x) => x.status === "unknown").map((x) => x.id)).toEqual(["dev.nodes", "cgroup.devices"]);
  });
});

describe("bwrap --unshare-all --ro-bind / /", () => {
  const r = fixtureReport("bwrap-unshare-all");
  test("all namespaces but time are separate", () => {
    for (const t of NS_TYPES) expect(r.namespaces[t].state).toBe(t === "time" ? "shared" : "separate");
    expect(r.pidNamespaceDepth).toBe(2);
  });
  test("user namespace maps root to root; capabilities apply only inside it", () => {
    expect(r.userNamespace.rootOutside).toBe(0);
    expect(r.userNamespace.setgroups).toBe("deny");
    expect(r.capabilities.scope).toBe("own user namespace");
    expect(result(r, "cap.sys_admin").detail).toBe("only over its own user namespace");
  });
  test("root is the host's, bound read-only; host /proc and /dev are flagged", () => {
    expect(r.filesystem.rootSeparate).toBe(false);
    expect(r.filesystem.rootReadOnly).toBe(true);
    expect(r.filesystem.sensitiveMounts).toEqual(["host /proc at /proc", "host /dev (devtmpfs) at /dev"]);
  });
  test("evidence: bwrap in the parent chain", () => {
    expect(r.runtime.looksLike).toBe("bubblewrap");
    expect(r.runtime.evidence.every((e) => e.source === "parent chain")).toBe(true);
  });
  test("scores lower than the privileged process", () => {
    expect(r.score.exposure!).toBeLessThan(fixtureReport("privileged").score.exposure!);
  });
});

describe("firejail with every layer on, in limited cgroups", () => {
  const r = fixtureReport("all-layers");
  test("seccomp filters, no_new_privs, no capabilities", () => {
    expect(r.seccomp).toMatchObject({ mode: "filter", filters: 2 });
    expect(r.noNewPrivs).toBe(true);
    expect(r.capabilities.bounding).toEqual([]);
    expect(r.capabilities.dangerous).toEqual([]);
  });
  test("namespaces exactly as firejail set them up (no user namespace for root)", () => {
    const sep = NS_TYPES.filter((t) => r.namespaces[t].state === "separate");
    expect(sep).toEqual(["pid", "mnt", "net", "uts", "ipc"]);
  });
  test("the visible root mount is the read-only one, not the stacked copy", () => {
    expect(r.filesystem.rootReadOnly).toBe(true);
    expect(r.filesystem.sensitiveMounts).toEqual([]);
  });
  test("v1 limits found on its cgroups", () => {
    const cg = r.resources.cgroup as any;
    expect(cg.memory).toMatchObject({ value: 256 * 2 ** 20, version: 1 });
    expect(cg.pids).toMatchObject({ value: 64, version: 1 });
    expect(cg.cpu).toMatchObject({ value: 0.5, version: 1 });
  });
  test("evidence: container=firejail and firejail parents", () => {
    expect(r.runtime.looksLike).toBe("firejail");
    expect(r.runtime.evidence.map((e) => e.source)).toContain("environ");
  });
  test("seccomp filter contents not decoded from a fixture", () => {
    expect(r.seccomp.summary).toHaveProperty("unknown");
  });
  test("scores as contained", () => {
    expect(r.score.exposure!).toBeLessThan(3);
  });
});

describe("unprivileged reader of a root process", () => {
  const r = fixtureReport("unreadable");
  test("namespaces without a readable proof are unknown with the reason; NSpid and mount ids prove pid and mnt shared", () => {
    for (const t of NS_TYPES) {
      if (t === "pid") expect(r.namespaces[t]).toMatchObject({ state: "shared", reference: "reader", proof: "NSpid" });
      else if (t === "mnt") expect(r.namespaces[t]).toMatchObject({ state: "shared", reference: "reader", proof: "mount ids" });
      else expect(r.namespaces[t]).toMatchObject({ state: "unknown", reason: "EACCES: run as root" });
    }
  });
  test("no runtime evidence and unknown namespaces: not called a host process", () => {
    expect(r.runtime.looksLike).toBe("no runtime evidence (namespaces partly unknown)");
  });
  test("the score says how much is unknown and where it could be", () => {
    expect(r.score.unknownWeight).toBeGreaterThan(0.3);
    expect(r.score.range!.min).toBeLessThan(r.score.exposure!);
    expect(r.score.range!.max).toBe(10);
  });
  test("fields readable by anyone are still reported", () => {
    expect(r.credentials.uid).toEqual([0, 0, 0, 0]);
    expect(r.capabilities.effective).toContain("sys_admin");
    expect(r.resources.cgroup).not.toHaveProperty("unknown");
    expect(r.filesystem.mountCount).toBeGreaterThan(0);
  });
  test("root compared through mountinfo when /proc/PID/root is refused", () => {
    expect(r.filesystem.rootMethod).toBe("mountinfo / entry");
    expect(r.filesystem.rootSeparate).toBe(false);
  });
  test("environ, exe and markers unknown; unknown checks are counted, not scored", () => {
    expect(r.exe).toEqual({ unknown: "EACCES: run as root" });
    expect(r.score.unknown).toBeGreaterThan(10);
    expect(result(r, "ns.net")).toMatchObject({ status: "unknown", detail: "unknown (EACCES: run as root)" });
    expect(result(r, "cap.sys_admin").status).toBe("unknown");
  });
});
