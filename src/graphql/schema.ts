// The executable schema: the builder plus every entity module.
import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.js";
import "./scalars.js";
import "./errors.js";
import "./job.js";
import "./template.js";
import "./viewer.js";

export const schema = builder.toSchema();

/** The SDL checked in as schema.graphql (a test keeps it current). */
export const printedSchema = () => `${printSchema(lexicographicSortSchema(schema))}\n`;
