// Loads a captured /proc fixture (tests/fixtures/proc/NAME) as a fake procfs source.
import { readFileSync } from "node:fs";
import { gather, GatherContext } from "../../inspect/gather.ts";
import { buildReport } from "../../inspect/json.ts";
import { TreeSource } from "../../inspect/tree-source.ts";
import type { Snapshot } from "../../inspect/snapshot.ts";

export const FIXTURES = `${import.meta.dir}/../fixtures/proc`;

export function fixtureSource(name: string): { src: TreeSource; target: number } {
  const dir = `${FIXTURES}/${name}`;
  const uid = Number(/reader uid: (\d+)/.exec(readFileSync(`${dir}/CMD`, "utf8"))![1]);
  return { src: new TreeSource(`${dir}/fs`, uid), target: Number(readFileSync(`${dir}/TARGET`, "utf8")) };
}

export function fixtureSnapshot(name: string): Snapshot {
  const { src, target } = fixtureSource(name);
  return gather(target, new GatherContext(src));
}

export function fixtureReport(name: string) {
  return buildReport(fixtureSnapshot(name));
}
