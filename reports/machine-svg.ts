import type { MachineShape } from '../contract/proposals/machine-shape.ts';

/**
 * A proposal's API machine as an SVG picture: states in columns by their distance from the initial state,
 * transitions as arrows labelled with the call (or QEMU event) that takes them. Taken transitions are drawn
 * solid, the ones no run took dashed and red, so that coverage is seen, not read.
 */
const W = 150;
const H = 46;
const GAP_Y = 40;
const PAD = 30;

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function machineSvg(m: MachineShape, taken?: ReadonlySet<string>): string {
  // room between columns for the longest label (11px monospace: about 6.7px a character)
  const GAP_X = Math.max(
    90,
    ...m.transitions.map((t) => (t.event.length + (t.guard ? t.guard.length + 3 : 0)) * 6.7 + 24),
  );
  // columns: breadth-first distance from the initial state (unreachable states go last)
  const depth = new Map<string, number>([[m.initial, 0]]);
  const queue = [m.initial];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const t of m.transitions)
      if (t.from === at && !depth.has(t.to)) {
        depth.set(t.to, depth.get(at)! + 1);
        queue.push(t.to);
      }
  }
  const maxDepth = Math.max(0, ...depth.values());
  for (const s of m.states) if (!depth.has(s.name)) depth.set(s.name, maxDepth + 1);
  const columns = new Map<number, string[]>();
  for (const s of m.states)
    columns.set(depth.get(s.name)!, [...(columns.get(depth.get(s.name)!) ?? []), s.name]);
  const pos = new Map<string, { x: number; y: number }>();
  for (const [col, names] of columns)
    for (const [row, n] of names.entries())
      pos.set(n, { x: PAD + col * (W + GAP_X), y: PAD + 24 + row * (H + GAP_Y + 24) });
  const width = PAD * 2 + (Math.max(...columns.keys()) + 1) * (W + GAP_X) - GAP_X;
  const height = PAD * 2 + 24 + Math.max(...[...columns.values()].map((c) => c.length)) * (H + GAP_Y + 24);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="API state machine ${esc(m.id)}">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker>',
    '<marker id="arrow-miss" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b22"/></marker></defs>',
  ];
  // arrows first, so that boxes sit on top of them
  const seen = new Map<string, number>();
  for (const t of m.transitions) {
    const key = `${t.from}|${t.event}|${t.to}`;
    const miss = taken !== undefined && !taken.has(key);
    const style = miss
      ? 'stroke="#b22" stroke-dasharray="5 4" marker-end="url(#arrow-miss)"'
      : 'stroke="#444" marker-end="url(#arrow)"';
    const label = `${t.event}${t.guard ? ` [${t.guard}]` : ''}`;
    const a = pos.get(t.from)!;
    const b = pos.get(t.to)!;
    const n = seen.get(`${t.from}|${t.to}`) ?? 0;
    seen.set(`${t.from}|${t.to}`, n + 1);
    if (t.from === t.to) {
      const x = a.x + W / 2 + n * 18;
      out.push(
        `<path d="M${x - 12},${a.y} C${x - 30},${a.y - 40} ${x + 30},${a.y - 40} ${x + 12},${a.y}" fill="none" ${style}/>`,
        `<text x="${x}" y="${a.y - 34 - n * 12}" class="t">${esc(label)}</text>`,
      );
      continue;
    }
    const x1 = a.x + (b.x >= a.x ? W : 0);
    const x2 = b.x + (b.x >= a.x ? 0 : W);
    const y1 = a.y + H / 2 + n * 10;
    const y2 = b.y + H / 2 + n * 10;
    const mx = (x1 + x2) / 2;
    const bend = b.x < a.x || a.x === b.x ? 60 : 0;
    out.push(
      `<path d="M${x1},${y1} C${mx},${y1 - bend} ${mx},${y2 - bend} ${x2},${y2}" fill="none" ${style}/>`,
      `<text x="${mx}" y="${(y1 + y2) / 2 + (n === 0 ? -6 : 14 * n) - bend / 2}" class="t">${esc(label)}</text>`,
    );
  }
  for (const s of m.states) {
    const p = pos.get(s.name)!;
    const fill = s.tags.includes('readable') ? '#e3f1e3' : s.tags.includes('pivoted') ? '#e6e6f6' : '#f7f7f7';
    out.push(
      `<rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="10" fill="${fill}" stroke="#333" stroke-width="${s.name === m.initial ? 2.5 : 1.2}"/>`,
    );
    if (s.final)
      out.push(
        `<rect x="${p.x + 4}" y="${p.y + 4}" width="${W - 8}" height="${H - 8}" rx="7" fill="none" stroke="#333"/>`,
      );
    out.push(
      `<text x="${p.x + W / 2}" y="${p.y + (s.tags.length > 0 ? 19 : 28)}" class="s">${esc(s.name)}</text>`,
    );
    if (s.tags.length > 0)
      out.push(`<text x="${p.x + W / 2}" y="${p.y + 35}" class="g">${esc(s.tags.join(' · '))}</text>`);
  }
  out.push(
    '<style>.s{font:600 14px sans-serif;text-anchor:middle}.g{font:11px sans-serif;fill:#555;text-anchor:middle}.t{font:11px monospace;text-anchor:middle;fill:#222}</style>',
    '</svg>',
  );
  return out.join('\n');
}
