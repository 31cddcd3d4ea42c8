// The errors only a preview answers with (their REST status and GraphQL code: src/error-answers.ts).

/** The preview's render failed: an image that cannot be fetched, a render over its time budget, ... */
export class PreviewFailedError extends Error {}

/** No render worker answered the preview within PREVIEW_TIMEOUT_MS. */
export class PreviewUnavailableError extends Error {}
