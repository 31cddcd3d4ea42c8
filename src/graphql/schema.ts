// The executable schema: the one builder plus every type module (src/graphql/types), as in
// Pothos's complex-app example. A module registers its types by being imported.
import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.js";
import "./types/scalars.js";
import "./types/errors.js";
import "./types/job.js";
import "./types/render-inputs.js";
import "./types/render-mutations.js";
import "./types/export.js";
import "./types/preview.js";
import "./types/subscriptions.js";
import "./types/template.js";
import "./types/viewer.js";

export const schema = builder.toSchema();

/** The SDL checked in as schema.graphql (a test keeps it current). */
export const printedSchema = () => `${printSchema(lexicographicSortSchema(schema))}\n`;
