// Small line icons for the layer list, drawn as inline SVG (no icon font: the host may have no
// emoji or symbol font, and the page loads nothing from elsewhere).
const paths = {
  eye: "M1.5 8s2.5-4.5 6.5-4.5S14.5 8 14.5 8s-2.5 4.5-6.5 4.5S1.5 8 1.5 8Z M8 10a2 2 0 1 0 0-4 2 2 0 0 0 0 4Z",
  eyeOff:
    "M2 2l12 12 M6.3 4c.5-.3 1.1-.5 1.7-.5 4 0 6.5 4.5 6.5 4.5s-.6 1.1-1.7 2.2 M4.3 5.3C2.6 6.5 1.5 8 1.5 8s2.5 4.5 6.5 4.5c1 0 1.9-.3 2.7-.7",
  lock: "M4 7.5h8v6H4z M5.5 7.5V5.5a2.5 2.5 0 0 1 5 0v2",
  unlock: "M4 7.5h8v6H4z M5.5 7.5V5.5a2.5 2.5 0 0 1 4.9-.7",
  copy: "M5.5 5.5h8v8h-8z M2.5 10.5v-8h8",
  trash: "M3 4.5h10 M6.5 4.5v-2h3v2 M4.5 4.5l.7 9h5.6l.7-9",
} as const;

export function Icon({ name }: { name: keyof typeof paths }) {
  return (
    <svg
      width="14"
      height="14"
      viewBox="0 0 16 16"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.4"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={paths[name]} />
    </svg>
  );
}
