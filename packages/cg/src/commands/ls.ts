/** cg ls: the groups under --parent in every hierarchy, merged by name. */
import { report, table } from '@boxkit/common';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { hostLayout, type Controller } from '../layout.js';
import { baseDir } from '../group.js';
import { procsOf } from '../membership.js';
import type { GroupArgs } from './common.js';

interface Row { name: string; controllers: Controller[]; pids: number[]; paths: string[] }

function walk(dir: string, depth: number, visit: (d: string) => void): void {
  if (depth > 6) return;
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      if (!statSync(p).isDirectory()) continue;
    } catch {
      continue;
    }
    visit(p);
    walk(p, depth + 1, visit);
  }
}

export function runLs(a: Omit<GroupArgs, 'group'>): number {
  const rows = new Map<string, Row>();
  for (const h of hostLayout().hierarchies) {
    if (!h.controllers.length) continue;
    const base = baseDir(h, a.parent);
    walk(base, 0, (d) => {
      const name = relative(base, d);
      const r = rows.get(name) ?? { name, controllers: [], pids: [], paths: [] };
      r.controllers.push(...h.controllers);
      r.paths.push(d);
      r.pids = [...new Set([...r.pids, ...procsOf(d)])];
      rows.set(name, r);
    });
  }
  const list = [...rows.values()].sort((x, y) => x.name.localeCompare(y.name));
  report(a, { groups: list.map((r) => ({ name: r.name, controllers: r.controllers, pids: r.pids, cgroup: r.paths })) }, () =>
    list.length ? table([['NAME', 'PROCS', 'CONTROLLERS'], ...list.map((r) => [r.name, String(r.pids.length), r.controllers.join(',')])]) : []);
  return 0;
}
