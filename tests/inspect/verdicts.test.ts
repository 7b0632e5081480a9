// Judging what the issue found wrong (issue 13): strict seccomp, privileged containers, identity
// from uid_map, sensitive mounts only in a known-separate mount namespace, runtime evidence
// weighed by source, text and JSON agreeing. Snapshots derived from the captured fixtures.
import { describe, expect, test } from "bun:test";
import { collectEvidence, looksLike } from "../../inspect/evidence.ts";
import { identity, sensitiveMounts } from "../../inspect/facts.ts";
import { buildReport } from "../../inspect/json.ts";
import { renderText } from "../../inspect/report.ts";
import { score } from "../../inspect/score.ts";
import { unknown, type FilterDigest, type Snapshot } from "../../inspect/snapshot.ts";
import { fixtureSnapshot } from "./fixtures.ts";

const privileged = fixtureSnapshot("privileged");
const bwrap = fixtureSnapshot("bwrap-unshare-all");
const result = (s: Snapshot, id: string) => score(s).results.find((r) => r.id === id)!;
const sep = (n: number) => 4026539000 + n;

describe("seccomp strict mode", () => {
  // a filter that refuses every risky call on the only ABI: the best a filter can do
  const best: FilterDigest = {
    index: 0, instructions: 10, unknownArchAction: "kill",
    abis: [{ abi: "x86_64", defaultAction: "allow", unknownNrAction: "allow", exceptions: { "errno:EPERM": ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "perf_event_open", "mount", "umount2", "pivot_root", "open_by_handle_at", "ptrace", "process_vm_writev", "unshare", "setns", "swapon", "swapoff", "reboot", "acct", "uselib"] }, argDependent: [] }],
  };
  const filtered: Snapshot = { ...privileged, seccompMode: 2, seccompFilters: 1, seccompFilterSummary: [best] };
  const strict: Snapshot = { ...privileged, seccompMode: 1, seccompFilters: 0, seccompFilterSummary: [] };
  test("strict mode scores at least as well as any filter: its checks are good, not 'not applicable'", () => {
    for (const id of ["seccomp", "seccomp.risky", "seccomp.abi"]) expect(result(strict, id).status).toBe("good");
    expect(score(strict).exposure!).toBeLessThanOrEqual(score(filtered).exposure!);
  });
});

