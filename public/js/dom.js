// A tiny element builder, so that views read as the markup they make.

/**
 * Makes an element. `attrs` keys: `class`, `text`, `dataset` (an object), `on` (event
 * handlers), anything else becomes an attribute (false/null/undefined are skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'on') for (const [name, fn] of Object.entries(value)) element.addEventListener(name, fn);
    else if (key === 'style') element.setAttribute('style', value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children, keeping focus on an equivalent element when possible. */
export function replace(container, ...children) {
  const focused = document.activeElement;
  const focusKey = focused && container.contains(focused) ? focused.dataset.focusKey : null;
  container.replaceChildren();
  append(container, children);
  if (focusKey) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

/** "1 page", "3 pages". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
