// Send-To presets: destinations an organisation saves once (credentials included, encrypted at
// rest) and names by id in `send_to: {"type":"preset","preset_id":…}`. Views never show the
// credentials, only a mask of them. Deleting hides a preset; jobs queued with it fail to deliver.
import type { Db } from "../db/client.js";
import { newId } from "../db/ids.js";
import { NotFoundError } from "../errors.js";
import type { SendToPreset } from "../generated/prisma/client.js";
import { decryptSecret, encryptSecret, maskSecret } from "./crypto.js";
import {
  findLivePreset,
  insertPreset,
  listLivePresets,
  softDeletePreset,
  updatePresetRow,
  type PresetRow,
} from "./delivery-repository.js";
import { DirectSendTo } from "../views/send-to.js";
import { PresetInput } from "../views/requests.js";

interface PresetDeps {
  prisma: Db;
  secretsKey: Buffer;
}

export interface PresetView {
  preset_id: string;
  name: string;
  type: DirectSendTo["type"];
  /** The destination with its credentials masked. */
  destination: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

const CREDENTIAL_FIELDS = new Set(["access_token", "api_key"]);

function presetView(p: SendToPreset, key: Buffer): PresetView {
  const dest = JSON.parse(decryptSecret(p.config, key)) as Record<string, unknown>;
  const masked = Object.fromEntries(
    Object.entries(dest).map(([k, v]) => [k, CREDENTIAL_FIELDS.has(k) && typeof v === "string" ? maskSecret(v) : v]),
  );
  return {
    preset_id: p.id,
    name: p.name,
    type: p.type as DirectSendTo["type"],
    destination: masked,
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  };
}

const presetRow = (input: PresetInput, key: Buffer): PresetRow => ({
  name: input.name,
  type: input.destination.type,
  config: encryptSecret(JSON.stringify(input.destination), key),
});

async function livePreset(db: Db, orgId: string, id: string): Promise<SendToPreset> {
  const row = await findLivePreset(db, orgId, id);
  if (!row) throw new NotFoundError("send-to preset not found");
  return row;
}

/** The destination a preset holds now, decrypted; throws when the preset is gone. */
export async function presetDestination(deps: PresetDeps, orgId: string, presetId: string): Promise<DirectSendTo> {
  const preset = await findLivePreset(deps.prisma, orgId, presetId);
  if (!preset) throw new Error(`send-to preset ${presetId} no longer exists`);
  return DirectSendTo.parse(JSON.parse(decryptSecret(preset.config, deps.secretsKey)));
}

export async function createPreset(deps: PresetDeps, orgId: string, input: PresetInput): Promise<PresetView> {
  return presetView(
    await insertPreset(deps.prisma, newId("stp"), orgId, presetRow(input, deps.secretsKey)),
    deps.secretsKey,
  );
}

export async function getPreset(deps: PresetDeps, orgId: string, id: string): Promise<PresetView> {
  return presetView(await livePreset(deps.prisma, orgId, id), deps.secretsKey);
}

export async function listPresets(deps: PresetDeps, orgId: string): Promise<PresetView[]> {
  return (await listLivePresets(deps.prisma, orgId)).map((r) => presetView(r, deps.secretsKey));
}

export async function updatePreset(
  deps: PresetDeps,
  orgId: string,
  id: string,
  input: PresetInput,
): Promise<PresetView> {
  await livePreset(deps.prisma, orgId, id);
  return presetView(await updatePresetRow(deps.prisma, id, presetRow(input, deps.secretsKey)), deps.secretsKey);
}

export async function deletePreset(db: Db, orgId: string, id: string): Promise<void> {
  await livePreset(db, orgId, id);
  await softDeletePreset(db, id);
}
