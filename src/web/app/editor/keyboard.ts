// Which key presses belong to a form field rather than to the editor's shortcuts.

/** True when the key press goes to something that takes text (so arrows, Delete and Ctrl+Z are its own). */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement)
    return true;
  if (target instanceof HTMLInputElement)
    return !["checkbox", "radio", "button", "submit", "color", "range"].includes(target.type);
  return false;
}
