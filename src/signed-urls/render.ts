// A signed URL's render: created on its first GET through the ordinary accept path (so the 402
// rules, the charge and the refund of a failed render are the ones every render has), exactly
// once, and served from storage afterwards.
//
// Once: the accept claims the idempotency key `signed:<digest>` in the transaction that charges,
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
const copying = new Map<string, Promise<void>>();

/**
 * The copy under the content's own key: later GETs need neither the job nor its output file
 * (which output retention may delete). One write per key at a time in a process (a put's
 * temporary file is named by key and process); across processes the put's rename makes a
 * rewrite harmless.
 */
function copyOnce(deps: Pick<JobsDeps, "storage">, from: string, to: string): Promise<void> {
  let pending = copying.get(to);
  if (!pending) {
    pending = (async () => {
      // Streamed from the job's output into the copy: nothing collected in memory on either backend.
      const object = await deps.storage.get(from);
      if (!object) throw new Error(`output ${from} is missing`);
      await deps.storage.put(to, object.stream, {
        contentType: object.contentType ?? contentTypeForKey(to),
        cacheControl: OUTPUT_CACHE_CONTROL,
      });
    })().finally(() => copying.delete(to));
    copying.set(to, pending);
  }
  return pending;
}

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
  | { kind: "failed"; error: string }
  | { kind: "rendering"; jobId: string };

/**
 * The signed content's image: served from storage when it was rendered before, else rendered
 * now (charged once) and waited for up to `waitMs`. "rendering" when the wait ran out: the job
 * goes on and a later GET serves it.
 */
export async function fetchSignedRender(
  deps: JobsDeps,
  signed: VerifiedSignedRender,
  opts: { waitMs: number; signal?: AbortSignal; requestId?: string },
): Promise<SignedRenderOutcome> {
  const key = signedRenderKey(signed.digest, signed.input.format);
  const stored = await deps.storage.get(key);
  if (stored) return { kind: "image", key, ...stored };

  let jobId = await findSignedRenderJobId(deps.prisma, signed.orgId, signed.digest);
  let job = jobId ? await getJobById(deps.prisma, jobId) : null;
  // Rendered again (once, under a key naming the job it replaces) when there is no job yet, when
  // the last one failed (refunded), or when retention deleted its output with no copy left.
  if (!job || job.status === "failed" || job.outputDeletedAt) {
    const accepted = await createRender(deps, signed.orgId, signed.input, {
      idempotencyKey: job ? `signed:${signed.digest}:after:${job.id}` : `signed:${signed.digest}`,
      requestId: opts.requestId,
      recordWithJob: (tx, created) => recordSignedRender(tx, signed.orgId, signed.digest, created.id),
    });
    job = accepted.job;
  }
  jobId = job.id;

  if (job.status !== "complete") {
    const waited = await waitForFinal(deps, signed.orgId, jobId, opts.waitMs, opts.signal);
    if (!waited.settled) return { kind: "rendering", jobId };
    if (waited.view.status !== "complete") return { kind: "failed", error: waited.view.error ?? "render failed" };
    job = await getJobById(deps.prisma, jobId);
  }
  if (!job.outputKey) return { kind: "failed", error: "the render has no output" };
  await copyOnce(deps, job.outputKey, key);
  const copy = await deps.storage.get(key);
  if (!copy) throw new Error(`stored ${key} but cannot read it back`);
  return { kind: "image", key, ...copy };
}
