// A signed URL's render: created on its first GET through the ordinary accept path (so the 402
// rules, the charge and the refund of a failed render are the ones every render has), exactly
// once, and served from storage afterwards.
//
// Once: the accept claims the idempotency key `signed <digest>` in the transaction that charges,
// so concurrent first GETs create one job; that transaction also writes signed_renders(org,
// digest -> job), which outlives the keys' 24 hours. Later GETs find the stored copy
// (`signed/<digest>.<ext>`, written when the job completes) or the row, and never accept again.
// A failed render (refunded) is retried by the next GET under a key naming the failed job, so
// that retry, too, happens once however many GETs race for it.
import type { Readable } from "node:stream";
import { findTemplate } from "../templates/service.js";
import { NotFoundError } from "../errors.js";
import { createRender } from "../jobs/accept.js";
import { getJobById } from "../jobs/job-repository.js";
import type { JobsDeps } from "../jobs/service.js";
import { waitForFinal } from "../jobs/watch.js";
import { contentTypeForKey } from "../storage/content-type.js";
import { OUTPUT_CACHE_CONTROL, signedRenderKey } from "../storage/storage.js";
import type { SignedRenderInput } from "../views/signed-urls.js";
import { findSignedRenderJobId, recordSignedRender } from "./repository.js";
import { urlSigningSecretView } from "./secrets.js";
import { signRenderUrl } from "./url.js";
import type { VerifiedSignedRender } from "./verify.js";

/** Copies being written by this process, by key: concurrent GETs of one URL share one. */
const copying = new Map<string, Promise<boolean>>();

/**
 * The copy under the content's own key: later GETs need neither the job nor its output file
 * (which output retention may delete). One write per key at a time in a process (a put's
 * temporary file is named by key and process); across processes the put's rename makes a
 * rewrite harmless. False when the job's output is gone (retention deleted it, or it was lost).
 */
function copyOnce(deps: Pick<JobsDeps, "storage">, from: string, to: string): Promise<boolean> {
  let pending = copying.get(to);
  if (!pending) {
    pending = (async () => {
      // Streamed from the job's output into the copy: nothing collected in memory on either backend.
      const object = await deps.storage.get(from);
      if (!object) return false;
      try {
        await deps.storage.put(to, object.stream, {
          contentType: object.contentType ?? contentTypeForKey(to),
          cacheControl: OUTPUT_CACHE_CONTROL,
        });
      } finally {
        // A failed put leaves the source unread: release its file handle or socket.
        object.stream.destroy();
      }
      return true;
    })().finally(() => copying.delete(to));
    copying.set(to, pending);
  }
  return pending;
}

/**
 * How long after a failed render the next GET may render again. Every retry is a charge, a refund
 * and a worker's fetch of the template's images, and anyone holding the URL can ask: a URL whose
 * render keeps failing (its image host answers 404, say) is retried at most this often, however
 * many GETs arrive.
 */
export const SIGNED_RETRY_AFTER_MS = 60_000;

/**
 * The idempotency key of a signed URL's render. It has a space, which no client's Idempotency-Key
 * may hold (printable ASCII without spaces), so an organisation's own keys can never collide with it.
 */
const renderKey = (digest: string, after?: string) => `signed ${digest}${after ? ` after ${after}` : ""}`;

/** POST /api/v1/signed-urls: the URL, signed with the organisation's current secret. */
export async function createSignedUrl(
  deps: JobsDeps,
  orgId: string,
  input: SignedRenderInput,
  baseUrl: string,
): Promise<{ url: string }> {
  // An unknown template is refused now rather than on every GET of a URL that cannot render.
  if (!(await findTemplate(deps.prisma, orgId, input.template_id)))
    throw new NotFoundError(`template ${input.template_id} not found`);
  const { signing_secret } = await urlSigningSecretView(deps, orgId);
  return { url: await signRenderUrl({ ...input, baseUrl, orgId, secret: signing_secret }) };
}

export type SignedRenderOutcome =
  | { kind: "image"; key: string; stream: Readable; size: number }
  | { kind: "failed"; jobId: string; retryAfterSeconds: number }
  | { kind: "rendering"; jobId: string };

/**
 * The signed content's image: served from storage when it was rendered before, else rendered
 * now (charged once) and waited for up to `waitMs`. "rendering" when the wait ran out: the job
 * goes on and a later GET serves it. "failed" names the failed job (refunded) and when a GET may
 * render again; why it failed is the organisation's to read (GET /api/v1/create/:job_id), not
 * the anonymous caller's.
 */
export async function fetchSignedRender(
  deps: JobsDeps,
  signed: VerifiedSignedRender,
  opts: { waitMs: number; signal?: AbortSignal; requestId?: string; now?: () => number },
): Promise<SignedRenderOutcome> {
  const now = opts.now ?? Date.now;
  const key = signedRenderKey(signed.digest, signed.input.format);
  const stored = await deps.storage.get(key);
  if (stored) return { kind: "image", key, ...stored };

  const jobId = await findSignedRenderJobId(deps.prisma, signed.orgId, signed.digest);
  let job = jobId ? await getJobById(deps.prisma, jobId) : null;
  for (let attempt = 0; ; attempt++) {
    if (job?.status === "failed") {
      const waited = now() - (job.completedAt ?? job.createdAt).getTime();
      if (waited < SIGNED_RETRY_AFTER_MS)
        return { kind: "failed", jobId: job.id, retryAfterSeconds: Math.ceil((SIGNED_RETRY_AFTER_MS - waited) / 1000) };
    }
    // Rendered (again: once, under a key naming the job it replaces) when there is no job yet,
    // when the last one failed long enough ago, or when its output is gone with no copy left.
    if (!job || job.status === "failed" || job.outputDeletedAt) {
      const accepted = await createRender(deps, signed.orgId, signed.input, {
        idempotencyKey: renderKey(signed.digest, job?.id),
        requestId: opts.requestId,
        recordWithJob: (tx, created) => recordSignedRender(tx, signed.orgId, signed.digest, created.id),
      });
      job = accepted.job;
    }
    if (job.status !== "complete") {
      const waited = await waitForFinal(deps, signed.orgId, job.id, opts.waitMs, opts.signal);
      if (!waited.settled) return { kind: "rendering", jobId: job.id };
      job = await getJobById(deps.prisma, job.id);
      if (job.status !== "complete")
        return { kind: "failed", jobId: job.id, retryAfterSeconds: SIGNED_RETRY_AFTER_MS / 1000 };
    }
    if (job.outputKey && (await copyOnce(deps, job.outputKey, key))) break;
    // Complete, but its output is gone and unmarked (deleted by hand, lost, or swept by a
    // retention pass that has not marked it yet): treat it as deleted, and render it once more.
    if (attempt > 0) throw new Error(`the output of job ${job.id} is missing right after it completed`);
    job = { ...job, outputDeletedAt: job.outputDeletedAt ?? new Date(now()) };
  }
  const copy = await deps.storage.get(key);
  if (!copy) throw new Error(`stored ${key} but cannot read it back`);
  return { kind: "image", key, ...copy };
}
