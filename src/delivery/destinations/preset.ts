// send_to preset: a destination the organisation saved (src/delivery/presets.ts), named by id.
// It sends nothing itself: accepting a job checks the preset is there, and the deliver worker
// sends to the destination the preset holds at that moment.
import { z } from "zod";

export const PresetSendTo = z.object({
  type: z.literal("preset"),
  preset_id: z.string().min(1).max(100),
});
export type PresetSendTo = z.infer<typeof PresetSendTo>;
