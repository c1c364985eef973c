/** Figures as the dashboard writes them; a missing figure is a dash. */

type Figure = number | null | undefined;

export function shortName(name: string): string {
  return name.replace(/^Outpost-/, "");
}

export function pct(x: Figure): string {
  return x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)} %`;
}

export function ms(x: Figure): string {
  if (x === null || x === undefined) return "–";
  return x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`;
}

export function rate(x: Figure): string {
  if (x === null || x === undefined) return "–";
  return x < 10 ? x.toFixed(1) : String(Math.round(x));
}

export function bytes(x: Figure): string {
  if (x === null || x === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = x;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? String(Math.round(value)) : value.toFixed(1)} ${units[unit]}`;
}

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString();
}

/** Red at no hits, green at all hits. */
export function hitColour(ratio: Figure): string {
  return ratio === null || ratio === undefined ? "#58a6ff" : `hsl(${Math.round(ratio * 120)}, 70%, 50%)`;
}
