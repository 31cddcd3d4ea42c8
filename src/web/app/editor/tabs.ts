// Arrow-key navigation for a tablist (the WAI-ARIA tabs pattern, selection follows focus): Left
// and Right move to the previous or next tab (wrapping), Home and End to the first and last.
import type { KeyboardEvent } from "react";

export function tabKeyDown<T extends string>(
  event: KeyboardEvent<HTMLElement>,
  tabs: readonly T[],
  current: T,
  select: (tab: T) => void,
  idOf: (tab: T) => string,
) {
  const index = tabs.indexOf(current);
  const next =
    event.key === "ArrowRight"
      ? tabs[(index + 1) % tabs.length]
      : event.key === "ArrowLeft"
        ? tabs[(index - 1 + tabs.length) % tabs.length]
        : event.key === "Home"
          ? tabs[0]
          : event.key === "End"
            ? tabs.at(-1)
            : undefined;
  if (next === undefined) return;
  event.preventDefault();
  // The editor's own arrow keys (nudging the selected layer) must not see this one.
  event.stopPropagation();
  select(next);
  document.getElementById(idOf(next))?.focus();
}
