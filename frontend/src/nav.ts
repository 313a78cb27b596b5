// Marks the navigation link of the current page for screen readers and styling.
export function markCurrentNavLink(root: Document): void {
  const here = window.location.pathname;
  root.querySelectorAll<HTMLAnchorElement>("nav a[href]").forEach((link) => {
    const target = new URL(link.href, window.location.href).pathname;
    if (target !== "/" && here.startsWith(target)) {
      link.setAttribute("aria-current", "page");
    }
  });
}
