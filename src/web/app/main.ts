// Templified Studio: paste a key, pick a template, edit its text and image layers, render, and
// watch the job live. Plain DOM: the page is small enough that a framework would be most of it.
import type { Client } from "graphql-ws";
import productCard from "../../../test/fixtures/product-card.template.json" with { type: "json" };
import quoteCard from "../../../test/fixtures/quote-card.template.json" with { type: "json" };
import socialCard from "../../../test/fixtures/social-card.template.json" with { type: "json" };
import { ApiError, gql, liveClient, rest, subscribe, type LiveState } from "./api.js";
import "./style.css";

// ---- Types (the GraphQL shapes the page asks for) ----

type JobStatus = "pending" | "processing" | "complete" | "failed";
interface Job {
  id: string;
  status: JobStatus;
  templateId: string | null;
  outputUrl: string | null;
  renderMs: number | null;
  error: string | null;
  createdAt: string;
}
interface Layer {
  type: string;
  name: string;
  text?: string;
  image_url?: string;
}
interface Template {
  id: string;
  name: string;
  width: number;
  height: number;
  version: number;
  document: { layers?: Layer[] };
}
interface Organization {
  name: string;
  balanceCents: number;
  status: "ACTIVE" | "SUSPENDED";
  prices: { standardCents: number };
}
interface TypedError {
  __typename: string;
  message: string;
  fields?: { path: string; message: string }[];
}

const JOB_FIELDS = "id status templateId outputUrl renderMs error createdAt";
const VIEWER = `query Viewer { viewer { organization { name balanceCents status prices { standardCents } } } }`;
const TEMPLATES = `query Templates { templates(first: 50) { edges { node { id name width height version document } } } }`;
const JOBS = `query Jobs { jobs(first: 10) { edges { node { ${JOB_FIELDS} } } } }`;
const CREATE_RENDER = `mutation CreateRender($input: CreateRenderInput!) {
  createRender(input: $input) {
    __typename
    ... on Job { ${JOB_FIELDS} }
    ... on ValidationError { fields { path message } }
    ... on Error { message }
  }
}`;
const JOB_STATUS = `subscription JobStatus($id: ID!) { jobStatus(jobId: $id) { ${JOB_FIELDS} } }`;
const JOB_UPDATES = `subscription JobUpdates { jobUpdates { ${JOB_FIELDS} } }`;

/** The starter templates, bundled at build time from test/fixtures. */
const STARTERS: unknown[] = [socialCard, productCard, quoteCard];
const KEY_STORAGE = "templified.apiKey";
const RANK: Record<JobStatus, number> = { pending: 0, processing: 1, complete: 2, failed: 2 };

// ---- DOM ----

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) if (value !== undefined) el.setAttribute(name, value);
  for (const child of children) if (child) el.append(child);
  return el;
}

const ui = {
  keyForm: $<HTMLFormElement>("key-form"),
  keyInput: $<HTMLInputElement>("api-key"),
  connect: $<HTMLButtonElement>("connect"),
  forget: $<HTMLButtonElement>("forget"),
  account: $("account"),
  orgName: $("org-name"),
  balance: $("balance"),
  orgStatus: $("org-status"),
  live: $("live"),
  error: $("error"),
  studio: $("studio"),
  template: $<HTMLSelectElement>("template"),
  templateMeta: $("template-meta"),
  addStarters: $<HTMLButtonElement>("add-starters"),
  renderForm: $<HTMLFormElement>("render-form"),
  layers: $("layers"),
  format: $<HTMLSelectElement>("format"),
  price: $("price"),
  render: $<HTMLButtonElement>("render"),
  resultEmpty: $("result-empty"),
  statuses: $<HTMLOListElement>("statuses"),
  result: $("result"),
  output: $<HTMLImageElement>("output"),
  outputLink: $<HTMLAnchorElement>("output-link"),
  outputCaption: $("output-caption"),
  jobs: $<HTMLUListElement>("jobs"),
  jobsEmpty: $("jobs-empty"),
};

// ---- State ----

interface Watch {
  jobId: string;
  rank: number;
  startedAt: number;
  stop?: () => void;
}

