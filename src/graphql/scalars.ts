import { builder } from "./builder.js";

// Template documents are deep, typed by the REST contract's JSON schema (src/templates/document.ts)
// and validated by the domain; GraphQL carries them as JSON rather than restating every layer type.
builder.scalarType("JSON", {
  description: "A JSON value (template documents, as in the REST API)",
  serialize: (value) => value,
  parseValue: (value) => value,
});
