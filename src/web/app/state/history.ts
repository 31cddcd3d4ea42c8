// Undo and redo around any pure reducer. The editor's document lives in `present`; every edit
// pushes the previous document on `past`. Edits that arrive as a stream (a drag, typing in one
// field) carry the same `coalesce` key and become one step, so one Ctrl+Z undoes a whole drag.
// `saved` is the document last saved (compared by reference: the reducer returns the same object
// when nothing changed), which is what the unsaved-changes warning asks about.

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  saved: T;
  /** The coalesce key of the last edit, while a stream of edits continues. */
  lastCoalesce: string | null;
}

export type HistoryAction<T, A> =
  | { type: "edit"; action: A; coalesce?: string }
  | { type: "undo" }
  | { type: "redo" }
  /** Starts over on another document (opening a template or version): no undo across it. */
  | { type: "reset"; present: T; saved?: T }
  /**
   * `document` was saved: the one that was sent, which is not the present one when an edit came
   * while the request was on its way (that edit stays unsaved).
   */
  | { type: "saved"; document: T };

/** Undo steps kept; older ones are dropped. */
export const HISTORY_LIMIT = 200;

export function initialHistory<T>(present: T): History<T> {
  return { past: [], present, future: [], saved: present, lastCoalesce: null };
}

export function withHistory<T, A>(reducer: (state: T, action: A) => T) {
  return (history: History<T>, action: HistoryAction<T, A>): History<T> => {
    switch (action.type) {
      case "edit": {
        const next = reducer(history.present, action.action);
        if (next === history.present) return history;
        // Same stream as the last edit: replace the present, keep the step that started it.
        if (action.coalesce !== undefined && action.coalesce === history.lastCoalesce)
          return { ...history, present: next, future: [] };
        const past = [...history.past, history.present].slice(-HISTORY_LIMIT);
        return { ...history, past, present: next, future: [], lastCoalesce: action.coalesce ?? null };
      }
      case "undo": {
        const previous = history.past.at(-1);
        if (previous === undefined) return history;
        return {
          ...history,
          past: history.past.slice(0, -1),
          present: previous,
          future: [history.present, ...history.future],
          lastCoalesce: null,
        };
      }
      case "redo": {
        const [next, ...rest] = history.future;
        if (next === undefined) return history;
        return {
          ...history,
          past: [...history.past, history.present],
          present: next,
          future: rest,
          lastCoalesce: null,
        };
      }
      case "reset":
        return { ...initialHistory(action.present), saved: action.saved ?? action.present };
      case "saved":
        // Ends the coalescing stream only when the present is what was saved: a drag still going
        // on after the save goes on being one step.
        return {
          ...history,
          saved: action.document,
          lastCoalesce: action.document === history.present ? null : history.lastCoalesce,
        };
    }
  };
}

export const canUndo = (history: History<unknown>) => history.past.length > 0;
export const canRedo = (history: History<unknown>) => history.future.length > 0;
export const isDirty = (history: History<unknown>) => history.present !== history.saved;