const state = {
  key: null as string | null,
  client: null as Client | null,
  stopUpdates: null as (() => void) | null,
  templates: [] as Template[],
  jobs: new Map<string, Job>(),
  watch: null as Watch | null,
  balanceTimer: 0,
};

// ---- Errors ----

function showError(error: unknown) {
  ui.error.replaceChildren();
  if (typeof error === "object" && error !== null && "__typename" in error) {
    const typed = error as TypedError;
    ui.error.append(h("strong", {}, typed.message));
    if (typed.fields?.length)
      ui.error.append(h("ul", {}, ...typed.fields.map((f) => h("li", {}, `${f.path}: ${f.message}`))));
  } else {
    ui.error.append(error instanceof ApiError || error instanceof Error ? error.message : String(error));
  }
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

async function busy<T>(button: HTMLButtonElement, label: string, work: () => Promise<T>): Promise<T | undefined> {
  const before = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try {
    return await work();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = before;
  }
}

// ---- Account ----

const dollars = (cents: number) => `${cents < 0 ? "-" : ""}$${(Math.abs(cents) / 100).toFixed(2)}`;

function showOrganization(org: Organization) {
  ui.orgName.textContent = org.name;
  ui.balance.textContent = dollars(org.balanceCents);
  ui.orgStatus.textContent = org.status === "ACTIVE" ? "Active" : "Suspended";
  ui.orgStatus.dataset.state = org.status.toLowerCase();
  ui.price.textContent = `${org.prices.standardCents}¢ per render`;
  ui.account.hidden = false;
}

async function refreshBalance() {
  if (!state.key) return;
  const { viewer } = await gql<{ viewer: { organization: Organization } }>(state.key, VIEWER);
  showOrganization(viewer.organization);
}

/** Balance moves when a job is accepted (charge) or fails (refund): refresh once per burst of events. */
function scheduleBalanceRefresh() {
  window.clearTimeout(state.balanceTimer);
  state.balanceTimer = window.setTimeout(() => void refreshBalance().catch(() => undefined), 250);
}

function setLive(live: LiveState) {
  ui.live.dataset.state = live;
  ui.live.textContent = { connecting: "connecting…", live: "● live", offline: "offline", refused: "live refused" }[
    live
  ];
}

async function connect(key: string) {
  disconnect();
  clearError();
  const { viewer } = await gql<{ viewer: { organization: Organization } }>(key, VIEWER);
  localStorage.setItem(KEY_STORAGE, key);
  state.key = key;
  showOrganization(viewer.organization);
  ui.studio.hidden = false;
  ui.forget.hidden = false;
  ui.connect.classList.remove("primary");
  startUpdates(key);
  await Promise.all([loadTemplates(), loadJobs()]);
}

function disconnect() {
  stopWatching();
  state.stopUpdates?.();
  state.stopUpdates = null;
  void state.client?.dispose();
  state.client = null;
  state.key = null;
  state.templates = [];
  state.jobs.clear();
  ui.studio.hidden = true;
  ui.account.hidden = true;
  ui.forget.hidden = true;
  ui.connect.classList.add("primary");
  resetResult();
}

// ---- Templates and layers ----

async function loadTemplates(selectId?: string) {
  if (!state.key) return;
  const data = await gql<{ templates: { edges: { node: Template }[] } }>(state.key, TEMPLATES);
  state.templates = data.templates.edges.map((e) => e.node);
  const keep = selectId ?? ui.template.value;
  ui.template.replaceChildren(
    ...(state.templates.length === 0
      ? [h("option", { value: "" }, "No templates yet: add the starter templates")]
      : state.templates.map((t) => h("option", { value: t.id }, `${t.name} · ${t.width}×${t.height}`))),
  );
  if (state.templates.some((t) => t.id === keep)) ui.template.value = keep;
  ui.addStarters.classList.toggle("primary", state.templates.length === 0);
  ui.addStarters.classList.toggle("secondary", state.templates.length > 0);
  showTemplate();
  renderJobs(); // template names in the jobs list
}

const currentTemplate = () => state.templates.find((t) => t.id === ui.template.value) ?? null;

function showTemplate() {
  const template = currentTemplate();
  ui.render.disabled = !template;
  ui.layers.replaceChildren();
  if (!template) {
    ui.templateMeta.textContent = "";
    return;
  }
  const layers = template.document.layers ?? [];
  const editable = layers.filter((l) => l.type === "text" || l.type === "image");
  ui.templateMeta.textContent = `${template.width} × ${template.height} px · version ${template.version} · ${layers.length} layers, ${editable.length} editable`;
  for (const layer of editable) {
    const id = `layer-${layer.name}`;
    const label = h("label", { for: id }, layer.name, h("span", { class: `tag tag-${layer.type}` }, layer.type));
    let field: HTMLInputElement | HTMLTextAreaElement;
    if (layer.type === "text") {
      const text = layer.text ?? "";
      field = h("textarea", { id, rows: String(Math.min(4, Math.max(1, Math.ceil(text.length / 52)))) });
      field.value = text;
      field.dataset.original = text;
    } else {
      field = h("input", { id, type: "url", placeholder: "https://… (empty: the layer's placeholder colour)" });
      field.value = layer.image_url ?? "";
      field.dataset.original = layer.image_url ?? "";
    }
    field.dataset.layer = layer.name;
    field.dataset.kind = layer.type;
    field.spellcheck = layer.type === "text";
    ui.layers.append(h("div", { class: "field" }, label, field));
  }
  if (editable.length === 0)
    ui.layers.append(h("p", { class: "hint" }, "This template has no text or image layers to edit."));
}

/** Only what the user changed: the template keeps everything else. */
function modifications() {
  const mods: { name: string; text?: string; imageUrl?: string }[] = [];
  for (const field of ui.layers.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("[data-layer]")) {
    const name = field.dataset.layer ?? "";
    if (field.dataset.kind === "text" && field.value !== field.dataset.original) mods.push({ name, text: field.value });
    const url = field.value.trim();
    if (field.dataset.kind === "image" && url && url !== field.dataset.original) mods.push({ name, imageUrl: url });
  }
  return mods;
}

async function addStarters() {
  if (!state.key) return;
  let first: string | undefined;
  for (const document of STARTERS) {
    const created = await rest<{ template_id: string }>(state.key, "POST", "/api/v1/templates", document);
    first ??= created.template_id;
  }
  await loadTemplates(first);
}

// ---- Rendering and the live status ----

function resetResult() {
  ui.statuses.replaceChildren();
  ui.result.hidden = true;
  ui.output.removeAttribute("src");
  ui.resultEmpty.hidden = false;
}

function stopWatching() {
  state.watch?.stop?.();
  state.watch = null;
}

async function renderCurrent() {
  const template = currentTemplate();
  const client = state.client;
  if (!state.key || !client || !template) return;
  clearError();
  stopWatching();
  resetResult();
  ui.resultEmpty.hidden = true;
  const startedAt = performance.now();
  const input = { templateId: template.id, format: ui.format.value, modifications: modifications() };
  const { createRender } = await gql<{ createRender: (Job & { __typename: "Job" }) | TypedError }>(
    state.key,
    CREATE_RENDER,
    { input },
  );
  if (createRender.__typename !== "Job") {
    ui.resultEmpty.hidden = false;
    showError(createRender);
    return;
  }
  const job = createRender as Job;
  const watch: Watch = { jobId: job.id, rank: -1, startedAt };
  state.watch = watch;
  showStatus(job);
  upsertJob(job);
  scheduleBalanceRefresh();
  // Resolves when the job is final (the subscription completes after the final state).
  await new Promise<void>((resolve) => {
    watch.stop = subscribe<{ jobStatus: Job }>(
      client,
      JOB_STATUS,
      { id: job.id },
      {
        next: ({ jobStatus }) => {
          showStatus(jobStatus);
          upsertJob(jobStatus);
        },
        error: (message) => {
          showError(`Live status lost: ${message}`);
          resolve();
        },
        complete: resolve,
      },
    );
  });
}

/** Adds the job's status to the timeline if it is the watched job and a step forward. */
function showStatus(job: Job) {
  const watch = state.watch;
  if (!watch || job.id !== watch.jobId || RANK[job.status] <= watch.rank) return;
  watch.rank = RANK[job.status];
  const elapsed = Math.round(performance.now() - watch.startedAt);
  ui.statuses.append(
    h(
      "li",
      { "data-status": job.status, class: `status status-${job.status}` },
      h("span", { class: "status-name" }, job.status),
      h("span", { class: "status-time" }, `+${elapsed} ms`),
    ),
  );
  if (job.status === "complete" && job.outputUrl) {
    const template = state.templates.find((t) => t.id === job.templateId);
    ui.output.src = job.outputUrl;
    ui.outputLink.href = job.outputUrl;
    ui.outputCaption.replaceChildren(
      [template && `${template.name}`, job.renderMs !== null && `rendered in ${job.renderMs} ms`, job.id]
        .filter(Boolean)
        .join(" · "),
    );
    ui.result.hidden = false;
  }
  if (job.status === "failed") showError(`The render failed: ${job.error ?? "unknown error"}. It was refunded.`);
}

// ---- Recent jobs ----

async function loadJobs() {
  if (!state.key) return;
  const data = await gql<{ jobs: { edges: { node: Job }[] } }>(state.key, JOBS);
  state.jobs.clear();
  for (const { node } of data.jobs.edges) state.jobs.set(node.id, node);
  renderJobs();
}

function upsertJob(job: Job) {
  const known = state.jobs.get(job.id);
  if (known && RANK[known.status] > RANK[job.status]) return; // a late event never goes back
  state.jobs.set(job.id, { ...known, ...job });
  renderJobs();
}

function renderJobs() {
  const recent = [...state.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 10);
  ui.jobsEmpty.hidden = recent.length > 0;
  ui.jobs.replaceChildren(
    ...recent.map((job) => {
      const template = state.templates.find((t) => t.id === job.templateId);
      const when = new Date(job.createdAt).toLocaleTimeString();
      return h(
        "li",
        { "data-job-id": job.id, "data-status": job.status },
        h("span", { class: `badge badge-${job.status}` }, job.status),
        h("span", { class: "job-name" }, template?.name ?? job.templateId ?? "design group", h("small", {}, job.id)),
        h(
          "span",
          { class: "job-meta" },
          job.status === "failed" ? (job.error ?? "") : job.renderMs !== null ? `${job.renderMs} ms · ${when}` : when,
        ),
        job.outputUrl
          ? h("a", { href: job.outputUrl, target: "_blank", rel: "noopener", class: "job-link" }, "image")
          : h("span", { class: "job-link" }),
      );
    }),
  );
}

function startUpdates(key: string) {
  const client = liveClient(key, setLive);
  state.client = client;
  state.stopUpdates = subscribe<{ jobUpdates: Job }>(
    client,
    JOB_UPDATES,
    {},
    {
      next: ({ jobUpdates }) => {
        upsertJob(jobUpdates);
        showStatus(jobUpdates); // a status jobStatus had not caught up with yet
        if (jobUpdates.status === "pending" || jobUpdates.status === "failed") scheduleBalanceRefresh();
      },
      error: (message) => showError(`Live job updates stopped: ${message}`),
      complete: () => undefined,
    },
  );
}

// ---- Wiring ----

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  if (key) void busy(ui.connect, "Connecting…", () => connect(key));
});
ui.forget.addEventListener("click", () => {
  localStorage.removeItem(KEY_STORAGE);
  ui.keyInput.value = "";
  disconnect();
  clearError();
});
ui.template.addEventListener("change", () => {
  clearError();
  showTemplate();
});
ui.addStarters.addEventListener("click", () => {
  clearError();
  void busy(ui.addStarters, "Adding…", addStarters);
});
ui.renderForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(ui.render, "Rendering…", renderCurrent);
});

const saved = localStorage.getItem(KEY_STORAGE);
if (saved) {
  ui.keyInput.value = saved;
  void busy(ui.connect, "Connecting…", () => connect(saved));
}
