// What every render mutation shares: the output format and the modification input, both derived
// from the domain's schemas (src/templates/document.ts, src/templates/modifications.ts) rather
// than restated. Importing this module maps those schemas for derived inputs (src/graphql/inputs.ts).
import { FontWeight, OutputOptions } from "../../templates/document.js";
import { builder } from "../builder.js";
import { mapZodType, zodInputFields } from "../inputs.js";
import { Modification } from "../../views/requests.js";

const OutputFormatSchema = OutputOptions.shape.format.unwrap();

// Wherever a derived input has a `format`, it is this enum, its values the zod enum's.
mapZodType(OutputFormatSchema, builder.enumType("OutputFormat", { values: OutputFormatSchema.options }));

// Font weights are whole numbers (100, 200, ... 900), checked by a refine zod cannot show.
mapZodType(FontWeight, "Int");

// Wherever a derived input has modifications, they are this input type, derived in turn.
mapZodType(
  Modification,
  builder.inputType("ModificationInput", {
    description: "Overrides for one layer, by name (see the REST API's modifications).",
    fields: (t) => zodInputFields(t, Modification),
  }),
);
