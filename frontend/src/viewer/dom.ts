// DOM building without innerHTML: every text from a config goes in as text, so nothing
// the server sends can turn into markup (and nothing needs an inline script or style).

type AttributeValue = string | number | boolean | undefined | null;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, AttributeValue> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children);
  return element;
}

/** The parsed `json_script` block with this id; throws when the page lacks it. */
export function readJsonConfig<T>(id: string): T {
  const script = document.getElementById(id);
  if (!script?.textContent) throw new Error(`The page has no #${id} configuration.`);
  return JSON.parse(script.textContent) as T;
}

/** Show a fatal problem in place of the page's content. */
export function showFatal(root: HTMLElement, message: string): void {
  root.replaceChildren(el("p", { class: "viewer-fatal", role: "alert" }, [message]));
}
