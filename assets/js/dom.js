// Building the page: elements from plain data (text only ever through text nodes), the current
// view, and where the focus goes after a render.
export const main = document.getElementById("main");
const SVG = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: `el("a", { href }, "text", child, [more])`; `on*` attributes are listeners. */
export const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
/** An SVG element, the same way. */
export const svgEl = (tag, attrs, ...children) => fill(document.createElementNS(SVG, tag), attrs, children);

/** The query of the current address (`#/page?query`). */
export function params() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

// The name of the field that had the focus when a form was applied: the next render gives it back.
let focusAfterRender = null;

/** Goes to `#/path?query`, remembering the focused field for the next render. */
export function go(path, query) {
  const text = query && [...query.keys()].length ? `?${query}` : "";
  focusAfterRender = document.activeElement && document.activeElement.name ? document.activeElement.name : null;
  location.hash = `#/${path}${text}`;
}

let generation = 0;

/**
 * One rendering of one address. A slow page whose address was left meanwhile draws nothing:
 * `show` and `isCurrent` tell it. `main[data-view]` names the address drawn, `main[data-ready]`
 * the address fully drawn (its late parts too).
 */
export function beginView() {
  const mine = ++generation;
  const hash = location.hash || "#/dashboard";
  main.removeAttribute("data-ready");
  return {
    hash,
    isCurrent: () => mine === generation,
    show(...nodes) {
      if (mine !== generation) return false;
      main.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
      main.dataset.view = hash;
      const name = focusAfterRender;
      focusAfterRender = null;
      const field = name && main.querySelector(`[name="${CSS.escape(name)}"]`);
      if (field) field.focus();
      return true;
    },
    ready() {
      if (mine === generation) main.dataset.ready = hash;
    },
  };
}

/** What went wrong, in place of the page, with a way back. */
export function failure(view, error) {
  const back = el("p", {}, el("a", { href: "#/dashboard" }, "Back to the dashboard"),
    history.length > 1 ? [" · ", el("button", { type: "button", class: "link", onclick: () => history.back() }, "Go back")] : null);
  if (error.status === 404) {
    view.show(el("h1", {}, "Not found"), el("p", { role: "alert" }, "There is nothing here, or it is not within your reach."), back);
  } else {
    view.show(el("h1", {}, "Something went wrong"), el("p", { class: "error", role: "alert" }, error.message), back);
  }
}

/** A filter choice; the form's Apply button applies it (the arrow keys only browse). */
export function select(name, label, choices, selected, emptyText) {
  return el("label", {}, label, el("select", { name },
    emptyText === null ? null : el("option", { value: "" }, emptyText),
    choices.map(([value, text]) => el("option", { value, selected: String(value) === (selected || "") }, text))));
}
