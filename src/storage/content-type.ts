const TYPES: Record<string, string> = { png: "image/png", jpeg: "image/jpeg", jpg: "image/jpeg", webp: "image/webp" };

export const contentTypeForKey = (key: string) =>
  TYPES[key.slice(key.lastIndexOf(".") + 1)] ?? "application/octet-stream";
