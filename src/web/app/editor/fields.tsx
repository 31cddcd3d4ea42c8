// Labelled form controls for the properties panel. Every control has a visible label tied to it
// (htmlFor/id). Number and text fields report each change at once with a coalesce key (one undo
// step per field while typing); names and URLs are committed on Enter or leaving the field, so a
// half-typed URL is never previewed.
import { useEffect, useId, useState, type ReactNode } from "react";

export type Commit<T> = (value: T, coalesce?: string) => void;

interface FieldProps {
  label: string;
  hint?: string;
  children: (id: string) => ReactNode;
  wide?: boolean;
}

function Field({ label, hint, children, wide }: FieldProps) {
  const id = useId();
  return (
    <div className={wide ? "field wide" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint && <small className="hint">{hint}</small>}
    </div>
  );
}

export function NumberField(props: {
  label: string;
  value: number | undefined;
  min?: number;
  max?: number;
  step?: number;
  /** Empty means "not set" (undefined) for optional fields. */
  optional?: boolean;
  placeholder?: string;
  coalesce: string;
  disabled?: boolean;
  hint?: string;
  onChange: Commit<number | undefined>;
}) {
  const [text, setText] = useState(props.value === undefined ? "" : String(props.value));
  // Follow outside changes (drags, undo) unless the field holds the same number differently spelled.
  useEffect(() => {
    setText((current) =>
      Number(current) === props.value && current !== ""
        ? current
        : props.value === undefined
          ? ""
          : String(props.value),
    );
  }, [props.value]);
  return (
    <Field label={props.label} hint={props.hint}>
      {(id) => (
        <input
          id={id}
          type="number"
          inputMode="decimal"
          value={text}
          min={props.min}
          max={props.max}
          step={props.step ?? 1}
          placeholder={props.placeholder}
          disabled={props.disabled}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value === "") {
              if (props.optional) props.onChange(undefined, props.coalesce);
              return;
            }
            const n = Number(e.target.value);
            if (Number.isFinite(n)) props.onChange(n, props.coalesce);
          }}
        />
      )}
    </Field>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  coalesce: string;
  multiline?: boolean;
  disabled?: boolean;
  hint?: string;
  maxLength?: number;
  onChange: Commit<string>;
}) {
  return (
    <Field label={props.label} hint={props.hint} wide>
      {(id) =>
        props.multiline ? (
          <textarea
            id={id}
            rows={3}
            value={props.value}
            maxLength={props.maxLength}
            disabled={props.disabled}
            onChange={(e) => props.onChange(e.target.value, props.coalesce)}
          />
        ) : (
          <input
            id={id}
            value={props.value}
            maxLength={props.maxLength}
            disabled={props.disabled}
            onChange={(e) => props.onChange(e.target.value, props.coalesce)}
          />
        )
      }
    </Field>
  );
}

/** A text field whose value counts when the user presses Enter or leaves it. */
export function CommitField(props: {
  label: string;
  value: string;
  type?: "text" | "url";
  placeholder?: string;
  hint?: string;
  maxLength?: number;
  onCommit: (value: string) => void;
}) {
  const [text, setText] = useState(props.value);
  useEffect(() => setText(props.value), [props.value]);
  return (
    <Field label={props.label} hint={props.hint} wide>
      {(id) => (
        <input
          id={id}
          type={props.type ?? "text"}
          value={text}
          placeholder={props.placeholder}
          maxLength={props.maxLength}
          spellCheck={false}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") props.onCommit(text.trim());
            if (e.key === "Escape") setText(props.value);
          }}
          onBlur={() => text.trim() !== props.value && props.onCommit(text.trim())}
        />
      )}
    </Field>
  );
}

export function SelectField<T extends string | number>(props: {
  label: string;
  value: T;
  options: readonly (T | { value: T; label: string })[];
  disabled?: boolean;
  onChange: Commit<T>;
}) {
  const options = props.options.map((o) => (typeof o === "object" ? o : { value: o, label: String(o) }));
  return (
    <Field label={props.label}>
      {(id) => (
        <select
          id={id}
          value={String(props.value)}
          disabled={props.disabled}
          onChange={(e) => {
            const picked = options.find((o) => String(o.value) === e.target.value);
            if (picked) props.onChange(picked.value);
          }}
        >
          {options.map((o) => (
            <option key={String(o.value)} value={String(o.value)}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function CheckboxField(props: {
  label: string;
  checked: boolean;
  hint?: string;
  disabled?: boolean;
  onChange: Commit<boolean>;
}) {
  const id = useId();
  return (
    <div className="field checkbox">
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        disabled={props.disabled}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      <label htmlFor={id}>{props.label}</label>
      {props.hint && <small className="hint">{props.hint}</small>}
    </div>
  );
}

const HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
const isColor = (value: string) => value === "transparent" || HEX.test(value);

/** The #rrggbb an <input type="color"> can show for a document colour (it knows no alpha). */
function pickerValue(color: string | undefined): string {
  if (!color || !HEX.test(color)) return "#000000";
  if (color.length <= 5) return `#${[...color.slice(1, 4)].map((c) => c + c).join("")}`.toLowerCase();
  return color.slice(0, 7).toLowerCase();
}

/**
 * A colour: a swatch picker plus the hex text (which also takes #rgba, #rrggbbaa and
 * "transparent"). Typed text counts once it is a valid colour; optional colours may be emptied.
 */
export function ColorField(props: {
  label: string;
  value: string | undefined;
  optional?: boolean;
  coalesce: string;
  onChange: Commit<string | undefined>;
}) {
  const [text, setText] = useState(props.value ?? "");
  useEffect(() => setText(props.value ?? ""), [props.value]);
  const id = useId();
  const valid = text === "" ? !!props.optional : isColor(text);
  return (
    <div className="field color">
      <label htmlFor={id}>{props.label}</label>
      <div className="color-row">
        <input
          type="color"
          aria-label={`${props.label}: picker`}
          value={pickerValue(props.value)}
          onChange={(e) => {
            // Keep the alpha the document had.
            const alpha = props.value && HEX.test(props.value) && props.value.length === 9 ? props.value.slice(7) : "";
            props.onChange(e.target.value + alpha, props.coalesce);
          }}
        />
        <input
          id={id}
          value={text}
          spellCheck={false}
          aria-invalid={!valid}
          placeholder={props.optional ? "none" : "#rrggbb"}
          onChange={(e) => {
            const next = e.target.value.trim();
            setText(next);
            if (next === "" && props.optional) props.onChange(undefined, props.coalesce);
            else if (isColor(next)) props.onChange(next, props.coalesce);
          }}
        />
      </div>
    </div>
  );
}
