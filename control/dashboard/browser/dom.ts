/** Building the page's elements: HTML and SVG, attributes skipped when absent, text for strings. */

export type Child = Node | string | number | null | undefined;
export type Attributes = Record<string, string | number | boolean | null | undefined> | null;

const SVG_NS = "http://www.w3.org/2000/svg";

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

function setAttributes(node: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
}

function append(node: Node, children: Child | Child[]): void {
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === null || child === undefined) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

export function el(tag: string, attributes: Attributes = null, children?: Child | Child[]): HTMLElement {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

export function svgEl(tag: string, attributes: Attributes = null, children?: Child | Child[]): SVGElement {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

export function replaceChildren(node: Element | null, children: Child | Child[]): void {
  if (!node) return;
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, children);
}
