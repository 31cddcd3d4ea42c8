const TYPES: Record<string, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  jpg: "image/jpeg",
  webp: "image/webp",
  ttf: "font/ttf",
  otf: "font/otf",
};

export const contentTypeForKey = (key: string) =>
  TYPES[key.slice(key.lastIndexOf(".") + 1)] ?? "application/octet-stream";
