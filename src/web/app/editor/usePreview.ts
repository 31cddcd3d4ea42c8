// The canvas's picture: the server's render of the current document (POST /api/v1/previews),
// asked again after every edit. Edits that come fast (a drag, typing) wait PREVIEW_DEBOUNCE_MS
// for the next; a newer document aborts the request for an older one (latest wins), so the
// preview never goes back in time. On 429/502/503 the last image stays and the request is tried
// again after the time the server asked for.
import { useEffect, useRef, useState } from "react";
import { fetchPreview, PreviewError, type PreviewImage } from "../api.js";
import type { TemplateDocument } from "../state/document-reducer.js";

const PREVIEW_DEBOUNCE_MS = 60;

export interface PreviewState {
  image: PreviewImage | null;
  /** The document the image shows is older than the one on screen. */
  loading: boolean;
  /** Why the last request gave no image (the previous image stays). */
  problem: string | null;
}

export function usePreview(apiKey: string, document: TemplateDocument | null, scale: number): PreviewState {
  const [image, setImage] = useState<PreviewImage | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [retries, setRetries] = useState(0);
  const controller = useRef<AbortController | null>(null);
  const retryTimer = useRef(0);
  const shownUrl = useRef<string | null>(null);

  useEffect(() => {
    if (!document) return;
    window.clearTimeout(retryTimer.current);
    const timer = window.setTimeout(() => {
      controller.current?.abort();
      const request = new AbortController();
      controller.current = request;
      setLoading(true);
      fetchPreview(apiKey, document, scale, request.signal).then(
        (next) => {
          if (request.signal.aborted) return URL.revokeObjectURL(next.url);
          if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
          shownUrl.current = next.url;
          setImage(next);
          setProblem(null);
          setLoading(false);
        },
        (error: unknown) => {
          if (request.signal.aborted) return;
          setLoading(false);
          setProblem(error instanceof Error ? error.message : String(error));
          if (error instanceof PreviewError && error.retryAfterMs !== null)
            retryTimer.current = window.setTimeout(() => setRetries((n) => n + 1), error.retryAfterMs);
        },
      );
    }, PREVIEW_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [apiKey, document, scale, retries]);

  // Leaving the editor: stop the request, the retry, and free the last image.
  useEffect(
    () => () => {
      controller.current?.abort();
      window.clearTimeout(retryTimer.current);
      if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
    },
    [],
  );

  return { image, loading, problem };
}
