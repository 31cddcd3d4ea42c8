// Summarises a V8 .cpuprofile (node --cpu-prof): where the CPU time went, by package and by
// function (self time), plus the inclusive time of the project's own functions.
//   node --import tsx test/bench/e2e/profile-summary.ts <file.cpuprofile> [--from=<µs> --to=<µs>] [--top=25]
// --from/--to cut a window on the profile's monotonic clock: e2e.bench.ts prints the accept
// window as accept.window_monotonic_us in its JSON.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [--from=µs --to=µs] [--top=N]");
const num = (name: string) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : undefined;
};
const from = num("from") ?? -Infinity;
const to = num("to") ?? Infinity;
const top = num("top") ?? 25;

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const pkgOf = (url: string): string => {
  if (!url) return "(native/vm)";
  if (url.startsWith("node:")) return "node internals";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = /\/(src|workers)\/(.+)$/.exec(url);
  return src ? `project ${src[1]}/${src[2]!.split("/")[0]}` : url;
};
const fnKey = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*\/(src|workers)\//, "$1/")}:${f.lineNumber + 1}`;

const selfByPkg = new Map<string, number>();
const selfByFn = new Map<string, number>();
const inclusiveProject = new Map<string, number>();
let total = 0;
let idle = 0;
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  if (t < from || t > to) continue;
  const node = byId.get(profile.samples[i]!)!;
  const name = node.callFrame.functionName;
  if (name === "(idle)") {
    idle += dt;
    continue;
  }
  total += dt;
  const pkg = ["(garbage collector)", "(program)"].includes(name) ? name : pkgOf(node.callFrame.url);
  selfByPkg.set(pkg, (selfByPkg.get(pkg) ?? 0) + dt);
  selfByFn.set(fnKey(node.callFrame), (selfByFn.get(fnKey(node.callFrame)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const f = byId.get(id)!.callFrame;
    if (!/\/(src|workers)\//.test(f.url) || f.url.includes("node_modules")) continue;
    const k = fnKey(f);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusiveProject.set(k, (inclusiveProject.get(k) ?? 0) + dt);
  }
}
const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(v)} ms ${pct(v)}  ${k}`);
};
console.log(
  `window ${((Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1e6).toFixed(2)} s: busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`,
);
show("self time by package", selfByPkg);
show("self time by function", selfByFn);
show("inclusive time of project functions", inclusiveProject);
