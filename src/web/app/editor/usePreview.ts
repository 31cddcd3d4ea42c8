// The canvas's picture: the server's render of the current document (POST /api/v1/previews),
// asked again after every edit. Edits that come fast (a drag, typing) wait PREVIEW_DEBOUNCE_MS
// for the next. At most one request is on its way at a time: a document that changes meanwhile
// waits, only the newest one, and goes when the request on its way has answered. (Aborting it
// instead would not stop the server, which goes on rendering it in one of the key's few preview
// slots, so fast typing would end in 429s.) An answer older than the image shown is dropped, so
// the preview never goes back in time. On 429/502/503 the last image stays and the request is
// tried again after the time the server asked for.
import { useEffect, useRef, useState } from "react";
import { fetchPreview, PreviewError, type PreviewImage } from "../api.js";
import type { TemplateDocument } from "../state/document-reducer.js";

const PREVIEW_DEBOUNCE_MS = 60;

/** An image shown, with the width of the document it was drawn from. */
interface ShownPreview extends PreviewImage {
  documentWidth: number;
}

export interface PreviewState {
  image: ShownPreview | null;
  /** The document the image shows is older than the one on screen. */
  loading: boolean;
  /** Why the last request gave no image (the previous image stays). */
  problem: string | null;
}

/** One preview to ask for; `seq` grows with each, so answers can be put in order. */
interface Ask {
  apiKey: string;
  document: TemplateDocument;
  scale: number;
  seq: number;
}

export function usePreview(apiKey: string, document: TemplateDocument | null, scale: number): PreviewState {
  const [image, setImage] = useState<ShownPreview | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [retries, setRetries] = useState(0);
  /** The request on its way (only for leaving the editor: a newer document never aborts it). */
  const inFlight = useRef<AbortController | null>(null);
  /** The newest document asked for while a request was on its way. */
  const waiting = useRef<Ask | null>(null);
  const seq = useRef(0);
  const shownSeq = useRef(-1);
  const retryTimer = useRef(0);
  const shownUrl = useRef<string | null>(null);
  const alive = useRef(true);

  const send = useRef<(ask: Ask) => void>(() => undefined);
  send.current = (ask: Ask) => {
    if (inFlight.current) {
      waiting.current = ask; // replaces an older one that was waiting: it is never sent
      return;
    }
    const request = new AbortController();
    inFlight.current = request;
    setLoading(true);
    const next = () => {
      inFlight.current = null;
      const queued = waiting.current;
      waiting.current = null;
      if (queued && alive.current) send.current(queued);
      else setLoading(false);
    };
    fetchPreview(ask.apiKey, ask.document, ask.scale, request.signal).then(
      (answer) => {
        if (!alive.current || ask.seq < shownSeq.current) {
          URL.revokeObjectURL(answer.url);
        } else {
          if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
          shownUrl.current = answer.url;
          shownSeq.current = ask.seq;
          setImage({ ...answer, documentWidth: ask.document.width });
          setProblem(null);
        }
        next();
      },
      (error: unknown) => {
        if (!alive.current) return;
        setProblem(error instanceof Error ? error.message : String(error));
        // A newer document waiting goes now (it is its own try); otherwise try this one again later.
        if (!waiting.current && error instanceof PreviewError && error.retryAfterMs !== null)
          retryTimer.current = window.setTimeout(() => setRetries((n) => n + 1), error.retryAfterMs);
        next();
      },
    );
  };

  useEffect(() => {
    if (!document) return;
    window.clearTimeout(retryTimer.current);
    const timer = window.setTimeout(
      () => send.current({ apiKey, document, scale, seq: ++seq.current }),
      PREVIEW_DEBOUNCE_MS,
    );
    return () => window.clearTimeout(timer);
  }, [apiKey, document, scale, retries]);

  // Leaving the editor: stop the request, the retry, and free the last image.
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
      inFlight.current?.abort();
      inFlight.current = null;
      waiting.current = null;
      window.clearTimeout(retryTimer.current);
      if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
      shownUrl.current = null;
    };
  }, []);

  return { image, loading, problem };
}
