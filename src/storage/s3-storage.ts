// The S3-compatible storage backend, through the official AWS SDK: outputs and uploaded fonts in
// one bucket that every API and worker process shares, on any machine (AWS S3, MinIO, Ceph RGW,
// Cloudflare R2). Loaded only when STORAGE_BACKEND=s3 (src/storage/open-storage.ts), so a disk
// deployment never loads the SDK.
// S3 operations used: PutObject, multipart upload (CreateMultipartUpload/UploadPart/
// CompleteMultipartUpload/AbortMultipartUpload, through lib-storage's Upload, for streams),
// GetObject, HeadBucket (the start-up check), DeleteObject, and presigned GetObject URLs.
import { redactUrl } from "../config.js";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ServiceUnavailableError } from "../redis.js";
import { ensurePrivateDir, notPrivateWarning, PRIVATE_FILE_MODE } from "./private-files.js";
import { assertStorageKey, isValidStorageKey, type PutOptions, type Storage, type StoredObject } from "./storage.js";

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** Unset: AWS S3 itself. Set for MinIO, Ceph RGW, R2, or a test server. */
  endpoint?: string | undefined;
  /** Bucket in the path (`endpoint/bucket/key`) rather than the host name; most self-hosted stores need it. */
  forcePathStyle: boolean;
  /** Unset: the SDK's default chain (AWS_* variables, ~/.aws files, an instance or task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Prepended to every key (`templified/`), so one bucket can hold several deployments. */
  prefix: string;
  /** Where localPath() keeps downloaded copies (fonts the renderer reads as files). */
  cacheDir: string;
}

const isNotFound = (err: unknown) =>
  err instanceof S3ServiceException &&
  // A missing bucket is a misconfiguration to report, not an object that is not there.
  err.name !== "NoSuchBucket" &&
  (err.name === "NoSuchKey" || err.name === "NotFound" || err.$metadata.httpStatusCode === 404);

/** Opens the bucket, failing with one line naming it when it is missing or unreachable. */
export async function openS3Storage(
  options: S3StorageOptions,
  warn: (msg: string) => void = () => {},
): Promise<S3Storage> {
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // The SDK's default (since 3.729) adds CRC32 checksums to every upload and sends streams as
    // aws-chunked with a trailer, which several S3-compatible stores reject or store verbatim
    // (s3rver keeps the framing: a corrupt object, no error). Only where S3 demands one.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const where = `${options.bucket} at ${options.endpoint ? redactUrl(options.endpoint) : `AWS S3 (${options.region})`}`;
  try {
    await client.send(new HeadBucketCommand({ Bucket: options.bucket }));
  } catch (err) {
    client.destroy();
    const status = (err as S3ServiceException).$metadata?.httpStatusCode;
    const reason =
      status === 404
        ? "does not exist: create it first (S3_BUCKET)"
        : status === 403
          ? "refused access (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY, or the bucket policy)"
          : `is not reachable (${(err as Error).name}: ${(err as Error).message})`;
    throw new ServiceUnavailableError(`S3 bucket ${where} ${reason}`);
  }
  return new S3Storage(client, options, warn);
}

export class S3Storage implements Storage {
  // Downloads in flight, so concurrent renders needing the same font fetch it once.
  private readonly downloads = new Map<string, Promise<string>>();

  // The cache directory, made on the first download: an API process, which reads no object as a
  // file, never makes it.
  private cacheReady: Promise<void> | null = null;

  constructor(
    readonly client: S3Client,
    private readonly options: S3StorageOptions,
    private readonly warn: (msg: string) => void = () => {},
  ) {}

  private objectKey(key: string): string {
    return this.options.prefix + key;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<void> {
    assertStorageKey(key);
    const params = {
      Bucket: this.options.bucket,
      Key: this.objectKey(key),
      ContentType: options.contentType,
      ...(options.cacheControl ? { CacheControl: options.cacheControl } : {}),
    };
    // A buffer's length is known: one PutObject, no copy. A stream's is not, and S3 refuses a
    // PutObject without Content-Length: Upload sends it in parts (one PUT when it fits in one).
    if (Buffer.isBuffer(body)) await this.client.send(new PutObjectCommand({ ...params, Body: body }));
    else await new Upload({ client: this.client, params: { ...params, Body: body } }).done();
  }

  async get(key: string): Promise<StoredObject | null> {
    if (!isValidStorageKey(key)) return null;
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
      );
      return {
        stream: out.Body as Readable, // a Node IncomingMessage in Node
        size: out.ContentLength ?? 0,
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        ...(out.ETag ? { etag: out.ETag } : {}),
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async read(key: string): Promise<Buffer> {
    assertStorageKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
      );
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw Object.assign(new Error(`no object ${key} in the bucket`), { code: "ENOENT" });
      throw err;
    }
  }

  /**
   * Downloads the object once into the cache directory. Keys are never rewritten with other
   * content (a font uploaded again gets a new id and key), so a cached copy never goes stale.
   */
  async localPath(key: string): Promise<string> {
    assertStorageKey(key);
    const file = path.join(this.options.cacheDir, key.replaceAll("/", "_"));
    const cached = await stat(file).then(
      () => true,
      () => false,
    );
    if (cached) return file;
    let download = this.downloads.get(key);
    if (!download) {
      download = this.download(key, file).finally(() => this.downloads.delete(key));
      this.downloads.set(key, download);
    }
    return download;
  }

  private async download(key: string, file: string): Promise<string> {
    const dir = this.options.cacheDir;
    this.cacheReady ??= ensurePrivateDir(dir).then(
      (narrowed) => void (narrowed || this.warn(notPrivateWarning(dir))),
      (err: unknown) => {
        this.cacheReady = null; // try again on the next download
        throw err;
      },
    );
    await this.cacheReady;
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
    // Written beside, then renamed: another process sharing the cache never reads half a file.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      await pipeline(out.Body as Readable, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return file;
  }

  async delete(key: string): Promise<void> {
    if (!isValidStorageKey(key)) return;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
    // Only this machine's copy: others keep theirs, harmlessly (nothing asks for the key again).
    await rm(path.join(this.options.cacheDir, key.replaceAll("/", "_")), { force: true });
  }

  async presignGet(key: string, ttlSeconds: number): Promise<string> {
    assertStorageKey(key);
    // The presigner is needed only by signed links: loaded on first use.
    const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
    // Outputs are stored with a year-long public Cache-Control (right for the API's public links);
    // a presigned link's answer must not be cached past the link's own expiry, so it overrides it.
    const command = new GetObjectCommand({
      Bucket: this.options.bucket,
      Key: this.objectKey(key),
      ResponseCacheControl: `private, max-age=${ttlSeconds}`,
    });
    return getSignedUrl(this.client, command, { expiresIn: ttlSeconds });
  }

  close(): void {
    this.client.destroy();
  }
}