describe("a privileged container (all capabilities, the host's disk, devices cgroup allowing all)", () => {
  const container: Snapshot = {
    ...privileged,
    pid: 7001,
    ns: { ...privileged.ns, pid: sep(1), mnt: sep(2), net: sep(3), uts: sep(4), ipc: sep(5), cgroup: sep(6) },
    nspid: [7001, 1],
    root: { dev: 99, ino: 2 },
    deviceNodes: [
      { path: "/dev/sda", type: "block", major: 8, minor: 0, mode: 0o660, uid: 0, gid: 6 },
      { path: "/dev/null", type: "char", major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
    ],
    cgroup: { ...(privileged.cgroup as any), devices: { allowAll: true, rules: ["a *:* rwm"], where: "/sys/fs/cgroup/devices/c", version: 1 } },
  };
  test("the disk node and the open devices cgroup are found and weighed: EXPOSED or worse", () => {
    expect(result(container, "dev.nodes")).toMatchObject({ status: "bad", detail: "/dev/sda" });
    expect(result(container, "cgroup.devices").status).toBe("bad");
    expect(score(container).exposure!).toBeGreaterThanOrEqual(7.5);
  });
  test("a node on a nodev mount, refused by the devices cgroup, or closed by its mode does not count", () => {
    const refused: Snapshot = { ...container, cgroup: { ...(container.cgroup as any), devices: { allowAll: false, rules: ["c 1:3 rwm", "b 8:* m"], where: "c", version: 1 } } };
    expect(result(refused, "dev.nodes").status).toBe("good");
    const user: Snapshot = { ...container, creds: { uid: [1000, 1000, 1000, 1000], gid: [1000, 1000, 1000, 1000], groups: [] }, caps: { ...container.caps, effective: "0", permitted: "0" } };
    expect(result(user, "dev.nodes").status).toBe("good");
    expect(result({ ...user, creds: { ...user.creds, groups: [6] } }, "dev.nodes").status).toBe("bad"); // the disk group
  });
  test("v2 devices access is reported unknown with the reason, never 'allowed'", () => {
    const v2: Snapshot = { ...container, cgroup: { ...(container.cgroup as any), devices: unknown("cgroup v2: device access is decided by a BPF program on the cgroup (not shown in cgroupfs)") } };
    expect(result(v2, "cgroup.devices")).toMatchObject({ status: "unknown" });
    expect(result(v2, "dev.nodes").detail).toBe("/dev/sda (devices cgroup unknown)");
  });
});

describe("identity from uid_map, for any reader", () => {
  // what an unprivileged reader sees: ns links refused, status translated, uid_map readable
  const refused = Object.fromEntries(Object.keys(privileged.ns).map((t) => [t, unknown("EACCES: run as root")])) as Snapshot["ns"];
  const reader = { ...privileged.readerView, uidMap: [{ inside: 0, outside: 0, count: 4294967295 }] };
  const inNs = (map: [number, number, number], euid: number): Snapshot => ({
    ...privileged, pid: 7100, ns: refused, readerView: reader,
    creds: { uid: [euid, euid, euid, euid], gid: [euid, euid, euid, euid], groups: [] },
    uidMap: [{ inside: map[0], outside: map[1], count: map[2] }],
  });
  test("'0 65534 1': root inside its own user namespace, host uid 65534", () => {
    const s = inNs([0, 65534, 1], 65534);
    expect(identity(s)).toMatchObject({ kind: "userns-root", insideUid: 0, hostUid: 65534 });
    expect(buildReport(s).namespaces.user).toMatchObject({ state: "separate", proof: "uid_map", reference: "reader" });
  });
  test("'0 1000000000 65536': uid 1234 inside is 1000001234 on the host", () => {
    expect(identity(inNs([0, 1000000000, 65536], 1000001234))).toMatchObject({ kind: "user", insideUid: 1234, hostUid: 1000001234 });
    expect(identity(inNs([0, 1000000000, 65536], 1000000000))).toMatchObject({ kind: "userns-root", insideUid: 0 });
  });
  test("text and JSON agree: root only inside its namespace is 'partial', and the text says so", () => {
    const r = buildReport(inNs([0, 65534, 1], 65534));
    const c = r.score.results.find((x) => x.id === "creds.root")!;
    expect(c).toMatchObject({ status: "partial", text: "runs as root only inside its own user namespace" });
    const text = renderText(r);
    expect(text).not.toContain("runs as root on the host");
    expect(text).toContain("PART creds.root");
    expect(text).toMatch(/euid\s+0 inside its user namespace, 65534 as the reader sees it/);
  });
  test("a process in a user namespace with no runtime evidence is not a 'host process'", () => {
    const s = inNs([0, 65534, 1], 65534);
    expect(looksLike(s, collectEvidence(s))).toBe("sandboxed by an unidentified tool (no runtime evidence)");
  });
});

describe("sensitive mounts need a mount namespace known to be separate", () => {
  test("unknown mount namespace (no link, no readable proof): the fact is unknown, not the host's own mounts", () => {
    const refused = { ...bwrap, ns: { ...bwrap.ns, mnt: unknown("EACCES: run as root") }, readerView: { ...bwrap.readerView, mountIds: unknown("EACCES") } };
    expect(sensitiveMounts(refused)).toHaveProperty("unknown");
    expect(buildReport(refused).filesystem.sensitiveMounts).toHaveProperty("unknown");
  });
  test("known separate: listed; known shared: none (they are the host's own)", () => {
    expect(sensitiveMounts(bwrap)).toEqual(["host /proc at /proc", "host /dev (devtmpfs) at /dev"]);
    expect(sensitiveMounts(privileged)).toEqual([]);
  });
});

describe("runtime evidence weighed by source", () => {
  const runc: Snapshot = {
    ...bwrap,
    pid: 7200,
    root: { dev: 99, ino: 3 },
    parents: [{ pid: 7199, comm: "runc" }, { pid: 1, comm: "init" }],
    markers: { "/.dockerenv": false, "/run/.containerenv": true, "/.flatpak-info": false },
    containerEnv: null,
  };
  test("a stale /run/.containerenv in a shared rootfs does not make a runc container podman; the report says what decided", () => {
    const r = buildReport(runc);
    expect(r.runtime.looksLike).toBe("runc");
    expect(r.runtime.decidedBy).toBe("parent chain");
    expect(r.runtime.evidence).toContainEqual({ runtime: "podman", source: "marker file", detail: "/run/.containerenv inside its root", outweighed: "parent chain says runc" });
  });
  test("agreeing evidence is kept: conmon in the parent chain and the podman marker", () => {
    const r = buildReport({ ...runc, parents: [{ pid: 7199, comm: "conmon" }] });
    expect(r.runtime.looksLike).toBe("podman (conmon) + podman");
    expect(r.runtime.evidence.every((e) => !e.outweighed)).toBe(true);
  });
});

describe("the verdict comes first in the text report", () => {
  test("score, unknown share, label and the worst findings precede the details", () => {
    const text = renderText(buildReport(fixtureSnapshot("unreadable")));
    const lines = text.split("\n");
    expect(lines[1]).toMatch(/^ {2}exposure: \d+\.\d [A-Z]+ {2}\(\d+ checks assessed, \d+ not applicable, \d+ unknown: \d+% of the weight unknown; could be \d+\.\d–\d+\.\d\)$/);
    expect(text.indexOf("worst findings:")).toBeLessThan(text.indexOf("Namespaces"));
  });
});
