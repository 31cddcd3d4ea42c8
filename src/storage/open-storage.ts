// Picks the storage backend from the configuration (STORAGE_BACKEND). The S3 backend and the AWS
// SDK under it are imported only when chosen: a disk deployment never loads them.
import path from "node:path";
import type { Config } from "../config.js";
import { openLocalDiskStorage } from "./disk-storage.js";
import type { Storage } from "./storage.js";

export async function openStorage(config: Config, warn: (msg: string) => void): Promise<Storage> {
  if (config.STORAGE_BACKEND === "disk") return openLocalDiskStorage(config.STORAGE_DIR, warn);
  const { openS3Storage } = await import("./s3-storage.js");
  return openS3Storage(
    {
      // parseConfig has checked that S3_BUCKET is set when STORAGE_BACKEND=s3.
      bucket: config.S3_BUCKET!,
      region: config.S3_REGION,
      endpoint: config.S3_ENDPOINT,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      credentials:
        config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
          ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
          : undefined,
      // "deploy-a" and "deploy-a/" both mean the folder deploy-a/.
      prefix: config.S3_PREFIX ? config.S3_PREFIX.replace(/\/?$/, "/") : "",
      // Beside the other data (./data/renders, ./data/pglite), not a fixed name in the shared
      // temporary directory, where another user could create it first and plant "fonts".
      cacheDir: path.resolve(config.S3_CACHE_DIR ?? "./data/s3-cache"),
    },
    warn,
  );
}
