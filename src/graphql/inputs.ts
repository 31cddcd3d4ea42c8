// GraphQL inputs from the domain's zod schemas, the ones REST validates its bodies with. An input
// object's fields are derived from the schema's shape (names camelCased, type and requiredness
// from the zod type), and a resolver maps the input back to the schema's snake_case keys and
// parses it with that same schema: one declaration of each field and one set of rules, so the two
// skins accept exactly the same values and report problems with the same paths (under `input`).
import type { InputFieldRef, InputType, SchemaTypes } from "@pothos/core";
import type { z } from "zod";
import { IdempotencyKey } from "../billing/idempotency-key.js";
import { ValidationError } from "../errors.js";
import type { builder } from "./builder.js";

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T extends SchemaTypes> ? T : never;
type GraphQLInputType = InputType<Types>;
type FieldBuilder = PothosSchemaTypes.InputFieldBuilder<Types, "InputObject">;

/**
 * GraphQL types for zod schemas that are not plain scalars: enums, objects given their own input
 * type, and refinements zod cannot show (a whole-number refine is an Int). Looked up by identity.
 */
const namedTypes = new Map<z.ZodType, GraphQLInputType>();

/** Declares the GraphQL type a zod schema stands for wherever a derived input uses it. */
export function mapZodType<T extends GraphQLInputType>(schema: z.ZodType, type: T): T {
  namedTypes.set(schema, type);
  return type;
}

const camelCase = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The zod wrappers that make a field optional, and those that only refine or transform. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; optional: boolean } {
  let inner = schema;
  let optional = false;
  for (;;) {
    if (namedTypes.has(inner)) return { inner, optional };
    const def = inner.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (def.type === "optional" || def.type === "nullable" || def.type === "default") optional = true;
    else if (def.type !== "pipe" && def.type !== "readonly") return { inner, optional };
    inner = (def.innerType ?? def.in)!;
  }
}

function scalarOf(schema: z.ZodType, where: string): GraphQLInputType {
  const named = namedTypes.get(schema);
  if (named) return named;
  switch (schema.def.type) {
    case "string":
      return "String";
    case "number":
      return (schema as z.ZodNumber).isInt ? "Int" : "Float";
    case "boolean":
      return "Boolean";
    case "enum":
    case "literal":
      throw new Error(`${where}: map the zod enum to a GraphQL enum with mapZodType`);
    default:
      // Objects, unions, intersections: deep documents (templates, send_to) travel as JSON and
      // are validated by the domain's schema in the resolver.
      return "JSON";
  }
}

function fieldTypeOf(
  schema: z.ZodType,
  where: string,
): { type: GraphQLInputType | [GraphQLInputType]; required: boolean } {
  const { inner, optional } = unwrap(schema);
  if (!namedTypes.has(inner) && inner.def.type === "array") {
    return {
      type: [scalarOf(unwrap((inner as z.ZodArray<z.ZodType>).element).inner, `${where}[]`)],
      required: !optional,
    };
  }
  return { type: scalarOf(inner, where), required: !optional };
}

export interface DerivedFieldOptions<Key extends string> {
  /** Fields of the schema this input does not offer. */
  omit?: readonly Key[];
  descriptions?: Partial<Record<Key, string>>;
}

/** Input fields for every key of a zod object schema (less `omit`), camelCased. */
export function zodInputFields<Shape extends z.ZodRawShape>(
  t: FieldBuilder,
  schema: { shape: Shape },
  opts: DerivedFieldOptions<keyof Shape & string> = {},
): Record<string, InputFieldRef<Types, unknown>> {
  const fields: Record<string, InputFieldRef<Types, unknown>> = {};
  for (const [key, fieldSchema] of Object.entries(schema.shape)) {
    if (opts.omit?.includes(key)) continue;
    const { type, required } = fieldTypeOf(fieldSchema as z.ZodType, key);
    const description = opts.descriptions?.[key];
    fields[camelCase(key)] = t.field({ type, required, ...(description ? { description } : {}) });
  }
  return fields;
}

/** The object schema behind a derived nested input type (e.g. a modification), if `schema` is one. */
function nestedObject(schema: z.ZodType): z.ZodObject | undefined {
  return namedTypes.has(schema) && schema.def.type === "object" ? (schema as z.ZodObject) : undefined;
}

/**
 * A derived input's value with the schema's own keys again (snake_case), nested inputs too;
 * null and absent fields are left out, as in a REST body. JSON fields pass as they are.
 */
export function fromGraphQLInput(
  schema: { shape: z.ZodRawShape },
  input: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, fieldSchema] of Object.entries(schema.shape)) {
    const value = input[camelCase(key)];
    if (value == null) continue;
    const { inner } = unwrap(fieldSchema as z.ZodType);
    const element =
      inner.def.type === "array" ? nestedObject(unwrap((inner as z.ZodArray<z.ZodType>).element).inner) : undefined;
    const nested = nestedObject(inner);
    if (element && Array.isArray(value))
      out[key] = (value as unknown[]).map((v) =>
        v && typeof v === "object" ? fromGraphQLInput(element, v as Record<string, unknown>) : v,
      );
    else if (nested && typeof value === "object") out[key] = fromGraphQLInput(nested, value as Record<string, unknown>);
    else out[key] = value;
  }
  return out;
}

/** Parses with the domain's schema; problems become one ValidationError, paths under `where`. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, where = "input"): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error.issues, where);
  return parsed.data;
}

/** The idempotencyKey argument of the mutations that create (and charge for) jobs: the REST header's rule. */
export const idempotencyKeyArg = { required: false, validate: IdempotencyKey.optional().nullable() } as const;
