// The shapes the page reads from the API: GraphQL jobs and the organisation, REST templates,
// template versions and Send-To presets.
import type { TemplateDocument } from "./state/document-reducer.js";

export type JobStatus = "pending" | "processing" | "complete" | "failed";
type SendToStatus = "pending" | "delivering" | "delivered" | "failed";

export interface Job {
  id: string;
  status: JobStatus;
  templateId: string | null;
  outputUrl: string | null;
  renderMs: number | null;
  error: string | null;
  createdAt: string;
  sendToStatus: SendToStatus | null;
  sendToError: string | null;
}

export interface Organization {
  name: string;
  balanceCents: number;
  status: "ACTIVE" | "SUSPENDED";
  prices: { standardCents: number; largeCents: number; largeAboveMegapixels: number; backgroundRemovalCents: number };
}

/** GET /api/v1/templates/:id (and each of its versions): the metadata and the document's fields. */
export interface TemplateRecord extends TemplateDocument {
  template_id: string;
  name: string;
  version: number;
  created_at: string;
  updated_at?: string;
}

export interface Preset {
  preset_id: string;
  name: string;
  type: string;
}

/** A GraphQL typed error (the union members other than the result). */
export interface TypedError {
  __typename: string;
  message: string;
  fields?: { path: string; message: string }[];
}

/** The document part of a template record. */
export function documentOf(record: TemplateDocument): TemplateDocument {
  return { width: record.width, height: record.height, background: record.background, layers: record.layers };
}

/** The order a job's statuses come in: a late event never moves a job back. */
export const STATUS_RANK: Record<JobStatus, number> = { pending: 0, processing: 1, complete: 2, failed: 2 };

export const dollars = (cents: number) => `${cents < 0 ? "-" : ""}$${(Math.abs(cents) / 100).toFixed(2)}`;
