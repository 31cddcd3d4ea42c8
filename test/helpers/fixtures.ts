// Test fixtures: the reference card and a local image server (the renderer fetches over real HTTP).
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import sharp from "sharp";

export const socialCard = JSON.parse(
  readFileSync(path.join(import.meta.dirname, "../fixtures/social-card.template.json"), "utf8"),
) as { name: string; width: number; height: number; layers: { name: string }[] };

export interface ImageServer {
  url: string;
  close(): Promise<void>;
}

/** Serves /photo.jpg (an 800x600 orange JPEG), /broken.jpg (not an image) and 404 elsewhere. */
export async function startImageServer(): Promise<ImageServer> {
  const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: "#ff7f00" } })
    .jpeg()
    .toBuffer();
  const server: Server = createServer((req, res) => {
    if (req.url === "/photo.jpg") {
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    } else if (req.url === "/broken.jpg") {
      res.writeHead(200, { "content-type": "image/jpeg" }).end("this is not a jpeg");
    } else {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
