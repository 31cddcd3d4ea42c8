// The custom scalars: DateTime as the REST API writes dates, and JSON for what GraphQL carries
// without restating it (template documents, send_to destinations, a destination's identifiers).
import { builder } from "../builder.js";

builder.scalarType("DateTime", {
  description: "ISO 8601 date-time in UTC with milliseconds, as in the REST API",
  serialize: (value) => value,
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError("DateTime must be an ISO 8601 string");
    return date;
  },
});

// Template documents are deep, typed by the REST contract's JSON schema (src/templates/document.ts)
// and validated by the domain; GraphQL carries them as JSON rather than restating every layer type.
builder.scalarType("JSON", {
  description: "A JSON value (template documents, as in the REST API)",
  serialize: (value) => value,
  parseValue: (value) => value,
});
